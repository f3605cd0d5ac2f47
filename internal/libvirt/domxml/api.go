package domxml

import "errors"

var errTODO = errors.New("domxml: not implemented yet")

// Rescue returns the rescue definition made from the original domain XML. The original is
// not modified (Go strings are immutable, and nothing it points to is shared).
func Rescue(original string, opts Options) (string, error) { return "", errTODO }

// RootDisk returns the disk the guest's system lives on: among device='disk' disks the one
// with the lowest per-device boot order, else the first one.
func RootDisk(domainXML string) (DiskInfo, error) { return DiskInfo{}, errTODO }

// Summary lists the disks of a domain definition in document order.
func Summary(domainXML string) ([]DiskInfo, error) { return nil, errTODO }

// Machine returns the domain type, architecture, machine type and emulator of a definition.
func Machine(domainXML string) (MachineInfo, error) { return MachineInfo{}, errTODO }

// ParseHostInfo reads the disk facts from the host's domain capabilities XML
// (virConnectGetDomainCapabilities).
func ParseHostInfo(domcapsXML string) (HostInfo, error) { return HostInfo{}, errTODO }

// CheckDeviceBus says whether the rescue image can be attached as device on bus on this host;
// the error is a *rescue.InvalidError naming the pair and what the host supports.
func CheckDeviceBus(device, bus string, host HostInfo) error { return errTODO }

// DefaultBus is the bus Nova picks for a device when none is given: virtio for disk (scsi on
// s390x... see code), fdc for floppy, ide for cdrom on pc and sata on q35.
func DefaultBus(device string, host HostInfo) string { return "" }

// ResolveDeviceBus fills a missing device (disk) or bus (DefaultBus) of the stable-device mode;
// both empty stays legacy mode.
func ResolveDeviceBus(device, bus string, host HostInfo) (string, string) { return device, bus }

// ConfigDrive builds an ISO 9660 config drive (volume label config-2) holding
// openstack/latest/meta_data.json, like Nova's.
func ConfigDrive(meta Metadata) ([]byte, error) { return nil, errTODO }
