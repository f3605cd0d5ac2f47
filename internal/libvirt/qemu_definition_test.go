package libvirt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// The original definition journalled in the domain's metadata holds the VNC password (it is
// read with VIR_DOMAIN_XML_SECURE), yet a read-only connection cannot see it: not in the XML,
// not in the metadata, not through the key secret. Unrescue restores it exactly.
func TestQEMUSecretsHiddenFromReadOnly(t *testing.T) {
	lv := libvirtd.Shared(t)
	const name, pass = "q-secret", "s3cr3tVn" // QEMU takes at most 8 characters
	vnc := filepath.Join(lv.Dir, name+".vnc")
	acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{ExtraDevices: fmt.Sprintf("    <graphics type='vnc' socket='%s' passwd='%s'/>\n", vnc, pass)})
	orig := lv.DomainXML(t, name, secure)
	if !strings.Contains(orig, pass) {
		t.Fatalf("no VNC password in the secure XML:\n%s", orig)
	}
	b := newBackend(t, lv.QEMUURI)
	ctx := context.Background()
	if _, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk}); err != nil {
		t.Fatal(err)
	}
	lv.WaitBooted(t, name, libvirtd.BootRescueDisk, bootTimeout)

	ro := lv.Connect(t, "qemu+unix:///system?socket="+filepath.Join(lv.SockDir, "libvirt-sock-ro"))
	d, err := ro.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, flags := range []golibvirt.DomainXMLFlags{0, golibvirt.DomainXMLInactive} {
		x, err := ro.DomainGetXMLDesc(d, flags)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(x, rlibvirt.MetadataNamespace) {
			t.Errorf("read-only XML (flags %d) has no journal; the test would prove nothing:\n%s", flags, x)
		}
		if strings.Contains(x, pass) {
			t.Errorf("read-only connection sees the VNC password (flags %d):\n%s", flags, x)
		}
	}
	if _, err := ro.DomainGetXMLDesc(d, secure); err == nil {
		t.Error("read-only connection got the secure XML")
	}
	meta, err := ro.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{rlibvirt.MetadataNamespace}, golibvirt.DomainAffectConfig)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(meta, pass) || !strings.Contains(meta, "aes-256-gcm") {
		t.Errorf("journal readable by a read-only connection is not sealed:\n%s", meta)
	}
	secrets, _, err := ro.ConnectListAllSecrets(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) == 0 {
		t.Fatal("no key secret defined")
	}
	for _, s := range secrets {
		if v, err := ro.SecretGetValue(s, 0); err == nil {
			t.Errorf("read-only connection read secret %x: %d bytes", s.UUID, len(v))
		}
	}

	lv.Mark(t, name)
	if _, _, err := rescue.NewEngine(newBackend(t, lv.QEMUURI)).Unrescue(ctx, name); err != nil {
		t.Fatal(err)
	}
	lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
	if got := lv.DomainXML(t, name, secure); got != orig {
		t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
	}
	if secrets, _, err := lv.QEMU(t).ConnectListAllSecrets(1, 0); err != nil || len(secrets) != 0 {
		t.Errorf("secrets left after unrescue: %d %v", len(secrets), err)
	}
}

