package domxml

import (
	"fmt"
	"strings"
)

// Source says where an image is on the host: exactly one of File, Block or Pool+Volume.
type Source struct {
	// File is the path of an image file on the host.
	File string
	// Block is the path of a block device on the host.
	Block string
	// Pool and Volume name a storage volume (<disk type='volume'>).
	Pool, Volume string
}

// Options says how to attach the rescue image.
type Options struct {
	// Device is cdrom, disk or floppy. Device and Bus both empty select legacy mode.
	Device string
	// Bus is scsi, virtio, ide, usb, sata or fdc. An empty bus in stable mode is resolved with
	// DefaultBus for the domain's machine.
	Bus string
	// Image is the rescue image: in legacy mode normally a fresh overlay.
	Image Source
	// Format is the driver type of the image: qcow2 (overlays) or raw (ISO, floppy image).
	// Empty: qcow2 for a disk, raw for a cdrom or floppy.
	Format string
	// ReadOnly attaches the image read-only (always so for a cdrom).
	ReadOnly bool
	// ConfigDrive, when set, is a config drive ISO (label config-2) attached as a read-only
	// cdrom that does not boot.
	ConfigDrive *Source
	// ConfigDriveBus is the bus of the config drive; empty: ide on pc, sata on q35, scsi on
	// other architectures, like Nova.
	ConfigDriveBus string
	// RebootTimeout, when set, becomes <os><bios rebootTimeout> (milliseconds, -1 to 65535):
	// SeaBIOS then resets the guest that long after a boot failure instead of halting, which
	// the backend can watch for (see Firmware). Other <bios> attributes are kept.
	RebootTimeout *int
}

// Stable reports whether the options select the stable-device mode.
func (o Options) Stable() bool { return o.Device != "" || o.Bus != "" }

// DiskInfo describes one <disk> of a domain definition.
type DiskInfo struct {
	// Index is the position among the domain's <disk> elements, from 0.
	Index int
	// Device is disk, cdrom, floppy or lun.
	Device string
	// Type is the source type: file, block, volume, network, dir, ...
	Type string
	// Target and Bus are the target dev name (vda) and bus (virtio).
	Target, Bus string
	// File is the source file or block device path.
	File string
	// Pool and Volume name the storage volume of a volume disk.
	Pool, Volume string
	// Protocol and Name are the network source (rbd, iscsi, ...) and its name (pool/image).
	Protocol, Name string
	// Format is the driver type (qcow2, raw).
	Format string
	// BootOrder is the per-device boot order, 0 when none.
	BootOrder uint
	// ReadOnly is set for <readonly/> disks.
	ReadOnly bool
	// Backing is the backing chain written in the XML (<backingStore>), outermost first. The
	// inactive XML often has none: then ask the storage API for the volume's backing store.
	Backing []Backing
}

// Backing is one image of a backing chain.
type Backing struct {
	// Type is the source type (file, block, network, ...).
	Type string
	// Path is the file or block device path, or the network source name.
	Path string
	// Format is the image format.
	Format string
}

// String renders the disk for messages and tests, e.g. "disk vda/virtio file=/a.qcow2 boot=1".
func (d DiskInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s", d.Device, d.Target, d.Bus)
	switch {
	case d.Pool != "" || d.Volume != "":
		fmt.Fprintf(&b, " volume=%s/%s", d.Pool, d.Volume)
	case d.Protocol != "":
		fmt.Fprintf(&b, " %s=%s", d.Protocol, d.Name)
	case d.File != "":
		fmt.Fprintf(&b, " %s=%s", d.Type, d.File)
	}
	if d.Format != "" {
		fmt.Fprintf(&b, " format=%s", d.Format)
	}
	if d.ReadOnly {
		b.WriteString(" ro")
	}
	if d.BootOrder > 0 {
		fmt.Fprintf(&b, " boot=%d", d.BootOrder)
	}
	for _, bk := range d.Backing {
		fmt.Fprintf(&b, " <- %s", bk.Path)
	}
	return b.String()
}

// MachineInfo is what a domain runs on.
type MachineInfo struct {
	// DomainType is the <domain type>: kvm, qemu, test, ...
	DomainType string
	// Arch is the <os><type arch>: x86_64, aarch64, ppc64le, ...
	Arch string
	// Machine is the <os><type machine>: pc-i440fx-7.2, pc-q35-7.2, ...
	Machine string
	// Emulator is the <devices><emulator> path, if any.
	Emulator string
}

// Q35 reports whether the machine is a q35 (ICH9) machine.
func (m MachineInfo) Q35() bool { return strings.Contains(m.Machine, "q35") }

// HostInfo is what the host supports for disks, from its domain capabilities.
type HostInfo struct {
	// DomainType, Arch and Machine are the ones the capabilities were asked for.
	DomainType, Arch, Machine string
	// DiskDevices are the supported disk device types (disk, cdrom, floppy, lun); empty means unknown.
	DiskDevices []string
	// Buses are the supported disk buses (ide, scsi, virtio, usb, sata, fdc, ...); empty means unknown.
	Buses []string
}

// Metadata is the content of a config drive's openstack/latest/meta_data.json.
type Metadata struct {
	// UUID is the instance's UUID.
	UUID string
	// Name is the instance's name.
	Name string
	// Hostname is the guest's host name; empty means Name.
	Hostname string
	// AdminPass is the rescue password (admin_pass); empty means none is written.
	AdminPass string
	// AvailabilityZone is written when set.
	AvailabilityZone string
	// PublicKeys maps key names to OpenSSH public keys.
	PublicKeys map[string]string
	// Meta is the instance's user metadata (meta).
	Meta map[string]string
}
