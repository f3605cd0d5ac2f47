package libvirtd_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tier"
)

func TestMain(m *testing.M) { os.Exit(libvirtd.RunMain(m)) }

// A pc guest boots from its own root disk and answers an ACPI shutdown.
func TestGuestBootsAndAnswersACPI(t *testing.T) {
	lv := libvirtd.Shared(t)
	lv.DefineGuest(t, "smoke-pc", libvirtd.GuestOptions{Machine: "pc", Start: true})
	if st, _ := lv.State(t, "smoke-pc"); st != libvirt.DomainRunning {
		t.Fatalf("state %d, want running", st)
	}
	if log := lv.DebugLog("smoke-pc"); !strings.Contains(log, libvirtd.BootedPrefix+libvirtd.BootRoot+"\n") {
		t.Fatalf("debug log has no boot line:\n%s", log)
	}
	x := lv.DomainXML(t, "smoke-pc", 0)
	for _, want := range []string{lv.RootDisk("smoke-pc"), lv.Images().ConfigISO, "machine='pc-i440fx"} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %q:\n%s", want, x)
		}
	}
	l := lv.QEMU(t)
	if err := l.DomainShutdownFlags(lv.Domain(t, "smoke-pc"), libvirt.DomainShutdownAcpiPowerBtn); err != nil {
		t.Fatal(err)
	}
	reason := lv.WaitState(t, "smoke-pc", libvirt.DomainShutoff, time.Minute)
	if reason != int32(libvirt.DomainShutoffShutdown) {
		t.Errorf("shutoff reason %d, want %d (shutdown)", reason, libvirt.DomainShutoffShutdown)
	}
	if log := lv.DebugLog("smoke-pc"); !strings.Contains(log, "GUEST: ACPI power button seen") {
		t.Errorf("guest did not report the power button:\n%s", log)
	}
	// started again, it boots from its root disk again (WaitBooted needs a new boot line)
	lv.Mark(t, "smoke-pc")
	if err := l.DomainCreate(lv.Domain(t, "smoke-pc")); err != nil {
		t.Fatal(err)
	}
	lv.WaitBooted(t, "smoke-pc", libvirtd.BootRoot, time.Minute)
}

// test:///default answers through the daemon; its state is shared by connections and survives
// the closing of all client connections (the harness keeps one open).
func TestTestDriverThroughDaemon(t *testing.T) {
	lv := libvirtd.Shared(t)
	if !strings.HasPrefix(lv.TestURI, "test+unix:///default?socket=") {
		t.Fatalf("TestURI %q", lv.TestURI)
	}
	l1, err := lv.Dial(lv.TestURI)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := l1.ConnectGetUri()
	if err != nil || uri != "test:///default" {
		t.Fatalf("ConnectGetUri = %q, %v", uri, err)
	}
	const x = `<domain type='test'><name>td-smoke</name><memory unit='MiB'>64</memory>` +
		`<os><type arch='x86_64'>hvm</type></os></domain>`
	if _, err := l1.DomainDefineXMLFlags(x, 0); err != nil {
		t.Fatal(err)
	}
	if err := l1.Disconnect(); err != nil {
		t.Fatal(err)
	}
	l2 := lv.Connect(t, lv.TestURI)
	d, err := l2.DomainLookupByName("td-smoke")
	if err != nil {
		t.Fatalf("domain defined by a closed connection is gone: %v", err)
	}
	if err := l2.DomainUndefine(d); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.DomainLookupByName("td-smoke"); !libvirtd.IsNoDomain(err) {
		t.Fatalf("lookup after undefine: %v, want not found", err)
	}
}

