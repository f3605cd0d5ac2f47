package nova_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// ownedBackend is a backend whose operation records go to a directory of the test.
func ownedBackend(t *testing.T, n *acctest.Nova) (*nova.Backend, *oprecord.Store) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(oprecord.EnvDir, dir)
	t.Setenv("TF_WORKSPACE", "")
	t.Setenv("TF_DATA_DIR", t.TempDir())
	return backendFor(t, n, ""), oprecord.Open(dir)
}

// deadRecord leaves the record a run of this working directory would have left if it died
// right after sending the rescue POST, before Nova's answer (no request id).
func deadRecord(t *testing.T, s *oprecord.Store, b *nova.Backend, id, user, project string, started time.Time) {
	t.Helper()
	l, err := s.Acquire(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(oprecord.Record{Op: "dead", Kind: "rescue", InstanceID: id, Endpoint: b.ComputeEndpoint(),
		Workspace: "default", UserID: user, ProjectID: project, Started: started, Timeout: 10 * time.Minute,
		Phase: oprecord.PhaseStarting, PID: 999999, Host: "gone"}); err != nil {
		t.Fatal(err)
	}
	// The process "dies": the kernel drops its lock, the record stays.
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}

func wantAlready(t *testing.T, err error) {
	t.Helper()
	var ar *rescue.AlreadyRescuedError
	if !errors.As(err, &ar) {
		t.Fatalf("got %v (%T), want the already-in-rescue (import) error", err, err)
	}
}

// TestIntegrationOwnershipReplacesLostRescue: a rescue that a run of this provider started and
// lost (the run ended before Terraform kept it) is replaced by a new rescue with a password
// that is returned; proven by Nova's request id when the run got Nova's answer, by the same
// user and project within the run's timeout when it did not.
func TestIntegrationOwnershipReplacesLostRescue(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b, store := ownedBackend(t, n)
	e := rescue.NewEngine(b)

	t.Run("request id", func(t *testing.T) {
		id := n.CreateServer(t, acctest.ServerOpts{})
		// A run that rescued and ended without Terraform keeping the result (terraform was
		// killed while its provider finished): its record stays, ended, with the request id.
		c1, cancel1 := context.WithTimeout(context.Background(), 2*time.Minute)
		res1, _, err := e.Rescue(c1, rescue.Request{InstanceID: id})
		cancel1()
		if err != nil || res1.AdminPass == "" {
			t.Fatalf("first rescue: %q %v", res1.AdminPass, err)
		}
		waitReleased(t, store, id)
		asAnotherProcess(t, store, id)
		res, inst, err := e.Rescue(ctx(t), rescue.Request{InstanceID: id})
		if err != nil {
			t.Fatalf("rescue of the lost rescue: %v", err)
		}
		if inst.State != rescue.StateRescued || res.AdminPass == "" || res.AdminPass == res1.AdminPass {
			t.Fatalf("replacement: %+v, password new %v", inst, res.AdminPass != res1.AdminPass)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "its request id is the one the run recorded") {
			t.Fatalf("warnings %q", res.Warnings)
		}
		if got := n.InstanceActions(t, id); strings.Join(got[:3], ",") != "rescue,unrescue,rescue" {
			t.Fatalf("actions %v, want rescue, unrescue, rescue (newest first)", got)
		}
	})

	t.Run("same credentials within the timeout", func(t *testing.T) {
		id := n.CreateServer(t, acctest.ServerOpts{})
		deadRecord(t, store, b, id, "admin", "admin", time.Now().UTC())
		n.RescueOOB(t, id, "") // the POST of the dead run (token admin:admin, as the backend's)
		res, _, err := e.Rescue(ctx(t), rescue.Request{InstanceID: id, AdminPass: "GivenPass123"})
		if err != nil || res.AdminPass != "GivenPass123" {
			t.Fatalf("rescue of the lost rescue: %q %v", res.AdminPass, err)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "same user and project within its timeout") {
			t.Fatalf("warnings %q", res.Warnings)
		}
		if c := n.CountAction(t, id, "rescue"); c != 2 {
			t.Fatalf("%d rescue actions, want 2", c)
		}
	})
}

// asAnotherProcess makes the record look written by another (dead) process: the proof never
// takes a rescue of this live process for a dead run's.
func asAnotherProcess(t *testing.T, s *oprecord.Store, id string) {
	t.Helper()
	l, err := s.Acquire(id)
	if err != nil || l.Prev == nil || l.Prev.RequestID == "" {
		t.Fatalf("record of the first rescue: %+v %v", l, err)
	}
	r := *l.Prev
	r.PID = 999999
	if err := l.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}

func waitReleased(t *testing.T, s *oprecord.Store, id string) {
	t.Helper()
	for range 100 {
		if _, live := s.Peek(id); !live {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the ended operation's record is still held")
}

// TestIntegrationOwnershipRefuses: without proof the rescue is someone else's (the import
// message, nothing changed), and a live record of another run stops rescue and unrescue
// before any change.
func TestIntegrationOwnershipRefuses(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b, store := ownedBackend(t, n)
	e := rescue.NewEngine(b)
	id := n.CreateServer(t, acctest.ServerOpts{})
	other := acctest.NewNoAuthNova(n.NovaProcess, "other:admin")

	// By hand, no record: the import message.
	n.RescueOOB(t, id, "")
	_, _, err := e.Rescue(ctx(t), rescue.Request{InstanceID: id})
	wantAlready(t, err)
	// A dead record of this directory, but the rescue is by another user: not ours.
	n.UnrescueOOB(t, id)
	deadRecord(t, store, b, id, "admin", "admin", time.Now().UTC())
	other.RescueOOB(t, id, "")
	_, _, err = e.Rescue(ctx(t), rescue.Request{InstanceID: id})
	wantAlready(t, err)
	// A dead record from long before the rescue: outside its timeout.
	n.UnrescueOOB(t, id)
	deadRecord(t, store, b, id, "admin", "admin", time.Now().UTC().Add(-time.Hour))
	n.RescueOOB(t, id, "")
	_, _, err = e.Rescue(ctx(t), rescue.Request{InstanceID: id})
	wantAlready(t, err)
	if c := n.CountAction(t, id, "rescue"); c != 3 {
		t.Fatalf("%d rescue actions, want the 3 made by hand", c)
	}

	// A live record of another run (held here as another process would hold it).
	l, err := store.Acquire(id)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release() }()
	if err := l.Write(oprecord.Record{Op: "live", Kind: "rescue", InstanceID: id, Started: time.Now(), Phase: oprecord.PhaseAccepted}); err != nil {
		t.Fatal(err)
	}
	var ip *rescue.InProgressError
	_, _, err = e.Rescue(ctx(t), rescue.Request{InstanceID: id})
	if !errors.As(err, &ip) || rescue.Accepted(err) || !strings.Contains(err.Error(), "in progress by another run since") {
		t.Fatalf("rescue under a live record: %v", err)
	}
	_, _, err = e.Unrescue(ctx(t), id)
	if !errors.As(err, &ip) {
		t.Fatalf("unrescue under a live record: %v", err)
	}
	n.UnrescueOOB(t, id)
	_, _, err = e.Rescue(ctx(t), rescue.Request{InstanceID: id})
	if !errors.As(err, &ip) {
		t.Fatalf("rescue of an active server under a live record: %v", err)
	}
	if c := n.CountAction(t, id, "rescue"); c != 3 {
		t.Fatalf("%d rescue actions, want still 3", c)
	}
	if c := n.CountAction(t, id, "unrescue"); c != 3 {
		t.Fatalf("%d unrescue actions, want the 3 made by hand", c)
	}
}
