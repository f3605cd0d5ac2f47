package libvirt

import (
	"strings"
	"testing"
	"time"
)

func TestVGAString(t *testing.T) {
	buf := make([]byte, vgaTextSize)
	for i := range buf {
		buf[i] = 0xff // unassigned memory (no VGA device) reads as all ones
	}
	if s := vgaString(buf); s != "" {
		t.Fatalf("no text expected, got %q", s)
	}
	put := func(row int, s string) {
		for i, c := range []byte(s) {
			buf[row*160+i*2], buf[row*160+i*2+1] = c, 0x07
		}
	}
	put(2, "Booting from DVD/CD...")
	put(3, "Boot failed: Could not read from CDROM (code 0005)\x01")
	put(24, "No bootable device.")
	want := "Booting from DVD/CD...\nBoot failed: Could not read from CDROM (code 0005)\n\nNo bootable device."
	if got := vgaString(buf); got != want {
		t.Errorf("vgaString:\n%q\nwant\n%q", got, want)
	}
}

func TestBootFailure(t *testing.T) {
	cd := bootTarget{InstanceID: "web-1", Device: "cdrom", Bus: "sata", Image: "/img/disk.qcow2"}
	got := bootFailure(cd, "reset", 3800*time.Millisecond, "Boot failed: Could not read from CDROM (code 0005)")
	for _, w := range []string{"nothing bootable on the rescue device (cdrom on bus sata; image /img/disk.qcow2)", "reset it 3.8s after the start",
		"screen showed:\n\nBoot failed: Could not read from CDROM (code 0005)\n\n", "El Torito"} {
		if !strings.Contains(got, w) {
			t.Errorf("reason %q does not say %q", got, w)
		}
	}
	legacy := bootTarget{InstanceID: "web-1", Image: "/img/x.iso"}
	got = bootFailure(legacy, "stopped", 2*time.Second, "")
	for _, w := range []string{"stopped 2s after the start", "the rescue disk (legacy mode", "on_reboot", "0x55AA"} {
		if !strings.Contains(got, w) {
			t.Errorf("reason %q does not say %q", got, w)
		}
	}
	if strings.Contains(got, "screen") {
		t.Errorf("reason mentions a screen it did not read: %q", got)
	}
}

func TestRebootTimeoutOnlyForSeaBIOS(t *testing.T) {
	const bios = `<domain type='kvm'><name>a</name><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`
	const efi = `<domain type='kvm'><name>a</name><os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os></domain>`
	b := &Backend{}
	if ms := b.rebootTimeout(bios); ms == nil || *ms != 500 {
		t.Errorf("SeaBIOS domain: reboot timeout %v, want 500 ms", ms)
	}
	if ms := b.rebootTimeout(efi); ms != nil {
		t.Errorf("UEFI domain: reboot timeout %d, want none (not watched)", *ms)
	}
	b.bootWatch = -1
	if ms := b.rebootTimeout(bios); ms != nil {
		t.Errorf("watch off: reboot timeout %d, want none", *ms)
	}
}
