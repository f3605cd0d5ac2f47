package domxml

import (
	"strings"
	"testing"
)

func TestFirmware(t *testing.T) {
	pc := readInput(t, "pc-bootdev")
	os := func(inner string) string {
		return strings.Replace(pc, "<boot dev='cdrom'/>", inner+"<boot dev='cdrom'/>", 1)
	}
	cases := []struct{ name, xml, want string }{
		{"pc default", pc, FirmwareSeaBIOS},
		{"seabios rom loader", readInput(t, "pc-bios-serial"), FirmwareSeaBIOS},
		{"ovmf pflash", readInput(t, "q35-bootorder"), FirmwareUEFI},
		{"firmware efi", strings.Replace(pc, "<os>", "<os firmware='efi'>", 1), FirmwareUEFI},
		{"ovmf rom", os("<loader type='rom'>/usr/share/OVMF/OVMF.fd</loader>"), FirmwareUEFI},
		{"qboot", os("<loader type='rom'>/usr/share/qemu/qboot.rom</loader>"), FirmwareOther},
		{"direct kernel", os("<kernel>/boot/vmlinuz</kernel>"), FirmwareOther},
		{"ppc64", readInput(t, "ppc64-pseries"), FirmwareOther},
		{"test driver", strings.Replace(pc, "<domain type='kvm'>", "<domain type='test'>", 1), FirmwareOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Firmware(c.xml)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Firmware = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := Firmware("<domain"); err == nil {
		t.Error("no error for broken XML")
	}
}
