package libvirt_test

import (
	"context"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// dirPool defines and starts a persistent dir pool in the test driver; it is removed at the end
// of the test.
func (td *testDriver) dirPool(t *testing.T, name string) golibvirt.StoragePool {
	t.Helper()
	p, err := td.l.StoragePoolDefineXML("<pool type='dir'><name>"+name+"</name><target><path>/"+name+"</path></target></pool>", 0)
	if err != nil {
		t.Fatalf("define pool %s: %v", name, err)
	}
	if err := td.l.StoragePoolCreate(p, 0); err != nil {
		t.Fatalf("start pool %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = td.l.StoragePoolDestroy(p)
		_ = td.l.StoragePoolUndefine(p)
	})
	return p
}

// A rescue volume that cannot be removed (its pool was stopped) does not keep the guest from
// coming back: the original definition is restored byte for byte and started first, and the
// error names the file left behind.
func TestTestDriverUnrescueRestoresBeforeVolumes(t *testing.T) {
	td := newTestDriver(t)
	ctx := context.Background()
	const name, poolName = "td-unrescue-pool-off", "td-pool-off"
	pool := td.dirPool(t, poolName)
	if _, err := td.l.StorageVolCreateXML(pool, "<volume><name>rescue.iso</name><capacity unit='bytes'>1048576</capacity><target><format type='raw'/></target></volume>", 0); err != nil {
		t.Fatal(err)
	}
	d := td.domain(t, name, true, false, "")
	orig := td.xml(t, d, secure)
	b := newBackend(t, td.lv.TestURI)
	if _, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: name, ImageID: "/" + poolName + "/rescue.iso"}); err != nil {
		t.Fatal(err)
	}
	if err := td.l.StoragePoolDestroy(pool); err != nil {
		t.Fatal(err)
	}
	err := b.Unrescue(ctx, name)
	if err == nil || !strings.Contains(err.Error(), "/"+poolName+"/"+name+".rescue-") {
		t.Fatalf("Unrescue: %v, want an error naming the overlay left in %s", err, poolName)
	}
	t.Log(err)
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition not restored:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if st := td.state(t, d); st != golibvirt.DomainRunning {
		t.Errorf("state %d, want running", st)
	}
	if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateActive {
		t.Errorf("Get: %+v %v", inst, err)
	}
}
