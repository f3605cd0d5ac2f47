package domxml

import (
	"fmt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// targets tracks the target dev names and drive addresses in use, so that a new disk gets a
// name that is free and whose drive address (libvirt derives it from the name when there is no
// <address>, see virDomainDiskDefAssignAddress) is not taken by a disk with an explicit one.
type targets struct {
	names    map[string]bool
	addrs    map[string]bool // "bus/controller/bus/target/unit"
	scsiWide bool
}

func newTargets(p *parsed) *targets {
	t := &targets{names: map[string]bool{}, addrs: map[string]bool{}}
	for _, c := range p.devices.elems("controller") {
		if ty, _ := c.attr("type"); ty == "scsi" {
			if m, _ := c.attr("model"); m == "lsisas1068" {
				t.scsiWide = true
			}
		}
	}
	for _, d := range p.diskDefs() {
		if d.Target == nil {
			continue
		}
		bus := d.Target.Bus
		if bus == "" {
			bus = busOfDev(d.Target.Dev)
		}
		t.names[d.Target.Dev] = true
		if a := d.Address; a != nil && a.Drive != nil {
			t.addrs[driveKey(bus, u(a.Drive.Controller), u(a.Drive.Bus), u(a.Drive.Target), u(a.Drive.Unit))] = true
			continue
		}
		if k, ok := t.derived(bus, d.Target.Dev); ok {
			t.addrs[k] = true
		}
	}
	return t
}

func u(p *uint) uint {
	if p == nil {
		return 0
	}
	return *p
}

func driveKey(bus string, controller, b, target, unit uint) string {
	return fmt.Sprintf("%s/%d/%d/%d/%d", bus, controller, b, target, unit)
}

// derived is the drive address libvirt gives a disk without <address>, from its name.
func (t *targets) derived(bus, dev string) (string, bool) {
	idx, ok := diskNameToIndex(dev)
	if !ok {
		return "", false
	}
	switch bus {
	case "scsi":
		if t.scsiWide {
			unit := idx % 15
			if unit >= 7 {
				unit++
			}
			return driveKey(bus, idx/15, 0, 0, unit), true
		}
		return driveKey(bus, idx/7, 0, 0, idx%7), true
	case "sata":
		return driveKey(bus, idx/6, 0, 0, idx%6), true
	case "ide":
		return driveKey(bus, idx/4, (idx%4)/2, 0, idx%2), true
	case "fdc":
		return driveKey(bus, idx/2, 0, 0, idx%2), true
	}
	return "", false
}

// maxIndex limits the names of buses with a fixed number of slots on the machines we meet:
// one IDE controller (2 buses x 2 units), one floppy controller (2 drives).
func maxIndex(bus string) uint {
	switch bus {
	case "ide":
		return 4
	case "fdc":
		return 2
	}
	return 26 * 27
}

// Prefix returns the target dev prefix of a bus: vd for virtio, hd for ide, fd for fdc, sd
// for scsi, sata and usb.
func Prefix(bus string) string {
	switch bus {
	case "virtio":
		return "vd"
	case "ide":
		return "hd"
	case "fdc":
		return "fd"
	default:
		return "sd"
	}
}

// free returns the first free target name of the bus.
func (t *targets) free(bus string) (string, error) {
	for i := uint(0); i < maxIndex(bus); i++ {
		name := Prefix(bus) + indexToDiskName(i)
		if t.names[name] {
			continue
		}
		if k, ok := t.derived(bus, name); ok && t.addrs[k] {
			continue
		}
		return name, nil
	}
	return "", &rescue.InvalidError{Attribute: "bus", Msg: fmt.Sprintf("no free target on bus %q: all %d slots are used by the domain's disks", bus, maxIndex(bus))}
}

// use marks a name (and the drive address libvirt derives from it) as taken.
func (t *targets) use(name, bus string) {
	t.names[name] = true
	if k, ok := t.derived(bus, name); ok {
		t.addrs[k] = true
	}
}

// diskNameToIndex is libvirt's virDiskNameToIndex: sda=0, sdz=25, sdaa=26; digits after
// the letters (partitions) are not allowed here.
func diskNameToIndex(name string) (uint, bool) {
	if len(name) < 3 {
		return 0, false
	}
	letters := name[2:]
	var idx uint
	for j, c := range letters {
		if c < 'a' || c > 'z' {
			return 0, false
		}
		if j > 0 {
			idx = (idx + 1) * 26
		}
		idx += uint(c - 'a')
	}
	return idx, true
}

// indexToDiskName is the inverse: 0=a, 25=z, 26=aa.
func indexToDiskName(idx uint) string {
	var b []byte
	for {
		b = append([]byte{byte('a' + idx%26)}, b...)
		if idx < 26 {
			break
		}
		idx = idx/26 - 1
	}
	return string(b)
}
