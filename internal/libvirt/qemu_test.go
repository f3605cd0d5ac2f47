package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

const bootTimeout = time.Minute

// rescueFiles lists the overlay and config drive files of a guest's rescues in the images dir.
func rescueFiles(lv *libvirtd.Env, name string) []string {
	m, _ := filepath.Glob(filepath.Join(lv.ImagesDir, name+".rescue-*"))
	return m
}

// liveHasDisk reports whether the running domain has a disk with source path.
func liveHasDisk(t *testing.T, lv *libvirtd.Env, name, path string) bool {
	t.Helper()
	return strings.Contains(lv.DomainXML(t, name, 0), "file='"+path+"'")
}

// Every device/bus pair QEMU boots: the guest boots the rescue image with its own root disk
// attached; unrescue boots its own disk again and restores the definition byte for byte.
func TestQEMURescueBootsRescueDevice(t *testing.T) {
	lv := libvirtd.Shared(t)
	b := newBackend(t, lv.QEMUURI)
	eng := rescue.NewEngine(b)
	ctx := context.Background()
	cases := []struct {
		machine string
		device  rescue.Device
		bus     rescue.Bus
	}{
		{"pc", "", ""}, // legacy
		{"pc", "cdrom", "sata"},
		{"pc", "cdrom", "scsi"},
		{"pc", "cdrom", "ide"},
		{"pc", "disk", "virtio"},
		{"pc", "disk", "scsi"},
		{"pc", "disk", "sata"},
		{"pc", "disk", "ide"},
		{"pc", "disk", "usb"},
		{"pc", "floppy", "fdc"},
		{"q35", "", ""},
		{"q35", "cdrom", "sata"},
		{"q35", "cdrom", "scsi"},
		{"q35", "disk", "virtio"},
		{"q35", "disk", "scsi"},
		{"q35", "disk", "sata"},
		{"q35", "disk", "usb"},
		{"q35", "floppy", "fdc"},
	}
	for _, c := range cases {
		label := string(c.device) + "-" + string(c.bus)
		if c.device == "" {
			label = "legacy"
		}
		t.Run(c.machine+"/"+label, func(t *testing.T) {
			name := fmt.Sprintf("q-boot-%s-%s", c.machine, label)
			acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{Machine: c.machine})
			orig := lv.DomainXML(t, name, secure)
			img, want := lv.Images().RescueFor(string(c.device))
			lv.Mark(t, name)
			_, inst, err := eng.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img, Device: c.device, Bus: c.bus, ShutdownTimeout: 30 * time.Second})
			if err != nil {
				t.Fatalf("Rescue: %v", err)
			}
			if inst.State != rescue.StateRescued {
				t.Fatalf("after rescue: %+v", inst)
			}
			lv.WaitBooted(t, name, want, bootTimeout)
			if !liveHasDisk(t, lv, name, lv.RootDisk(name)) {
				t.Errorf("the original root disk is not attached to the rescue guest:\n%s", lv.DomainXML(t, name, 0))
			}
			if files := rescueFiles(lv, name); len(files) != 1 {
				t.Errorf("rescue files %v, want one overlay", files)
			}
			lv.Mark(t, name)
			if out, _, err := eng.Unrescue(ctx, name); err != nil || out != rescue.Unrescued {
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
	}
}

