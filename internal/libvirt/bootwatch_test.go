package libvirt_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// unbootableImages makes rescue images that look fine before the rescue but that SeaBIOS
// cannot boot: a qcow2 disk image with compressed clusters (its content cannot be read at
// plan time) and a UEFI-only raw disk (a GPT header, no boot signature 0x55AA). They are
// removed at the end of the test.
func unbootableImages(t *testing.T, lv *libvirtd.Env) (compressedQcow2, gptOnly string) {
	t.Helper()
	compressedQcow2 = filepath.Join(lv.ImagesDir, "unboot-compressed.qcow2")
	gptOnly = filepath.Join(lv.ImagesDir, "unboot-gpt.img")
	t.Cleanup(func() { _ = os.Remove(compressedQcow2); _ = os.Remove(gptOnly) })
	if out, err := exec.Command("qemu-img", "convert", "-c", "-O", "qcow2", lv.Images().RescueDisk, compressedQcow2).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert -c: %v: %s", err, out)
	}
	img := make([]byte, 1<<20)
	copy(img[512:], "EFI PART")
	if err := os.WriteFile(gptOnly, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return compressedQcow2, gptOnly
}

// A rescue image the firmware cannot boot on the chosen device fails the rescue with what the
// firmware did (and the screen's text when the guest has a VGA), and the rescue is rolled
// back: the original definition byte for byte, the guest booted from its own root disk again,
// no overlay left. The case, device cdrom with a qcow2 disk image (compressed, so that
// no plan-time check can read it), seen as a reset; and a legacy rescue with a UEFI-only disk
// image of a domain with <on_reboot>destroy</on_reboot>, where the firmware's reset stops it.
func TestQEMUUnbootableRescueRollsBack(t *testing.T) {
	lv := libvirtd.Shared(t)
	qcow2, gpt := unbootableImages(t, lv)
	cases := []struct {
		name         string
		device       rescue.Device
		bus          rescue.Bus
		image, extra string
		// destroyOnReboot: the domain has <on_reboot>destroy</on_reboot> (the reset stops it).
		destroyOnReboot bool
		want            []string
	}{
		{"cdrom-qcow2", "cdrom", "sata", qcow2, "    <video><model type='vga'/></video>\n", false,
			[]string{"found nothing bootable on the rescue device (cdrom on bus sata; image " + qcow2 + ")", "reset it",
				"No bootable device", "Boot failed: Could not read from CDROM", "El Torito"}},
		{"legacy-gpt", "", "", gpt, "", true,
			[]string{"stopped", "before booting the rescue disk (legacy mode", "image " + gpt + ")", "UEFI-only"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "q-unboot-" + c.name
			acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{ExtraDevices: c.extra})
			if c.destroyOnReboot {
				x := strings.Replace(lv.DomainXML(t, name, secure), "<on_reboot>restart</on_reboot>", "<on_reboot>destroy</on_reboot>", 1)
				if _, err := lv.QEMU(t).DomainDefineXMLFlags(x, 0); err != nil || !strings.Contains(lv.DomainXML(t, name, secure), "<on_reboot>destroy") {
					t.Fatalf("redefine with on_reboot destroy: %v", err)
				}
			}
			orig := lv.DomainXML(t, name, secure)
			b := newBackend(t, lv.QEMUURI)
			// A loaded TCG host may take longer than the default watch to reach the boot when
			// the firmware's reads are not counted: the reset is what this test is about.
			rlibvirt.SetBootWatch(b, 30*time.Second, 0)
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
