package acctest_test

import (
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
)

// The private libvirtd through acctest.Libvirt: a pc guest boots from its own disk, answers an
// ACPI shutdown, and is removed at the end; RunMain stops the daemon.
func TestLibvirtSmoke(t *testing.T) {
	lv := acctest.Libvirt(t)
	if lv2 := acctest.Libvirt(t); lv2 != lv {
		t.Fatal("acctest.Libvirt started a second daemon")
	}
	lv.DefineGuest(t, "acc-smoke", libvirtd.GuestOptions{Machine: "pc", Start: true})
	if !strings.Contains(lv.DebugLog("acc-smoke"), libvirtd.BootedPrefix+libvirtd.BootRoot) {
		t.Fatalf("no boot line in %s", lv.DebugLogPath("acc-smoke"))
	}
	l := lv.Connect(t, lv.QEMUURI)
	d, err := l.DomainLookupByName("acc-smoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DomainShutdownFlags(d, libvirt.DomainShutdownAcpiPowerBtn); err != nil {
		t.Fatal(err)
	}
	if r := lv.WaitState(t, "acc-smoke", libvirt.DomainShutoff, time.Minute); r != int32(libvirt.DomainShutoffShutdown) {
		t.Errorf("shutoff reason %d, want shutdown", r)
	}
}

// test:///default through the daemon, with the URI the provider would get.
func TestLibvirtTestDriverURI(t *testing.T) {
	lv := acctest.Libvirt(t)
	l := lv.Connect(t, lv.TestURI)
	uri, err := l.ConnectGetUri()
	if err != nil || uri != "test:///default" {
		t.Fatalf("ConnectGetUri = %q, %v", uri, err)
	}
	if _, err := l.DomainLookupByName("test"); err != nil {
		t.Fatalf("the test driver's default domain: %v", err)
	}
}
