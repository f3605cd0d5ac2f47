package libvirt_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// One Backend (one connection) serves many resources at once: different domains are rescued
// and unrescued concurrently; two rescues of one domain are serialized and the second is a
// conflict; Get during a rescue says rescuing.
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
		switch err := <-results; {
		case err == nil:
			ok++
		case rescue.IsConflict(err):
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

// Two processes (two Backends) rescue one domain at once: B rolls back A's rescue, which it
// takes for an interrupted one, and rescues; A, finding the journal no longer its own before
// it defines its rescue definition, stops with a conflict and removes only its own volumes.
// B's rescue stays intact and unrescues to the original.
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
	var bErr error
	rlibvirt.SetAfterStep(a, func(op, step string) error {
		if op == "rescue" && step == "overlay" {
			_, _, bErr = rescue.NewEngine(b).Rescue(ctx, req)
		}
		return nil
	})
	_, aErr := a.Rescue(ctx, req)
	if bErr != nil {
		t.Fatalf("B's rescue: %v", bErr)
	}
	if !rescue.IsConflict(aErr) {
		t.Fatalf("A's rescue: %T %v, want a conflict", aErr, aErr)
	}
	inst, err := b.Get(ctx, name)
	if err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("Get after the overlap: %+v %v", inst, err)
	}
	var rescueVols []string
	for _, v := range td.volumes(t) {
		if strings.HasPrefix(v, name+".rescue-") {
			rescueVols = append(rescueVols, v)
		}
	}
	if len(rescueVols) != 1 {
		t.Errorf("rescue volumes %v, want B's overlay only", rescueVols)
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
