package acctest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
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
