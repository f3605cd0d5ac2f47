package nova

import (
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"

	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
)

// TestJudgeActions: the Nova side of the proof (pure logic).
func TestJudgeActions(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	me := identity{UserID: "u", ProjectID: "p"}
	act := func(name, rid, user string, at time.Time) instanceactions.InstanceAction {
		return instanceactions.InstanceAction{Action: name, RequestID: rid, UserID: user, ProjectID: "p", StartTime: at}
	}
	create := act("create", "req-c", "u", t0.Add(-time.Hour))
	withRID := &oprecord.Record{Started: t0, Timeout: 10 * time.Minute, RequestID: "req-1"}
	noRID := &oprecord.Record{Started: t0, Timeout: 10 * time.Minute}
	for _, c := range []struct {
		name   string
		rec    *oprecord.Record
		acts   []instanceactions.InstanceAction
		proven bool
		why    string
	}{
		{"request id matches", withRID, []instanceactions.InstanceAction{act("rescue", "req-1", "u", t0.Add(time.Second)), create}, true, "request id is the one"},
		{"other request id", withRID, []instanceactions.InstanceAction{act("rescue", "req-2", "u", t0.Add(time.Second)), create}, false, "not the rescue this working directory sent"},
		{"no request id, same user in time", noRID, []instanceactions.InstanceAction{act("rescue", "req-9", "u", t0.Add(time.Second)), create}, true, "died before Nova's answer"},
		{"clock skew tolerated", noRID, []instanceactions.InstanceAction{act("rescue", "req-9", "u", t0.Add(-time.Minute)), create}, true, ""},
		{"other user", noRID, []instanceactions.InstanceAction{act("rescue", "req-9", "v", t0.Add(time.Second)), create}, false, "other credentials"},
		{"after the timeout", noRID, []instanceactions.InstanceAction{act("rescue", "req-9", "u", t0.Add(20*time.Minute)), create}, false, "outside the time"},
		{"before the record", noRID, []instanceactions.InstanceAction{act("rescue", "req-9", "u", t0.Add(-time.Hour)), create}, false, "outside the time"},
		{"a later action", withRID, []instanceactions.InstanceAction{act("reboot", "req-3", "u", t0.Add(time.Minute)), act("rescue", "req-1", "u", t0.Add(time.Second))}, false, "newest action on the server is a reboot"},
		{"newest by start time, not list order", withRID, []instanceactions.InstanceAction{create, act("rescue", "req-1", "u", t0.Add(time.Second))}, true, ""},
		{"no actions", withRID, nil, false, "no action"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := judgeActions(c.rec, me, c.acts)
			if p.Proven != c.proven || !strings.Contains(p.Why, c.why) {
				t.Fatalf("proven %v (%s), want %v with %q", p.Proven, p.Why, c.proven, c.why)
			}
		})
	}
}

// TestIdentityNoAuth: without Keystone the noauth2 token names the user and project.
func TestIdentityNoAuth(t *testing.T) {
	for tok, want := range map[string]identity{
		"admin:admin": {"admin", "admin"}, "u1:p1": {"u1", "p1"}, "u1:": {"u1", "u1"}, "gAAAAAB-keystone-token": {},
	} {
		b := &Backend{}
		b.own.noauthToken = tok
		if got := b.identity(); got != want {
			t.Errorf("token %q: identity %+v, want %+v", tok, got, want)
		}
	}
}
