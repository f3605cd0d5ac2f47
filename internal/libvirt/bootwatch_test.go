package libvirt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// A rescue image the firmware cannot boot on the chosen device fails the rescue with what the
// firmware did (and the screen's text when the guest has a VGA), and the rescue is rolled
// back: the original definition byte for byte, the guest booted from its own root disk again,
// no overlay left. The case: device cdrom with a qcow2 disk image; and a legacy rescue
// with an image that has no boot sector (an ISO as the rescue disk).
func TestQEMUUnbootableRescueRollsBack(t *testing.T) {
	lv := libvirtd.Shared(t)
	im := lv.Images()
	cases := []struct {
		name, device, bus, image, extra string
		want                            []string
	}{
		{"cdrom-qcow2", "cdrom", "sata", im.RescueDisk, "    <video><model type='vga'/></video>\n",
			[]string{"found nothing bootable on the rescue device (cdrom on bus sata; image " + im.RescueDisk, "No bootable device", "Boot failed: Could not read from CDROM", "El Torito"}},
		{"legacy-iso", "", "", im.ConfigISO, "",
			[]string{"found nothing bootable on the rescue disk (legacy mode", "image " + im.ConfigISO, "reset it"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "q-unboot-" + c.name
			qemuGuest(t, lv, name, libvirtd.GuestOptions{ExtraDevices: c.extra})
			orig := lv.DomainXML(t, name, secure)
			b := newBackend(t, lv.QEMUURI)
			lv.Mark(t, name)
			start := time.Now()
			_, _, err := rescue.NewEngine(b).Rescue(context.Background(), rescue.Request{InstanceID: name, ImageID: c.image, Device: c.device, Bus: c.bus, ShutdownTimeout: 30 * time.Second})
			t.Logf("rescue failed after %v: %v", time.Since(start).Round(100*time.Millisecond), err)
			var fe *rescue.FailedError
			if !errors.As(err, &fe) {
				t.Fatalf("want a *rescue.FailedError, got %T: %v", err, err)
			}
			if rescue.Accepted(err) {
				t.Errorf("error says the rescue may be in effect (ErrAccepted), but it was rolled back: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			// Rolled back: the guest boots its own root disk again on the original definition.
			lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
			if got := lv.DomainXML(t, name, secure); got != orig {
				t.Fatalf("definition after the failed rescue differs:\n--- original\n%s\n--- now\n%s", orig, got)
			}
			if files := rescueFiles(lv, name); len(files) != 0 {
				t.Errorf("rescue files left: %v", files)
			}
			inst, err := b.Get(context.Background(), name)
			if err != nil || inst.State != rescue.StateActive {
				t.Errorf("after the failed rescue: %+v %v", inst, err)
			}
		})
	}
}
