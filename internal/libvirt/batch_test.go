package libvirt_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func domUUID(d golibvirt.Domain) string { return uuid.UUID(d.UUID).String() }

// GetMany over several domains (running, shut off, in rescue; asked for by UUID and by name)
// answers each as Get does, leaves out ids that name no domain, and costs one list of all
// domains on the wire (counted by a proxy) and no look-up per domain.
func TestGetManyOneList(t *testing.T) {
	td := newTestDriver(t)
	p := newRPCCounter(t, td.lv.Socket)
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	img := td.volume(t, "rescue-batch.iso", "raw", "")
	run1 := td.domain(t, "td-batch-1", true, false, "")
	td.domain(t, "td-batch-2", true, false, "")
	off := td.domain(t, "td-batch-3", false, false, "")
	resc := td.domain(t, "td-batch-4", true, false, "")
	eng := rescue.NewEngine(b)
	if _, _, err := eng.Rescue(ctx, rescue.Request{InstanceID: resc.Name, ImageID: img}); err != nil {
		t.Fatalf("Rescue: %v", err)
	}
	t.Cleanup(func() {
		if _, _, err := eng.Unrescue(context.Background(), resc.Name); err != nil {
			t.Errorf("Unrescue: %v", err)
		}
	})

	ids := []string{domUUID(run1), "td-batch-2", domUUID(off), "td-batch-4", "td-batch-missing", "00000000-0000-0000-0000-00000000dead", ""}
	before := p.Snapshot()
	got, err := b.GetMany(ctx, ids)
	calls := p.Since(before)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	t.Logf("RPCs of one GetMany of %d ids (4 domains found): %v", len(ids), calls)
	if n := calls[procConnectListAllDomains]; n != 1 {
		t.Errorf("%d ConnectListAllDomains calls, want 1", n)
	}
	if n := calls[procDomainLookupByUUID] + calls[procDomainLookupByName]; n != 0 {
		t.Errorf("%d domain look-ups, want none (the list finds them)", n)
	}
	want := map[string]rescue.State{ids[0]: rescue.StateActive, ids[1]: rescue.StateActive, ids[2]: rescue.StateStopped, ids[3]: rescue.StateRescued}
	if len(got) != len(want) {
		t.Errorf("GetMany returned %d instances, want %d: %v", len(got), len(want), got)
	}
	for id, st := range want {
		inst := got[id]
		if inst == nil {
			t.Errorf("%s missing from GetMany", id)
			continue
		}
		if inst.State != st {
			t.Errorf("%s: state %s, want %s", id, inst.State, st)
		}
		one, err := b.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if !reflect.DeepEqual(inst, one) {
			t.Errorf("GetMany[%s] = %+v, Get = %+v", id, inst, one)
		}
	}
	if got, err := b.GetMany(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMany(nil) = %v, %v", got, err)
	}
}
