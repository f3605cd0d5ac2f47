package acctest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var libvirtAtExit sync.Once

// Libvirt returns the test binary's private system libvirtd (started on first use, stopped by
// RunMain). Usage:
//
//	lv := acctest.Libvirt(t)
//	lv.DefineGuest(t, "web-1", libvirtd.GuestOptions{Machine: "pc", Start: true})
//	cfg := fmt.Sprintf(`provider "rescue" { libvirt { uri = %q } }`, lv.QEMUURI) // or lv.TestURI
//	// image_id = lv.Images().RescueISO, device = "cdrom", bus = "sata"
//	lv.Mark(t, "web-1")                                  // before terraform apply
//	lv.WaitBooted(t, "web-1", libvirtd.BootRescueISO, time.Minute)
//	x := lv.DomainXML(t, "web-1", libvirt.DomainXMLInactive)
//	lv.Restart(t)                                        // libvirtd restart, guests keep running
//
// See package libvirtd for the images (BootRoot, BootBase, ...) and GuestOptions.
func Libvirt(t testing.TB) *libvirtd.Env {
	t.Helper()
	libvirtAtExit.Do(func() { AtExit(libvirtd.StopShared) })
	return libvirtd.Shared(t)
}

// LibvirtProviderConfig returns a provider block for the libvirt backend at uri (for example
// acctest.Libvirt(t).QEMUURI or .TestURI).
func LibvirtProviderConfig(uri string) string {
	return fmt.Sprintf("provider \"rescue\" {\n  libvirt {\n    uri = %q\n  }\n}\n", uri)
}

// QEMUGuest defines and starts a boot-sector guest on lv's QEMU driver. At the end of the test
// a guest still in a rescue (or in error, or halfway) is unrescued, so that no overlay or secret
// is left, before the harness removes it; a rescue another live run holds is left alone.
func QEMUGuest(t *testing.T, lv *libvirtd.Env, name string, o libvirtd.GuestOptions) {
	t.Helper()
	o.Start = true
	lv.DefineGuest(t, name, o)
	t.Cleanup(func() {
		b, err := libvirt.New(context.Background(), libvirt.Config{URI: lv.QEMUURI})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer func() { _ = b.Close() }()
		if inst, err := b.Get(context.Background(), name); err == nil && inst.State != rescue.StateActive && inst.State != rescue.StateStopped {
			var ip *rescue.InProgressError
			if err := b.Unrescue(context.Background(), name); err != nil && !errors.As(err, &ip) {
				// (Another live run's rescue, which a test made on purpose, is left to it.)
				t.Errorf("cleanup unrescue of %s: %v", name, err)
			}
		}
	})
}
