package domxml

import (
	"fmt"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// ParseHostInfo reads the disk facts from the host's domain capabilities XML
// (virConnectGetDomainCapabilities, asked for the domain's emulator, arch, machine and type).
func ParseHostInfo(domcapsXML string) (HostInfo, error) {
	var caps libvirtxml.DomainCaps
	if err := caps.Unmarshal(domcapsXML); err != nil {
		return HostInfo{}, fmt.Errorf("parse domain capabilities: %w", err)
	}
	h := HostInfo{DomainType: caps.Domain, Arch: caps.Arch, Machine: caps.Machine}
	if caps.Devices != nil && caps.Devices.Disk != nil {
		if caps.Devices.Disk.Supported == "no" {
			return h, fmt.Errorf("domain capabilities: the host supports no disks for %s/%s", caps.Arch, caps.Machine)
		}
		for _, e := range caps.Devices.Disk.Enums {
			switch e.Name {
			case "diskDevice":
				h.DiskDevices = append([]string{}, e.Values...)
			case "bus":
				h.Buses = append([]string{}, e.Values...)
			}
		}
	}
	return h, nil
}

// DefaultBus is the bus Nova's libvirt driver picks for a device type when none is given
// (blockinfo.get_disk_bus_for_device_type): fdc for a floppy; virtio for a disk; for a cdrom
// sata on q35, ide on other x86 machines, scsi on other architectures (POWER, ARM, s390x).
func DefaultBus(device string, m MachineInfo) string {
	return string(defaultBus(rescue.Device(device), m))
}

func defaultBus(device rescue.Device, m MachineInfo) rescue.Bus {
	switch device {
	case rescue.DeviceFloppy:
		return rescue.BusFDC
	case rescue.DeviceCdrom:
		switch {
		case !isX86(m.Arch):
			return rescue.BusSCSI
		case m.Q35():
			return rescue.BusSATA
		default:
			return rescue.BusIDE
		}
	default:
		return rescue.BusVirtio
	}
}

// ResolveDeviceBus fills the missing half of a stable-device request: device defaults to
// disk (Nova's hw_rescue_device default), bus to DefaultBus. Both empty stay empty (legacy).
func ResolveDeviceBus(device, bus string, m MachineInfo) (string, string) {
	if device == "" && bus == "" {
		return "", ""
	}
	if device == "" {
		device = string(rescue.DeviceDisk)
		if bus == string(rescue.BusFDC) {
			device = string(rescue.DeviceFloppy)
		}
	}
	if bus == "" {
		bus = DefaultBus(device, m)
	}
	return device, bus
}

func isX86(arch string) bool {
	return arch == "" || arch == "x86_64" || arch == "i686" || arch == "i386"
}

func isPOWER(arch string) bool { return strings.HasPrefix(arch, "ppc") }

// rule says why device on bus cannot work on any host of this machine/arch, or "": the rules
// every backend shares (rescue.CheckPair), then libvirt's own.
func rule(device, bus string, h HostInfo) string {
	if p := rescue.CheckPair(device, bus); p != nil {
		return p.Why
	}
	d, b := rescue.Device(device), rescue.Bus(bus)
	switch {
	case d == rescue.DeviceCdrom && b == rescue.BusUSB:
		return "libvirt attaches a USB cdrom as a usb-storage disk, from which the firmware does not boot an El Torito (ISO) image"
	case b == rescue.BusIDE && h.Q35():
		return fmt.Sprintf("the machine type %q (q35) has no IDE controller", h.Machine)
	case b == rescue.BusIDE && isPOWER(h.Arch):
		return fmt.Sprintf("POWER (%s) has no IDE controller", h.Arch)
	}
	return ""
}

// Q35 reports whether the capabilities are for a q35 machine.
func (h HostInfo) Q35() bool { return strings.Contains(h.Machine, "q35") }

// Supports returns, for each device type the host knows, the buses a rescue device of that type
// can use, by the host's capabilities and the known rules.
func (h HostInfo) Supports() map[string][]string {
	out := map[string][]string{}
	for _, d := range rescue.Devices {
		if len(h.DiskDevices) > 0 && !slices.Contains(h.DiskDevices, d) {
			continue
		}
		for _, b := range rescue.Buses {
			if len(h.Buses) > 0 && !slices.Contains(h.Buses, b) {
				continue
			}
			if rule(d, b, h) == "" {
				out[d] = append(out[d], b)
			}
		}
	}
	return out
}

// supportText renders Supports: "cdrom on scsi, sata, ide; disk on virtio, ...; floppy on fdc".
func (h HostInfo) supportText() string {
	s := h.Supports()
	var parts []string
	for _, d := range rescue.Devices {
		if len(s[d]) > 0 {
			parts = append(parts, d+" on "+strings.Join(s[d], ", "))
		}
	}
	where := "This host"
	if h.Machine != "" || h.Arch != "" {
		where = fmt.Sprintf("This host (%s)", strings.Trim(h.Arch+" "+h.Machine, " "))
	}
	if len(parts) == 0 {
		return where + " supports no rescue device."
	}
	return where + " supports: " + strings.Join(parts, "; ") + "."
}

// CheckDeviceBus says whether a rescue image can be attached as device on bus on this host,
// by its domain capabilities (DiskDevices and Buses; empty lists are not checked) and the
// rules: those every backend shares (rescue.CheckPair: a floppy only on fdc and fdc only for a
// floppy, no cdrom on virtio), then those learnt from libvirt and QEMU (no cdrom on usb, no IDE
// on q35 or POWER). The error is a *rescue.InvalidError naming the
// pair and what the host supports; Attribute is "device" for an unknown or unsupported device
// type, else "bus".
func CheckDeviceBus(device, bus string, host HostInfo) error {
	bad := func(attr, why string) error {
		return &rescue.InvalidError{Attribute: attr, Msg: fmt.Sprintf("device %q on bus %q is not possible: %s. %s", device, bus, why, host.supportText())}
	}
	if !slices.Contains(rescue.Devices, device) {
		return bad("device", "device must be one of "+strings.Join(rescue.Devices, ", "))
	}
	if !slices.Contains(rescue.Buses, bus) {
		return bad("bus", "bus must be one of "+strings.Join(rescue.Buses, ", "))
	}
	if len(host.DiskDevices) > 0 && !slices.Contains(host.DiskDevices, device) {
		return bad("device", fmt.Sprintf("the host's domain capabilities list no %s device", device))
	}
	if len(host.Buses) > 0 && !slices.Contains(host.Buses, bus) {
		return bad("bus", fmt.Sprintf("the host's domain capabilities list no %s bus", bus))
	}
	if why := rule(device, bus, host); why != "" {
		return bad("bus", why)
	}
	return nil
}
