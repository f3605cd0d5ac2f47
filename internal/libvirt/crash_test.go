package libvirt_test

import (
	"context"
	"errors"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var errCrashed = errors.New("injected crash")

// crashingBackend returns a Backend that "dies" right after step of op: the operation stops
// there without any cleanup, and the connection is dropped.
func crashingBackend(t *testing.T, uri, op, step string) *rlibvirt.Backend {
	t.Helper()
	b := newBackend(t, uri)
	rlibvirt.SetAfterStep(b, func(o, s string) error {
		if o == op && s == step {
			return errCrashed
		}
		return nil
	})
	return b
}

// wantAfterRescueCrash is what Get reports after a rescue died right after a step.
var wantAfterRescueCrash = map[string]rescue.State{
	"secret":       rescue.StateActive, // nothing journalled yet: the domain is untouched
	"journal":      rescue.StateError,  // rescue-incomplete
	"overlay":      rescue.StateError,
	"config-drive": rescue.StateError,
	"define":       rescue.StateError, // the guest still runs its original definition
	"shutdown":     rescue.StateError, // shut off, the rescue definition not started
	"start":        rescue.StateRescued,
	"rescued":      rescue.StateRescued,
}

// A rescue that dies after any step is undone by another Backend (another connection, as
// another process would be), restoring the original definition byte for byte.
func TestTestDriverCrashDuringRescue(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-crash.iso", "raw", "")
	ctx := context.Background()
	if len(rlibvirt.RescueSteps) != len(wantAfterRescueCrash) {
		t.Fatalf("steps %v: update wantAfterRescueCrash", rlibvirt.RescueSteps)
	}
	for _, step := range rlibvirt.RescueSteps {
		t.Run(step, func(t *testing.T) {
			name := "td-crash-r-" + step
			d := td.domain(t, name, true, false, "")
			orig := td.xml(t, d, secure)
			a := crashingBackend(t, td.lv.TestURI, "rescue", step)
			req := rescue.Request{InstanceID: name, ImageID: img, Device: "disk", Bus: "virtio"}
			if _, err := a.Rescue(ctx, req); !errors.Is(err, errCrashed) {
				t.Fatalf("Rescue: %v, want the injected crash", err)
			}
			rlibvirt.Abandon(a)

			b := newBackend(t, td.lv.TestURI)
			inst, err := b.Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if want := wantAfterRescueCrash[step]; inst.State != want {
				t.Fatalf("Get after a crash after %s: %+v, want state %s", step, inst, want)
			}
			if inst.State == rescue.StateError && (inst.Status != rlibvirt.StatusIncomplete || inst.Fault == "") {
				t.Errorf("incomplete rescue reported as %+v", inst)
			}
			out, _, err := rescue.NewEngine(b).Unrescue(ctx, name)
			if err != nil {
				t.Fatalf("Unrescue: %v", err)
			}
			if wantOut := rescue.Unrescued; step == "secret" {
				if out != rescue.AlreadyUnrescued {
					t.Errorf("outcome %v, want AlreadyUnrescued", out)
				}
			} else if out != wantOut {
				t.Errorf("outcome %v, want Unrescued", out)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
			if hasRescueVolume(td.volumes(t), name) {
				t.Errorf("rescue volumes left: %v", td.volumes(t))
			}
			if st := td.state(t, d); st != golibvirt.DomainRunning {
				t.Errorf("state %d after unrescue, want running", st)
			}
		})
	}
}

// A rescue that died halfway is rolled back by the next rescue, which then succeeds.
func TestTestDriverRescueAfterCrash(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-again.iso", "raw", "")
	ctx := context.Background()
	for _, step := range []string{"overlay", "define", "shutdown"} {
		t.Run(step, func(t *testing.T) {
			name := "td-again-" + step
			d := td.domain(t, name, true, false, "")
			orig := td.xml(t, d, secure)
			a := crashingBackend(t, td.lv.TestURI, "rescue", step)
			req := rescue.Request{InstanceID: name, ImageID: img}
			if _, err := a.Rescue(ctx, req); !errors.Is(err, errCrashed) {
				t.Fatalf("Rescue: %v", err)
			}
			rlibvirt.Abandon(a)
			b := newBackend(t, td.lv.TestURI)
			eng := rescue.NewEngine(b)
			if _, inst, err := eng.Rescue(ctx, req); err != nil || inst.State != rescue.StateRescued {
				t.Fatalf("second Rescue: %+v, %v", inst, err)
			}
			if out, _, err := eng.Unrescue(ctx, name); err != nil || out != rescue.Unrescued {
				t.Fatalf("Unrescue: %v, %v", out, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
		})
	}
}

// wantAfterUnrescueCrash is what Get reports after an unrescue died right after a step.
var wantAfterUnrescueCrash = map[string]rescue.State{
	"shutdown": rescue.StateRescued, // shut off on the rescue definition
	"define":   rescue.StateError,   // the original is back with the journal: unrescue-incomplete
	"start":    rescue.StateError,   // the original runs, the clean-up is not done
	"volumes":  rescue.StateError,
	"journal":  rescue.StateActive, // the original, exactly; only the key may be left
	"secret":   rescue.StateActive,
}

// An unrescue that dies after any step is finished by another Backend; the definition is the
// original, byte for byte, and the domain runs again.
func TestTestDriverCrashDuringUnrescue(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-uncrash.iso", "raw", "")
	ctx := context.Background()
	if len(rlibvirt.UnrescueSteps) != len(wantAfterUnrescueCrash) {
		t.Fatalf("steps %v: update wantAfterUnrescueCrash", rlibvirt.UnrescueSteps)
	}
	for _, step := range rlibvirt.UnrescueSteps {
		t.Run(step, func(t *testing.T) {
			name := "td-crash-u-" + step
			d := td.domain(t, name, true, false, "")
			orig := td.xml(t, d, secure)
			if _, _, err := rescue.NewEngine(newBackend(t, td.lv.TestURI)).Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img, Device: "cdrom", Bus: "scsi"}); err != nil {
				t.Fatal(err)
			}
			a := crashingBackend(t, td.lv.TestURI, "unrescue", step)
			if err := a.Unrescue(ctx, name); !errors.Is(err, errCrashed) {
				t.Fatalf("Unrescue: %v", err)
			}
			rlibvirt.Abandon(a)
			b := newBackend(t, td.lv.TestURI)
			inst, err := b.Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if want := wantAfterUnrescueCrash[step]; inst.State != want {
				t.Fatalf("Get after a crash after %s: %+v, want state %s", step, inst, want)
			}
			if _, _, err := rescue.NewEngine(b).Unrescue(ctx, name); err != nil {
				t.Fatalf("Unrescue: %v", err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
			if hasRescueVolume(td.volumes(t), name) {
				t.Errorf("rescue volumes left: %v", td.volumes(t))
			}
			if st := td.state(t, d); st != golibvirt.DomainRunning {
				t.Errorf("state %d after unrescue, want running", st)
			}
		})
	}
}
