package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// One Backend (one connection) serves many resources at once: different domains are rescued
// and unrescued concurrently; two rescues of one domain are serialized and the second finds the
// first's rescue, handed to Terraform, already there (AlreadyRescuedError); Get during a
// rescue says rescuing.
func TestTestDriverConcurrency(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-conc.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	eng := rescue.NewEngine(b)

	const n = 6
	origs := make([]string, n)
	for i := range n {
		origs[i] = td.xml(t, td.domain(t, fmt.Sprintf("td-conc-%d", i), true, false, ""), secure)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("td-conc-%d", i)
			if _, _, err := eng.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img, Device: "cdrom", Bus: "scsi"}); err != nil {
				errs <- fmt.Errorf("rescue %s: %w", name, err)
				return
			}
			if _, _, err := eng.Unrescue(ctx, name); err != nil {
				errs <- fmt.Errorf("unrescue %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		d, err := td.l.DomainLookupByName(fmt.Sprintf("td-conc-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if got := td.xml(t, d, secure); got != origs[i] {
			t.Errorf("td-conc-%d: definition differs after concurrent rescue/unrescue", i)
		}
	}

	// Same domain twice, and Get while the rescue runs.
	td.domain(t, "td-conc-same", true, false, "")
	var during *rescue.Instance
	rlibvirt.SetAfterStep(b, func(op, step string) error {
		if op == "rescue" && step == "define" && during == nil {
			inst, err := b.Get(ctx, "td-conc-same")
			if err != nil {
				return err
			}
			during = inst
		}
		return nil
	})
	req := rescue.Request{InstanceID: "td-conc-same", ImageID: img}
	results := make(chan error, 2)
	for range 2 {
		go func() { _, err := b.Rescue(ctx, req); results <- err }()
	}
	var ok, conflicts int
	for range 2 {
		var already *rescue.AlreadyRescuedError
		switch err := <-results; {
		case err == nil:
			ok++
		case errors.As(err, &already):
			conflicts++
		default:
			t.Errorf("Rescue: %v", err)
		}
	}
	if ok != 1 || conflicts != 1 {
		t.Errorf("%d rescues succeeded and %d conflicted, want 1 and 1", ok, conflicts)
	}
	if during == nil || during.State != rescue.StateRescuing {
		t.Errorf("Get during the rescue: %+v, want rescuing", during)
	}
	if _, _, err := eng.Unrescue(ctx, "td-conc-same"); err != nil {
		t.Fatal(err)
	}
}

// Two runs (two Backends) on one domain: while A rescues it (at each step A's lease is alive),
// B's rescue and B's unrescue stop before any change with an InProgressError that is not
// ErrAccepted (so B would keep nothing in state), and B made no volume. A's rescue
// completes, and its unrescue restores the original.
func TestTestDriverOverlappingBackends(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-overlap.iso", "raw", "")
	ctx := context.Background()
	const name = "td-overlap"
	d := td.domain(t, name, true, false, "")
	orig := td.xml(t, d, secure)
	a := newBackend(t, td.lv.TestURI)
	b := newBackend(t, td.lv.TestURI)
	req := rescue.Request{InstanceID: name, ImageID: img}
	tried := map[string]bool{}
	rlibvirt.SetAfterStep(a, func(op, step string) error {
		if op != "rescue" || step == "secret" || step == "rescued" {
			return nil
		}
		tried[step] = true
		vols := td.volumes(t)
		for what, err := range map[string]error{
			"rescue":           func() error { _, _, err := rescue.NewEngine(b).Rescue(ctx, req); return err }(),
			"backend rescue":   func() error { _, err := b.Rescue(ctx, req); return err }(),
			"unrescue":         func() error { _, _, err := rescue.NewEngine(b).Unrescue(ctx, name); return err }(),
			"backend unrescue": b.Unrescue(ctx, name),
		} {
			var ip *rescue.InProgressError
			if !errors.As(err, &ip) || rescue.Accepted(err) || ip.PID == 0 || ip.Operation == "" {
				t.Errorf("after A's %s: B's %s: %v, want an in-progress error", step, what, err)
			}
		}
		if got := td.volumes(t); len(got) != len(vols) {
			t.Errorf("after A's %s: B changed the volumes: %v, then %v", step, vols, got)
		}
		inst, err := b.Get(ctx, name)
		if err != nil || inst.InProgress == nil || !inst.State.Transient() {
			t.Errorf("after A's %s: B's Get: %+v %v, want in progress", step, inst, err)
		}
		return nil
	})
	if _, err := a.Rescue(ctx, req); err != nil {
		t.Fatalf("A's rescue: %v", err)
	}
	if len(tried) < 5 {
		t.Errorf("B tried only after %v", tried)
	}
	rlibvirt.SetAfterStep(a, nil)
	if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateRescued || inst.InProgress != nil {
		t.Fatalf("Get after A's rescue: %+v %v", inst, err)
	}
	var rescueVols []string
	for _, v := range td.volumes(t) {
		if strings.HasPrefix(v, name+".rescue-") {
			rescueVols = append(rescueVols, v)
		}
	}
	if len(rescueVols) != 1 {
		t.Errorf("rescue volumes %v, want A's overlay only", rescueVols)
	}
	// B (no state of it) now finds A's rescue handed over: someone else's, not B's to adopt.
	var already *rescue.AlreadyRescuedError
	if _, _, err := rescue.NewEngine(b).Rescue(ctx, req); !errors.As(err, &already) {
		t.Errorf("B's rescue after A's: %v, want already in rescue", err)
	}
	if out, _, err := rescue.NewEngine(a).Unrescue(ctx, name); err != nil || out != rescue.Unrescued {
		t.Fatalf("Unrescue: %v %v", out, err)
	}
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
	}
	if hasRescueVolume(td.volumes(t), name) {
		t.Errorf("rescue volumes left: %v", td.volumes(t))
	}
}