// Pairs the host or the rules refuse give their error before any change: the definition is the
// same, the guest still runs (no reboot), nothing is journalled or created. That includes a
// pair the domain cannot take (a USB disk on a domain without a USB controller), found by a dry
// run of the transform.
func TestQEMURefusedPairs(t *testing.T) {
	lv := libvirtd.Shared(t)
	b := newBackend(t, lv.QEMUURI)
	ctx := context.Background()
	cases := []struct {
		machine string
		device  rescue.Device
		bus     rescue.Bus
		extra   string
	}{
		{"pc", "cdrom", "virtio", ""},
		{"pc", "cdrom", "fdc", ""},
		{"pc", "disk", "fdc", ""},
		{"pc", "floppy", "scsi", ""},
		{"pc", "floppy", "virtio", ""},
		{"pc", "floppy", "sata", ""},
		{"q35", "cdrom", "ide", ""},
		{"q35", "disk", "ide", ""},
		{"pc", "disk", "usb", "    <controller type='usb' model='none'/>\n"},
	}
	for _, c := range cases {
		name := fmt.Sprintf("q-refuse-%s-%s-%s", c.machine, c.device, c.bus)
		t.Run(name, func(t *testing.T) {
			acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{Machine: c.machine, ExtraDevices: c.extra})
			orig := lv.DomainXML(t, name, secure)
			dom := lv.Domain(t, name)
			img, _ := lv.Images().RescueFor(string(c.device))
			req := rescue.Request{InstanceID: name, ImageID: img, Device: c.device, Bus: c.bus}
			_, verr := b.Validate(ctx, req)
			_, rerr := b.Rescue(ctx, req)
			if rerr == nil {
				t.Fatal("Rescue accepted the pair")
			}
			if rescue.Accepted(rerr) {
				t.Errorf("refusal marked as accepted: %v", rerr)
			}
			var ie *rescue.InvalidError
			var ue *rescue.UnsupportedError
			if !errors.As(rerr, &ie) && !errors.As(rerr, &ue) {
				t.Errorf("Rescue error %T %v, want InvalidError or UnsupportedError", rerr, rerr)
			}
			if !strings.Contains(rerr.Error(), string(c.bus)) {
				t.Errorf("error %q does not name the bus", rerr)
			}
			if verr == nil {
				t.Errorf("Validate accepted the pair (Rescue said %v)", rerr)
			}
			t.Logf("Validate: %v\nRescue: %v", verr, rerr)
			if got := lv.DomainXML(t, name, secure); got != orig {
				t.Fatalf("definition changed:\n%s", got)
			}
			if st, _ := lv.State(t, name); st != golibvirt.DomainRunning {
				t.Errorf("guest state %d, want running", st)
			}
			if d2 := lv.Domain(t, name); d2.ID != dom.ID {
				t.Errorf("the guest was restarted (id %d -> %d)", dom.ID, d2.ID)
			}
			if files := rescueFiles(lv, name); len(files) != 0 {
				t.Errorf("rescue files left: %v", files)
			}
			if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateActive {
				t.Errorf("Get: %+v %v", inst, err)
			}
		})
	}
}

// Clean shutdown: a guest that answers ACPI goes down by itself; one that ignores it is forced
// off once shutdown_timeout has passed. Then the rescue guest starts.
func TestQEMUShutdown(t *testing.T) {
	lv := libvirtd.Shared(t)
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		ignoreACPI bool
		reason     golibvirt.DomainShutoffReason
	}{
		{"q-acpi-answers", false, golibvirt.DomainShutoffShutdown},
		{"q-acpi-ignores", true, golibvirt.DomainShutoffDestroyed},
	} {
		t.Run(c.name, func(t *testing.T) {
			acctest.QEMUGuest(t, lv, c.name, libvirtd.GuestOptions{IgnoreACPI: c.ignoreACPI})
			b := newBackend(t, lv.QEMUURI)
			var reason int32 = -1
			rlibvirt.SetAfterStep(b, func(op, step string) error {
				if op == "rescue" && step == "shutdown" {
					st, r := lv.State(t, c.name)
					if st != golibvirt.DomainShutoff {
						return fmt.Errorf("state %d after the shutdown step", st)
					}
					reason = r
				}
				return nil
			})
			lv.Mark(t, c.name)
			if _, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: c.name, ImageID: lv.Images().RescueDisk, ShutdownTimeout: 3 * time.Second}); err != nil {
				t.Fatal(err)
			}
			if reason != int32(c.reason) {
				t.Errorf("shutoff reason %d, want %d", reason, c.reason)
			}
			lv.WaitBooted(t, c.name, libvirtd.BootRescueDisk, bootTimeout)
		})
	}
}
