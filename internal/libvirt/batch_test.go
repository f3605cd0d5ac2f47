package libvirt_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
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

// Validations of many domains of one host (a plan of a fleet rescue) read the host's domain
// capabilities once, and concurrent ones share the image's content read and the scan of the
// domains that could use the image (counted on the wire by a proxy; the shared scans depend
// on timing and are reported, not asserted). Every plan is the one a lone validation gives.
func TestValidateSharesHostReads(t *testing.T) {
	lv := libvirtd.Shared(t)
	p := newRPCCounter(t, lv.Socket)
	b := newBackend(t, "qemu+tcp://"+p.Addr()+"/system")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 5
	for i := 0; i < n; i++ {
		lv.DefineGuest(t, fmt.Sprintf("q-shared-%d", i), libvirtd.GuestOptions{})
	}
	req := func(i int) rescue.Request {
		return rescue.Request{InstanceID: fmt.Sprintf("q-shared-%d", i), ImageID: lv.Images().RescueISO, Device: "cdrom", Bus: "sata"}
	}
	before := p.Snapshot()
	plans := make([]rescue.Plan, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plans[i], errs[i] = b.Validate(ctx, req(i))
		}()
	}
	wg.Wait()
	calls := p.Since(before)
	t.Logf("RPCs of %d concurrent validations: %v", n, calls)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Validate %d: %v", i, err)
		}
	}
	if c := calls[procConnectGetDomainCaps]; c != 1 {
		t.Errorf("%d reads of the domain capabilities for %d validations, want 1", c, n)
	}
	t.Logf("in-use scans (ConnectListAllDomains): %d for %d validations; volume downloads: %d", calls[procConnectListAllDomains], n, calls[procStorageVolDownload])

	// A later validation on the same Backend reads no capabilities at all, and plans the same.
	before = p.Snapshot()
	again, err := b.Validate(ctx, req(0))
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Since(before)[procConnectGetDomainCaps]; c != 0 {
		t.Errorf("%d reads of the domain capabilities on the second run, want 0 (cached)", c)
	}
	for i := range plans {
		if !reflect.DeepEqual(plans[i], again) {
			t.Errorf("plan %d %+v, a lone validation %+v", i, plans[i], again)
		}
	}
}

// Over a slow link (a proxy that delays every chunk by 10 ms each way) GetMany of 10 domains
// reads them all, each as Get does; its time is reported (the domains are read concurrently,
// so it costs a few round trips rather than three per domain).
func TestGetManySlowLink(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]rescue.State{}
	for i := 0; i < 10; i++ {
		d := td.domain(t, fmt.Sprintf("td-slow-%d", i), i%2 == 0, false, "")
		want[domUUID(d)] = map[bool]rescue.State{true: rescue.StateActive, false: rescue.StateStopped}[i%2 == 0]
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	p.Delay(10 * time.Millisecond)
	start := time.Now()
	got, err := b.GetMany(ctx, ids)
	t.Logf("GetMany of %d domains with a 20 ms round trip: %v", len(ids), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	for id, st := range want {
		if got[id] == nil || got[id].State != st {
			t.Errorf("%s: %+v, want state %s", id, got[id], st)
		}
	}
}