// admin_pass: a config drive (label config-2, openstack/latest/meta_data.json with admin_pass)
// is uploaded through the storage API, attached to the rescue guest and removed at unrescue.
func TestQEMUConfigDrive(t *testing.T) {
	lv := libvirtd.Shared(t)
	const name, pass = "q-configdrive", "rescue-Pa55"
	acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{NoConfigDrive: true})
	b := newBackend(t, lv.QEMUURI)
	ctx := context.Background()
	res, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueISO, Device: "cdrom", Bus: "sata", AdminPass: pass})
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminPass != pass {
		t.Errorf("AdminPass %q", res.AdminPass)
	}
	lv.WaitBooted(t, name, libvirtd.BootRescueISO, bootTimeout)
	files := rescueFiles(lv, name)
	var drive string
	for _, f := range files {
		if strings.HasSuffix(f, ".config.iso") {
			drive = f
		}
	}
	if len(files) != 2 || drive == "" {
		t.Fatalf("rescue files %v, want an overlay and a config drive", files)
	}
	if !liveHasDisk(t, lv, name, drive) {
		t.Errorf("config drive not attached:\n%s", lv.DomainXML(t, name, 0))
	}
	l := lv.QEMU(t)
	v, err := l.StorageVolLookupByPath(drive)
	if err != nil {
		t.Fatal(err)
	}
	var iso bytes.Buffer
	if err := l.StorageVolDownload(v, &iso, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config-2", `"admin_pass":"` + pass + `"`} {
		if !bytes.Contains(iso.Bytes(), []byte(want)) {
			t.Errorf("config drive (%d bytes) lacks %q", iso.Len(), want)
		}
	}
	if _, _, err := rescue.NewEngine(b).Unrescue(ctx, name); err != nil {
		t.Fatal(err)
	}
	if files := rescueFiles(lv, name); len(files) != 0 {
		t.Errorf("rescue files left: %v", files)
	}
	// The transient pool the rescue used for the images directory ended with it.
	if pool := rlibvirt.TransientPoolName(lv.ImagesDir); slices.Contains(poolNames(t, l), pool) {
		t.Errorf("transient pool %s still active after the unrescue", pool)
	}
}

// Without image_id, legacy mode boots an overlay of the root disk's backing image, with the
// root disk attached after it.
func TestQEMUDefaultImage(t *testing.T) {
	lv := libvirtd.Shared(t)
	const name = "q-default-image"
	acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{Backing: true})
	orig := lv.DomainXML(t, name, secure)
	b := newBackend(t, lv.QEMUURI)
	ctx := context.Background()
	p, err := b.Validate(ctx, rescue.Request{InstanceID: name})
	if err != nil || p.Mode != rescue.ModeLegacy {
		t.Fatalf("Validate: %+v %v", p, err)
	}
	lv.Mark(t, name)
	_, inst, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: name})
	if err != nil {
		t.Fatal(err)
	}
	if inst.ImageID != lv.Images().Base {
		t.Errorf("image %q, want the backing image %s", inst.ImageID, lv.Images().Base)
	}
	lv.WaitBooted(t, name, libvirtd.BootBase, bootTimeout)
	if !liveHasDisk(t, lv, name, lv.RootDisk(name)) {
		t.Errorf("root disk not attached")
	}
	lv.Mark(t, name)
	if _, _, err := rescue.NewEngine(b).Unrescue(ctx, name); err != nil {
		t.Fatal(err)
	}
	lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
	if got := lv.DomainXML(t, name, secure); got != orig {
		t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
	}
}

// libvirt's rejection of the rescue definition at define time costs no downtime and leaves
// nothing behind; a rescue definition that fails to start is rolled back and the original
// started again. Both errors carry libvirt's message. (The definitions are spoiled on purpose
// through a test hook, because the backend's own checks refuse every bad pair before.)
func TestQEMURejectedRescueDefinition(t *testing.T) {
	lv := libvirtd.Shared(t)
	ctx := context.Background()
	t.Run("define", func(t *testing.T) {
		const name = "q-reject-define"
		acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
		orig := lv.DomainXML(t, name, secure)
		id := lv.Domain(t, name).ID
		b := newBackend(t, lv.QEMUURI)
		rlibvirt.SetRescueXMLFilter(b, func(x string) string {
			return regexp.MustCompile(`bus=["']scsi["']`).ReplaceAllString(x, "bus='scsi-nope'")
		})
		_, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk, Device: "disk", Bus: "scsi"})
		var ie *rescue.InvalidError
		var ue *rescue.UnsupportedError
		if err == nil || (!errors.As(err, &ie) && !errors.As(err, &ue)) || !strings.Contains(err.Error(), "scsi-nope") || rescue.Accepted(err) {
			t.Fatalf("Rescue: %T %v", err, err)
		}
		t.Log(err)
		if got := lv.DomainXML(t, name, secure); got != orig {
			t.Fatalf("definition changed:\n%s", got)
		}
		if d := lv.Domain(t, name); d.ID != id {
			t.Errorf("guest restarted")
		}
		if files := rescueFiles(lv, name); len(files) != 0 {
			t.Errorf("rescue files left: %v", files)
		}
	})
	t.Run("start", func(t *testing.T) {
		const name = "q-reject-start"
		acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
		orig := lv.DomainXML(t, name, secure)
		b := newBackend(t, lv.QEMUURI)
		rlibvirt.SetRescueXMLFilter(b, func(x string) string {
			return strings.Replace(x, "<qemu:arg value='-device'/>", "<qemu:arg value='-no-such-option'/><qemu:arg value='-device'/>", 1)
		})
		lv.Mark(t, name)
		_, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk})
		var fe *rescue.FailedError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "no-such-option") || rescue.Accepted(err) {
			t.Fatalf("Rescue: %T %v", err, err)
		}
		t.Log(err)
		lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
		if got := lv.DomainXML(t, name, secure); got != orig {
			t.Fatalf("definition changed:\n%s", got)
		}
		if files := rescueFiles(lv, name); len(files) != 0 {
			t.Errorf("rescue files left: %v", files)
		}
	})
}

