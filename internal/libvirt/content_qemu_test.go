package libvirt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// The rescue image's content is checked at plan through the storage API (volume format and
// first bytes, qcow2 read through its tables and backing files): an image that cannot boot on
// the device is refused on image_id, naming what was found and what the device needs; a
// directory and another domain's root disk are refused too. Nothing changes on the host (no
// pool is left, the definitions stay). The guests are only defined: nothing boots here.
func TestQEMUImageContentAtPlan(t *testing.T) {
	lv := libvirtd.Shared(t)
	l := lv.QEMU(t)
	const name, backed, other = "qemu-content", "qemu-content-backed", "qemu-content-other"
	lv.DefineGuest(t, name, libvirtd.GuestOptions{})
	lv.DefineGuest(t, backed, libvirtd.GuestOptions{Backing: true})
	lv.DefineGuest(t, other, libvirtd.GuestOptions{})
	b := newBackend(t, lv.QEMUURI)
	ctx := context.Background()
	im := lv.Images()
	// A directory in a directory no pool holds (its parent gets a transient pool for the
	// look-up, stopped again).
	parent := t.TempDir()
	sub := filepath.Join(parent, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	origs := map[string]string{}
	for _, n := range []string{name, backed, other} {
		origs[n] = lv.DomainXML(t, n, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
	}
	pools := poolNames(t, l)
	for _, c := range []struct {
		name       string
		dom, image string
		dev        rescue.Device
		bs         rescue.Bus
		ok         func(error) bool
	}{
		{"qcow2 disk on cdrom", name, im.RescueDisk, "cdrom", "sata", invalidOn("image_id", "rescue-disk.qcow2 (qcow2)", "MBR boot signature", "a cdrom boots only an ISO 9660 image")},
		{"iso on disk", name, im.RescueISO, "disk", "sata", invalidOn("image_id", "ISO 9660", "an ISO is not a disk")},
		{"iso in legacy mode", name, im.RescueISO, "", "", invalidOn("image_id", "legacy mode", "an ISO is not a disk")},
		{"disk on floppy", name, im.RescueDisk, "floppy", "fdc", invalidOn("image_id", "16777216 bytes", "at most 2.88 MB")},
		{"iso on floppy", name, im.RescueISO, "floppy", "fdc", invalidOn("image_id", "use device = \"cdrom\"")},
		{"default image on cdrom", backed, "", "cdrom", "sata", invalidOn("image_id", "base.qcow2", "a cdrom boots only an ISO")},
		{"directory", name, sub, "", "", invalidOn("image_id", sub+" is a directory")},
		{"another domain's root disk", name, lv.RootDisk(other), "", "", invalidOn("image_id", "domain "+other)},
		{"iso on cdrom", name, im.RescueISO, "cdrom", "sata", nil},
		{"qcow2 disk on disk", name, im.RescueDisk, "disk", "scsi", nil},
		{"qcow2 disk in legacy mode", name, im.RescueDisk, "", "", nil},
		{"floppy on floppy", name, im.RescueFloppy, "floppy", "fdc", nil},
		{"qcow2 overlay read through its backing file", name, im.RootOverlay, "disk", "sata", nil},
		{"default image in legacy mode", backed, "", "", "", nil},
		{"config iso another domain reads", name, im.ConfigISO, "cdrom", "scsi", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := rescue.Request{InstanceID: c.dom, ImageID: c.image, Device: c.dev, Bus: c.bs}
			p, err := b.Validate(ctx, req)
			switch {
			case c.ok == nil && err != nil:
				t.Errorf("Validate: %v", err)
			case c.ok == nil && strings.Contains(strings.Join(p.Warnings, " "), "not checked"):
				t.Errorf("Validate could not check the content: %q", p.Warnings)
			case c.ok != nil && !c.ok(err):
				t.Errorf("Validate: %T %v", err, err)
			}
			if got := poolNames(t, l); !slices.Equal(got, pools) {
				t.Errorf("pools %v, before %v", got, pools)
			}
		})
	}
	// Rescue refuses it before any change as well.
	if _, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: im.RescueDisk, Device: "cdrom", Bus: "sata"}); !invalidOn("image_id", "a cdrom boots only an ISO")(err) {
		t.Errorf("Rescue: %T %v", err, err)
	}
	for n, orig := range origs {
		if got := lv.DomainXML(t, n, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure); got != orig {
			t.Errorf("definition of %s changed:\n%s", n, got)
		}
	}
	if got := poolNames(t, l); !slices.Equal(got, pools) {
		t.Errorf("pools %v, before %v", got, pools)
	}
}

// An image that a running domain has only in its live definition (a disk hot-plugged into the
// running guest, not in its persistent definition) is refused like one in a persistent
// definition. The scan tells running domains by the list's ids: one list, the persistent
// definition of each domain and the live one of each running domain, and no per-domain
// activity check.
func TestQEMUImageInLiveDefinitionRefused(t *testing.T) {
	lv := libvirtd.Shared(t)
	l := lv.QEMU(t)
	p := newRPCCounter(t, lv.Socket)
	b := newBackend(t, "qemu+tcp://"+p.Addr()+"/system")
	ctx := context.Background()
	const name, user = "qemu-live-rescue", "qemu-live-user"
	lv.DefineGuest(t, name, libvirtd.GuestOptions{})
	lv.DefineGuest(t, user, libvirtd.GuestOptions{Start: true})
	img := filepath.Join(lv.ImagesDir, "qemu-live-disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(img) })
	d, err := l.DomainLookupByName(user)
	if err != nil {
		t.Fatal(err)
	}
	disk := `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='` + img +
		`'/><target dev='vdb' bus='virtio'/></disk>`
	if err := l.DomainAttachDeviceFlags(d, disk, uint32(golibvirt.DomainAffectLive)); err != nil {
		t.Fatalf("hot-plug a disk into the running %s: %v", user, err)
	}
	if x := lv.DomainXML(t, user, golibvirt.DomainXMLInactive); strings.Contains(x, img) {
		t.Fatalf("the disk is in the persistent definition too:\n%s", x)
	}
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, d := range doms {
		if d.ID != -1 {
			running++
		}
	}
	before := p.Snapshot()
	_, err = b.Validate(ctx, rescue.Request{InstanceID: name, ImageID: img})
	calls := p.Since(before)
	var ie *rescue.InvalidError
	if !errors.As(err, &ie) || ie.Attribute != "image_id" || !strings.Contains(err.Error(), "is a writable disk (vdb) of domain "+user) {
		t.Fatalf("Validate with an image hot-plugged into another domain: %T %v", err, err)
	}
	t.Logf("RPCs of the Validate (%d domains, %d running): %v", len(doms), running, calls)
	if n := calls[procDomainIsActive]; n != 0 {
		t.Errorf("%d DomainIsActive calls, want none (the list's ids tell)", n)
	}
	if n, most := calls[procDomainGetXMLDesc], len(doms)+running+2; n > most {
		t.Errorf("%d DomainGetXMLDesc calls, want at most %d (persistent of each, live of each running, the domain's own)", n, most)
	}
}
