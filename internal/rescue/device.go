package rescue

import "fmt"

// Device is a rescue device type, as in Nova's hw_rescue_device.
type Device string

// The rescue device types.
const (
	DeviceDisk   Device = "disk"
	DeviceCdrom  Device = "cdrom"
	DeviceFloppy Device = "floppy"
)

// Bus is a rescue bus, as in Nova's hw_rescue_bus.
type Bus string

// The rescue buses.
const (
	BusVirtio Bus = "virtio"
	BusSCSI   Bus = "scsi"
	BusSATA   Bus = "sata"
	BusIDE    Bus = "ide"
	BusUSB    Bus = "usb"
	BusFDC    Bus = "fdc"
)

// Devices are the values accepted for the rescue device (hw_rescue_device), in one order
// everywhere (messages, validators, what a host supports).
var Devices = []string{string(DeviceCdrom), string(DeviceDisk), string(DeviceFloppy)}

// Buses are the values accepted for the rescue bus (hw_rescue_bus), the usual choice first.
var Buses = []string{string(BusVirtio), string(BusSCSI), string(BusSATA), string(BusIDE), string(BusUSB), string(BusFDC)}

// PairProblem is why a rescue device of one type cannot be attached on a bus on any host.
type PairProblem struct {
	// Why says what is wrong with the pair.
	Why string
	// Fix says which pairs to use instead.
	Fix string
}

// CheckPair applies the pairing rules every backend shares to device on bus (both known and
// non-empty): a floppy only on fdc, fdc only for a floppy, no cdrom on virtio. It returns nil
// when the pair may work (a backend may still refuse it for its host).
func CheckPair(device, bus string) *PairProblem {
	d, b := Device(device), Bus(bus)
	switch {
	case d == DeviceFloppy && b != BusFDC:
		return &PairProblem{
			Why: fmt.Sprintf("a floppy needs bus %q", BusFDC),
			Fix: fmt.Sprintf("use bus %q for a floppy, or another device on bus %q", BusFDC, b),
		}
	case b == BusFDC && d != DeviceFloppy:
		return &PairProblem{
			Why: fmt.Sprintf("bus %q only takes a floppy", BusFDC),
			Fix: fmt.Sprintf("use device %q with bus %q, or another bus for a %s", DeviceFloppy, BusFDC, d),
		}
	case d == DeviceCdrom && b == BusVirtio:
		return &PairProblem{
			Why: fmt.Sprintf("virtio-blk has no ejectable media, so a cdrom cannot be attached on bus %q", BusVirtio),
			Fix: fmt.Sprintf("use bus %q, %q or %q for a cdrom, or device %q with %s", BusSCSI, BusSATA, BusIDE, DeviceDisk, BusVirtio),
		}
	}
	return nil
}

// Invalid is the problem as an InvalidError on bus, naming the pair, the reason and the fix.
func (p *PairProblem) Invalid(device, bus string) error {
	return &InvalidError{Attribute: "bus", Msg: fmt.Sprintf("device %q on bus %q is not possible: %s. %s.", device, bus, p.Why, capitalize(p.Fix))}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