// The journal survives a libvirtd restart: a Backend reconnects by itself and still sees the
// rescue; another Backend unrescues, recreating the transient pool of the overlay.
func TestQEMULibvirtdRestart(t *testing.T) {
	lv := libvirtd.Shared(t)
	ctx := context.Background()
	t.Run("rescued", func(t *testing.T) {
		const name = "q-restart"
		acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
		orig := lv.DomainXML(t, name, secure)
		b := newBackend(t, lv.QEMUURI)
		if _, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueISO, Device: "cdrom", Bus: "scsi", ShutdownTimeout: 20 * time.Second}); err != nil {
			t.Fatal(err)
		}
		lv.WaitBooted(t, name, libvirtd.BootRescueISO, bootTimeout)
		lv.Restart(t)
		if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateRescued || inst.Bus != "scsi" {
			t.Fatalf("Get after restart on the old Backend: %+v %v", inst, err)
		}
		lv.Mark(t, name)
		if out, _, err := rescue.NewEngine(newBackend(t, lv.QEMUURI)).Unrescue(ctx, name); err != nil || out != rescue.Unrescued {
			t.Fatalf("Unrescue: %v %v", out, err)
		}
		lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
		if got := lv.DomainXML(t, name, secure); got != orig {
			t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
		}
		if files := rescueFiles(lv, name); len(files) != 0 {
			t.Errorf("rescue files left: %v", files)
		}
	})
	// A rescue killed after a step, then libvirtd restarts, then another process unrescues.
	for _, c := range []struct {
		step    string
		reboots bool // whether unrescue boots the guest again
	}{
		{"define", false}, // the guest still runs its original: restored without downtime
		{"shutdown", true},
		{"start", true},
	} {
		t.Run("crash-after-"+c.step, func(t *testing.T) {
			name := "q-crash-" + c.step
			acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
			orig := lv.DomainXML(t, name, secure)
			id := lv.Domain(t, name).ID
			a := crashingBackend(t, lv.QEMUURI, "rescue", c.step)
			if _, err := a.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk, Device: "disk", Bus: "sata"}); !errors.Is(err, errCrashed) {
				t.Fatalf("Rescue: %v", err)
			}
			rlibvirt.Abandon(a)
			if c.step == "start" {
				// The rescue guest was just started: let it print its boot line before the
				// mark, or WaitBooted below would take it for the unrescued boot.
				lv.WaitBooted(t, name, libvirtd.BootRescueDisk, bootTimeout)
			}
			lv.Restart(t)
			b := newBackend(t, lv.QEMUURI)
			lv.Mark(t, name)
			if out, _, err := rescue.NewEngine(b).Unrescue(ctx, name); err != nil || out != rescue.Unrescued {
				t.Fatalf("Unrescue: %v %v", out, err)
			}
			if got := lv.DomainXML(t, name, secure); got != orig {
				t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
			if c.reboots {
				lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
			} else if d := lv.Domain(t, name); d.ID != id {
				t.Errorf("guest restarted (id %d -> %d)", id, d.ID)
			}
			if st, _ := lv.State(t, name); st != golibvirt.DomainRunning {
				t.Errorf("state %d, want running", st)
			}
			if files := rescueFiles(lv, name); len(files) != 0 {
				t.Errorf("rescue files left: %v", files)
			}
		})
	}
}