// Every test image boots and prints its own line (q35: rescue ISO on sata, rescue disk, floppy).
func TestImagesBoot(t *testing.T) {
	lv := libvirtd.Shared(t)
	im := lv.Images()
	l := lv.QEMU(t)
	cases := []struct {
		name, machine, want string
		edit                func(string) string
	}{
		{"img-iso", "q35", libvirtd.BootRescueISO, func(x string) string {
			x = strings.Replace(x, "<boot dev='hd'/>", "<boot dev='cdrom'/>", 1)
			return strings.Replace(x, im.ConfigISO, im.RescueISO, 1)
		}},
		{"img-disk", "pc", libvirtd.BootRescueDisk, func(x string) string { return x }},
		{"img-floppy", "pc", libvirtd.BootRescueFloppy, func(x string) string {
			x = strings.Replace(x, "<boot dev='hd'/>", "<boot dev='fd'/>", 1)
			return strings.Replace(x, "<serial ", "<disk type='file' device='floppy'><driver name='qemu' type='raw'/>"+
				"<source file='"+im.RescueFloppy+"'/><target dev='fda' bus='fdc'/><readonly/></disk>\n<serial ", 1)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := lv.GuestXML(c.name, libvirtd.GuestOptions{Machine: c.machine})
			if err != nil {
				t.Fatal(err)
			}
			src := im.Root
			if c.want == libvirtd.BootRescueDisk {
				src = im.RescueDisk
			}
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(lv.RootDisk(c.name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = lv.RemoveGuest(l, c.name) })
			d, err := l.DomainDefineXMLFlags(c.edit(x), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.DomainCreate(d); err != nil {
				t.Fatal(err)
			}
			lv.WaitBooted(t, c.name, c.want, time.Minute)
		})
	}
}

// The overlay variant boots its own first cluster; its backing file is the base image. The
// ACPI-ignoring variant stays up after the power button and needs a forced power-off.
func TestGuestVariants(t *testing.T) {
	lv := libvirtd.Shared(t)
	lv.DefineGuest(t, "var-overlay", libvirtd.GuestOptions{Machine: "q35", Backing: true, Start: true})
	x := lv.DomainXML(t, "var-overlay", 0)
	if !strings.Contains(x, "<backingStore type='file'") || !strings.Contains(x, lv.Images().Base) {
		t.Errorf("live XML shows no backing store %s:\n%s", lv.Images().Base, x)
	}
	if err := lv.QEMU(t).DomainDestroy(lv.Domain(t, "var-overlay")); err != nil {
		t.Fatal(err)
	}

	lv.DefineGuest(t, "var-noacpi", libvirtd.GuestOptions{Machine: "pc", IgnoreACPI: true, Start: true})
	l := lv.QEMU(t)
	d := lv.Domain(t, "var-noacpi")
	if err := l.DomainShutdownFlags(d, libvirt.DomainShutdownAcpiPowerBtn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a responsive guest is off after about 0.3 s
	if st, _ := lv.State(t, "var-noacpi"); st != libvirt.DomainRunning {
		t.Fatalf("guest that ignores ACPI is in state %d, want running", st)
	}
	if log := lv.DebugLog("var-noacpi"); !strings.Contains(log, "GUEST: ignoring the ACPI power button") {
		t.Errorf("debug log:\n%s", log)
	}
	if err := l.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	if reason := lv.WaitState(t, "var-noacpi", libvirt.DomainShutoff, time.Minute); reason != int32(libvirt.DomainShutoffDestroyed) {
		t.Errorf("shutoff reason %d, want destroyed", reason)
	}
}

// A running guest survives a libvirtd restart, and the daemon answers again on the same socket.
func TestRestart(t *testing.T) {
	lv := libvirtd.Shared(t)
	lv.DefineGuest(t, "rs-1", libvirtd.GuestOptions{Start: true})
	old := lv.PID()
	lv.Restart(t)
	if lv.PID() == old {
		t.Fatalf("daemon PID unchanged (%d)", old)
	}
	if st, _ := lv.State(t, "rs-1"); st != libvirt.DomainRunning {
		t.Fatalf("guest state %d after restart, want running", st)
	}
	lv.Connect(t, lv.TestURI)
	// the guest is still managed: ACPI shutdown through the new daemon works
	if err := lv.QEMU(t).DomainShutdownFlags(lv.Domain(t, "rs-1"), libvirt.DomainShutdownAcpiPowerBtn); err != nil {
		t.Fatal(err)
	}
	lv.WaitState(t, "rs-1", libvirt.DomainShutoff, time.Minute)
}

// The storage driver works in the private daemon: a transient dir pool over the images and a
// qcow2 overlay volume backed by the rescue disk (what the backend does for image_id).
func TestStorageOverlay(t *testing.T) {
	lv := libvirtd.Shared(t)
	l := lv.QEMU(t)
	dir := t.TempDir()
	p, err := l.StoragePoolCreateXML("<pool type='dir'><name>st-smoke</name><target><path>"+dir+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.StoragePoolDestroy(p) })
	v, err := l.StorageVolCreateXML(p, `<volume><name>ov.qcow2</name><capacity unit='MiB'>16</capacity>
  <target><format type='qcow2'/></target>
  <backingStore><path>`+lv.Images().RescueDisk+`</path><format type='qcow2'/></backingStore></volume>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, err := l.StorageVolGetXMLDesc(v, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x, lv.Images().RescueDisk) {
		t.Errorf("overlay volume has no backing store:\n%s", x)
	}
	if err := l.StorageVolDelete(v, 0); err != nil {
		t.Fatal(err)
	}
}

// A daemon whose owning test binary died is found by Sweep and stopped: its guests are
// destroyed, libvirtd is stopped and its directories are removed.
func TestSweepStopsOrphanedDaemon(t *testing.T) {
	tier.NeedsDaemons(t, "a private libvirtd")
	d, err := libvirtd.Start(libvirtd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	l, err := d.Dial(d.QEMUURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DefineGuest(l, "orphan", libvirtd.GuestOptions{Start: true}); err != nil {
		t.Fatal(err)
	}
	_ = l.Disconnect()
	pidFiles, _ := os.ReadDir(d.Dir + "/run/libvirt/qemu")
	// pretend the owner died: a PID that has exited
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Dir+"/owner", []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	report := strings.Join(libvirtd.Sweep(), "\n")
	if !strings.Contains(report, "destroyed running guests orphan") || !strings.Contains(report, "removed "+d.Dir) {
		t.Errorf("sweep report %q (pid files before: %d)", report, len(pidFiles))
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("state dir %s still there: %v", d.Dir, err)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z") {
		t.Errorf("tini pid %d still alive: %s", pid, b)
	}
}
