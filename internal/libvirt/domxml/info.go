package domxml

import (
	"errors"

	"libvirt.org/go/libvirtxml"
)

// RootDisk returns the disk the guest's system lives on: among device='disk' disks the one
// with the lowest per-device boot order, else the first one (with <os><boot dev='hd'/> the
// firmware boots the first disk). Cdroms and floppies are never the root disk.
func RootDisk(domainXML string) (DiskInfo, error) {
	p, err := parse(domainXML)
	if err != nil {
		return DiskInfo{}, err
	}
	disks := p.diskDefs()
	i := rootIndex(disks)
	if i < 0 {
		return DiskInfo{}, errors.New("the domain has no disk with device='disk'")
	}
	return diskInfo(i, disks[i]), nil
}

// Summary lists the disks of a domain definition in document order.
func Summary(domainXML string) ([]DiskInfo, error) {
	p, err := parse(domainXML)
	if err != nil {
		return nil, err
	}
	var out []DiskInfo
	for i, d := range p.diskDefs() {
		out = append(out, diskInfo(i, d))
	}
	return out, nil
}

// Machine returns the domain type, architecture, machine type and emulator of a definition.
func Machine(domainXML string) (MachineInfo, error) {
	p, err := parse(domainXML)
	if err != nil {
		return MachineInfo{}, err
	}
	return p.machine(), nil
}

func diskInfo(i int, d libvirtxml.DomainDisk) DiskInfo {
	di := DiskInfo{Index: i, Device: d.Device}
	if di.Device == "" {
		di.Device = "disk"
	}
	if d.Target != nil {
		di.Target, di.Bus = d.Target.Dev, d.Target.Bus
	}
	if d.Driver != nil {
		di.Format = d.Driver.Type
	}
	if d.Boot != nil {
		di.BootOrder = d.Boot.Order
	}
	di.ReadOnly = d.ReadOnly != nil
	di.Type, di.File, di.Pool, di.Volume, di.Protocol, di.Name = source(d.Source)
	for b := d.BackingStore; b != nil; b = b.BackingStore {
		bk := Backing{}
		if b.Format != nil {
			bk.Format = b.Format.Type
		}
		ty, file, pool, vol, _, name := source(b.Source)
		bk.Type = ty
		switch {
		case file != "":
			bk.Path = file
		case pool != "":
			bk.Path = pool + "/" + vol
		default:
			bk.Path = name
		}
		if bk.Type == "" && bk.Path == "" {
			break // <backingStore/>: end of the chain
		}
		di.Backing = append(di.Backing, bk)
	}
	return di
}

func source(s *libvirtxml.DomainDiskSource) (typ, file, pool, volume, protocol, name string) {
	switch {
	case s == nil:
	case s.File != nil:
		return "file", s.File.File, "", "", "", ""
	case s.Block != nil:
		return "block", s.Block.Dev, "", "", "", ""
	case s.Volume != nil:
		return "volume", "", s.Volume.Pool, s.Volume.Volume, "", ""
	case s.Network != nil:
		return "network", "", "", "", s.Network.Protocol, s.Network.Name
	case s.Dir != nil:
		return "dir", s.Dir.Dir, "", "", "", ""
	case s.NVME != nil:
		return "nvme", "", "", "", "", ""
	}
	return "", "", "", "", "", ""
}
