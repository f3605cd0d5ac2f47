package domxml

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Firmware kinds, as far as a domain definition tells (see Firmware).
const (
	// FirmwareSeaBIOS is the x86 BIOS QEMU boots by default. After a boot failure it prints
	// "No bootable device." and halts, or, with <os><bios rebootTimeout='N'/>, resets the guest
	// N ms later: a reset that libvirt reports as a reboot event.
	FirmwareSeaBIOS = "seabios"
	// FirmwareUEFI is OVMF/edk2 (firmware='efi' or a pflash loader). After a boot failure it
	// drops to its boot manager or shell and does not reset the guest.
	FirmwareUEFI = "uefi"
	// FirmwareOther is any other case: a domain that is not a QEMU/KVM one, another
	// architecture's firmware (SLOF, AAVMF, s390 IPL), a custom loader, a direct kernel boot.
	FirmwareOther = "other"
)

// Firmware says which firmware boots a domain definition: FirmwareSeaBIOS for an x86 QEMU/KVM
// domain without a UEFI or custom loader and without a direct kernel boot, FirmwareUEFI for
// one with firmware='efi' or an OVMF/edk2/pflash loader, else FirmwareOther.
func Firmware(domainXML string) (string, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(domainXML); err != nil {
		return "", fmt.Errorf("parse domain XML: %w", err)
	}
	if dom.Type != "qemu" && dom.Type != "kvm" {
		return FirmwareOther, nil
	}
	os := dom.OS
	if os == nil || os.Type == nil || (os.Type.Arch != "x86_64" && os.Type.Arch != "i686") {
		return FirmwareOther, nil
	}
	if os.Firmware == "efi" {
		return FirmwareUEFI, nil
	}
	if os.Kernel != "" {
		return FirmwareOther, nil
	}
	if l := os.Loader; l != nil {
		p := strings.ToLower(strings.TrimSpace(l.Path))
		switch {
		case l.Type == "pflash" || strings.Contains(p, "ovmf") || strings.Contains(p, "edk2") || strings.Contains(p, "efi"):
			return FirmwareUEFI, nil
		case strings.HasPrefix(path.Base(p), "bios") || strings.Contains(p, "seabios"):
			return FirmwareSeaBIOS, nil
		}
		return FirmwareOther, nil
	}
	return FirmwareSeaBIOS, nil
}

// setRebootTimeout sets <os><bios rebootTimeout='ms'/>, keeping the other attributes of an
// existing <bios>.
func (p *parsed) setRebootTimeout(ms int) error {
	// libvirt's range: -1 (never reset) to 65535 ms.
	if ms < -1 || ms > 65535 {
		return fmt.Errorf("reboot timeout %d ms: want -1 to 65535", ms)
	}
	os := p.doc.root.elem("os")
	if os == nil {
		return fmt.Errorf("the domain has no <os> element")
	}
	bios := os.elem("bios")
	if bios == nil {
		n, err := fragment("<bios/>", os)
		if err != nil {
			return err
		}
		os.insertAfter(nil, n)
		bios = n
	}
	bios.setAttr("rebootTimeout", strconv.Itoa(ms))
	return nil
}
