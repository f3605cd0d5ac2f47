package rescue_test

import (
	"context"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// preparer is a fakeBackend that validates by reading the instance (as Nova does): its
// Prepare reads once, and RescuePrepared records how many reads came before it acted.
type preparer struct {
	*fakeBackend
	prepares, prepared int
	note               any
	req                rescue.Request
	getsAtAction       int
}

func (p *preparer) Prepare(ctx context.Context, req rescue.Request) (rescue.Plan, *rescue.Instance, any, error) {
	p.prepares++
	inst, err := p.Get(ctx, req.InstanceID)
	if err != nil {
		return rescue.Plan{}, nil, nil, err
	}
	return rescue.Plan{Device: "disk", Bus: "virtio", Mode: rescue.ModeStable}, inst, "note-of-the-read", nil
}

func (p *preparer) RescuePrepared(ctx context.Context, req rescue.Request, note any) (rescue.Result, error) {
	p.prepared++
	p.note, p.req, p.getsAtAction = note, req, p.gets
	return p.fakeBackend.Rescue(ctx, req)
}

func (p *preparer) Rescue(ctx context.Context, req rescue.Request) (rescue.Result, error) {
	p.req, p.getsAtAction = req, p.gets
	return p.fakeBackend.Rescue(ctx, req)
}

// A rescue validated by a backend that reads the instance to validate it acts on that read:
// one read before the action, the plan's device and bus in the request.
func TestValidateThenRescueCheckedReadsOnce(t *testing.T) {
	p := &preparer{fakeBackend: &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)},
	}}
	e := fastEngine(p)
	c, err := e.Validate(context.Background(), rescue.Request{InstanceID: "i1", AdminPass: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Plan.Mode != rescue.ModeStable || c.Instance == nil || c.Instance.State != rescue.StateActive {
		t.Fatalf("checked %+v", c)
	}
	res, inst, err := e.RescueChecked(context.Background(), c)
	if err != nil || inst.State != rescue.StateRescued || res.AdminPass != "pw" {
		t.Fatalf("rescue: %+v %+v %v", res, inst, err)
	}
	if p.prepares != 1 || p.prepared != 1 || p.rescued != 1 {
		t.Fatalf("%d prepares, %d prepared rescues, %d rescues; want 1, 1, 1", p.prepares, p.prepared, p.rescued)
	}
	if p.getsAtAction != 1 {
		t.Fatalf("%d reads of the instance before the rescue, want 1 (the validation's)", p.getsAtAction)
	}
	if p.note != "note-of-the-read" || p.req.Device != "disk" || p.req.Bus != "virtio" {
		t.Fatalf("RescuePrepared got note %v, request %+v", p.note, p.req)
	}
}

// An instance that must be dealt with first (here: on its way out of rescue) is no longer what
// the validation read: the backend's own Rescue (which validates again) acts.
func TestRescueCheckedAfterAWaitValidatesAgain(t *testing.T) {
	p := &preparer{fakeBackend: &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateUnrescuing), st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescued)},
	}}
	e := fastEngine(p)
	c, err := e.Validate(context.Background(), rescue.Request{InstanceID: "i1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.RescueChecked(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if p.prepared != 0 || p.rescued != 1 {
		t.Fatalf("%d prepared rescues, %d rescues; want the plain Rescue only", p.prepared, p.rescued)
	}
}

// A backend that validates without reading: Validate, then the engine's read, then Rescue.
func TestValidateThenRescueCheckedWithoutPreparer(t *testing.T) {
	f := &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescued)},
	}
	e := fastEngine(f)
	c, err := e.Validate(context.Background(), rescue.Request{InstanceID: "i1"})
	if err != nil || c.Instance != nil || c.Plan.Mode != rescue.ModeLegacy {
		t.Fatalf("checked %+v, %v", c, err)
	}
	if _, inst, err := e.RescueChecked(context.Background(), c); err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("rescue: %+v %v", inst, err)
	}
	if f.rescued != 1 || f.gets != 2 {
		t.Fatalf("%d rescues, %d reads; want 1 and 2 (before and after)", f.rescued, f.gets)
	}
}
