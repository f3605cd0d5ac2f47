package rescue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// recoveringBackend is a fakeBackend that gives a fixed verdict on leftovers.
type recoveringBackend struct {
	*fakeBackend
	verdict  rescue.Resumption
	err      error
	recovers int
}

func (r *recoveringBackend) Recover(context.Context, rescue.Request, *rescue.Instance) (rescue.Resumption, error) {
	r.recovers++
	return r.verdict, r.err
}

func TestRescueLeftover(t *testing.T) {
	inProgress := &rescue.InProgressError{Op: "rescue", InstanceID: "i1", Operation: "op-1", PID: 42, Host: "h",
		Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LeaseUntil: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)}
	for _, c := range []struct {
		name                 string
		verdict              rescue.Resumption
		verr                 error
		wantErr              func(error) bool
		rescued, unrescued   int
		wantPass, wantWarned string
	}{
		{name: "foreign", verdict: rescue.Resumption{Action: rescue.Foreign},
			wantErr: func(err error) bool { var a *rescue.AlreadyRescuedError; return errors.As(err, &a) }},
		{name: "in progress", verr: inProgress,
			wantErr: func(err error) bool { return errors.Is(err, inProgress) && !rescue.Accepted(err) }},
		{name: "adopt", verdict: rescue.Resumption{Action: rescue.Adopt, Result: rescue.Result{AdminPass: "kept"}, Warning: "adopted"},
			wantPass: "kept", wantWarned: "adopted"},
		{name: "replace", verdict: rescue.Resumption{Action: rescue.Replace, Warning: "replaced"},
			rescued: 1, unrescued: 1, wantPass: "new", wantWarned: "replaced"},
		{name: "resume", verdict: rescue.Resumption{Action: rescue.Resume, Warning: "resumed"},
			rescued: 1, wantPass: "new", wantWarned: "resumed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeBackend{
				states:   []rescue.Instance{st(rescue.StateRescued)},
				onUnres:  []rescue.Instance{st(rescue.StateActive)},
				onRescue: []rescue.Instance{st(rescue.StateRescued)},
			}
			r := &recoveringBackend{fakeBackend: f, verdict: c.verdict, err: c.verr}
			res, _, err := fastEngine(r).Rescue(context.Background(), rescue.Request{InstanceID: "i1", AdminPass: "new"})
			if c.wantErr != nil {
				if err == nil || !c.wantErr(err) {
					t.Fatalf("Rescue: %v", err)
				}
			} else if err != nil {
				t.Fatalf("Rescue: %v", err)
			}
			if r.recovers != 1 || f.rescued != c.rescued || f.unrescued != c.unrescued {
				t.Errorf("recovers %d, rescues %d, unrescues %d; want 1, %d, %d", r.recovers, f.rescued, f.unrescued, c.rescued, c.unrescued)
			}
			if res.AdminPass != c.wantPass {
				t.Errorf("password %q, want %q", res.AdminPass, c.wantPass)
			}
			if c.wantWarned != "" && (len(res.Warnings) != 1 || res.Warnings[0] != c.wantWarned) {
				t.Errorf("warnings %q, want %q", res.Warnings, c.wantWarned)
			}
		})
	}
}

// An operation of another live run reported by Get is neither rescued nor unrescued.
func TestInProgressIsLeftAlone(t *testing.T) {
	ip := &rescue.InProgressError{Op: "rescue", InstanceID: "i1", Operation: "op-1", PID: 42, Host: "h"}
	busy := rescue.Instance{State: rescue.StateRescuing, InProgress: ip}
	f := &fakeBackend{states: []rescue.Instance{busy}}
	r := &recoveringBackend{fakeBackend: f}
	eng := fastEngine(r)
	if _, _, err := eng.Rescue(context.Background(), rescue.Request{InstanceID: "i1"}); !errors.Is(err, ip) {
		t.Errorf("Rescue: %v, want the in-progress error", err)
	}
	if _, _, err := eng.Unrescue(context.Background(), "i1"); !errors.Is(err, ip) {
		t.Errorf("Unrescue: %v, want the in-progress error", err)
	}
	if f.rescued != 0 || f.unrescued != 0 || r.recovers != 0 {
		t.Errorf("rescues %d, unrescues %d, recovers %d: want none", f.rescued, f.unrescued, r.recovers)
	}
	msg := ip.Error()
	for _, w := range []string{"a rescue of i1 is in progress by another run", "operation op-1", "pid 42 on h", "nothing was changed"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}
