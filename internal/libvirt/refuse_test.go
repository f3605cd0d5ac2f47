package libvirt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// poolNames lists the names of the active storage pools.
func poolNames(t *testing.T, l *golibvirt.Libvirt) []string {
	t.Helper()
	ps, _, err := l.ConnectListAllStoragePools(1, golibvirt.ConnectListStoragePoolsActive)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func invalidOn(attr string, words ...string) func(error) bool {
	return func(err error) bool {
		var ie *rescue.InvalidError
		if !errors.As(err, &ie) || ie.Attribute != attr {
			return false
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				return false
			}
		}
		return true
	}
}

// An image_id that is a relative path, a directory, or a disk a domain writes to (another
// domain's or the domain's own) is refused by Validate (plan) and by Rescue before any change;
// an image another domain only reads (a cdrom) is fine.
func TestTestDriverRefusesImagesEarly(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-early.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	d := td.domain(t, "td-early", true, false, "")
	td.domain(t, "td-early-other", true, false, "")
	td.domain(t, "td-early-reader", true, false, "    <disk type='file' device='cdrom'><source file='"+img+"'/><target dev='sda' bus='sata'/><readonly/></disk>\n")
	orig := td.xml(t, d, secure)
	pools := poolNames(t, td.l)
	for _, c := range []struct {
		name, image string
		ok          func(error) bool
	}{
		{"relative dot", "./rescue-early.iso", invalidOn("image_id", "relative path")},
		{"relative with dirs", "images/rescue/rescue-early.iso", invalidOn("image_id", "relative path")},
		{"directory of a pool", "/" + "default-pool", invalidOn("image_id", "is a directory", "default-pool")},
		{"own root disk", "/default-pool/td-early-root.qcow2", invalidOn("image_id", "domain td-early:", "vda")},
		{"another domain's disk", "/default-pool/td-early-other-root.qcow2", invalidOn("image_id", "domain td-early-other")},
		{"another domain's disk as pool/volume", "default-pool/td-early-other-root.qcow2", invalidOn("image_id", "domain td-early-other")},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := rescue.Request{InstanceID: "td-early", ImageID: c.image}
			if _, err := b.Validate(ctx, req); !c.ok(err) {
				t.Errorf("Validate: %T %v", err, err)
			}
			if _, err := b.Rescue(ctx, req); !c.ok(err) {
				t.Errorf("Rescue: %T %v", err, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("definition changed:\n%s", got)
			}
			if td.state(t, d) != golibvirt.DomainRunning {
				t.Errorf("not running")
			}
			if hasRescueVolume(td.volumes(t), "td-early") {
				t.Errorf("volumes left: %v", td.volumes(t))
			}
			if got := poolNames(t, td.l); !slices.Equal(got, pools) {
				t.Errorf("pools %v, before %v", got, pools)
			}
		})
	}
	if _, err := b.Validate(ctx, rescue.Request{InstanceID: "td-early", ImageID: img}); err != nil {
		t.Errorf("an image another domain has as a read-only cdrom: %v", err)
	}
}

// A transient pool the backend uses for the rescue image's directory is stopped when the last
// rescue whose journal names it ends (unrescue or rollback), and not before.
func TestTestDriverTransientPoolStopped(t *testing.T) {
	td := newTestDriver(t)
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	const dir = "/td-tpool"
	name := rlibvirt.TransientPoolName(dir)
	// The test driver's dir pools are in memory: the pool is made here with the backend's name
	// (as an earlier run would have left it), with the image in it.
	start := func() {
		t.Helper()
		p, err := td.l.StoragePoolCreateXML("<pool type='dir'><name>"+name+"</name><target><path>"+dir+"</path></target></pool>", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := td.l.StorageVolCreateXML(p, "<volume><name>rescue.iso</name><capacity unit='bytes'>1048576</capacity><target><format type='raw'/></target></volume>", 0); err != nil {
			t.Fatal(err)
		}
	}
	active := func() bool {
		return slices.Contains(poolNames(t, td.l), name)
	}
	t.Cleanup(func() {
		if p, err := td.l.StoragePoolLookupByName(name); err == nil {
			_ = td.l.StoragePoolDestroy(p)
		}
	})
	start()
	td.domain(t, "td-tpool-a", true, false, "")
	td.domain(t, "td-tpool-b", true, false, "")
	eng := rescue.NewEngine(b)
	for _, dom := range []string{"td-tpool-a", "td-tpool-b"} {
		if _, _, err := eng.Rescue(ctx, rescue.Request{InstanceID: dom, ImageID: dir + "/rescue.iso"}); err != nil {
			t.Fatalf("Rescue %s: %v", dom, err)
		}
	}
	if !active() {
		t.Fatalf("pool %s stopped while two rescues use it", name)
	}
	if _, _, err := eng.Unrescue(ctx, "td-tpool-a"); err != nil {
		t.Fatal(err)
	}
	if !active() {
		t.Fatalf("pool %s stopped while the rescue of td-tpool-b uses it", name)
	}
	if _, _, err := eng.Unrescue(ctx, "td-tpool-b"); err != nil {
		t.Fatal(err)
	}
	if active() {
		t.Fatalf("pool %s still active after the last unrescue", name)
	}

	// A rescue that fails and is rolled back stops it too.
	start()
	bf := newBackend(t, td.lv.TestURI)
	rlibvirt.SetRescueXMLFilter(bf, func(x string) string {
		return strings.Replace(x, "<name>td-tpool-a</name>", "<name>td-tpool-b</name>", 1)
	})
	if _, err := bf.Rescue(ctx, rescue.Request{InstanceID: "td-tpool-a", ImageID: dir + "/rescue.iso"}); err == nil || rescue.Accepted(err) {
		t.Fatalf("Rescue with a rejected definition: %v", err)
	}
	if active() {
		t.Fatalf("pool %s still active after a rolled-back rescue", name)
	}
}
