// Package domxml holds the pure parts of the libvirt rescue backend: it derives the rescue
// definition of a domain from its original XML, validates a device/bus pair against the host's
// domain capabilities and the known rules, reads facts from a domain definition (root disk,
// disks, machine) and builds the config drive image. It talks to no daemon and no network.
//
// The rescue definition is made the way Nova's libvirt driver makes it:
//
//   - Legacy mode (Options.Device and Options.Bus empty): the rescue image (normally a fresh
//     copy-on-write overlay) becomes the first, booting disk. It takes the target name and the
//     bus of the original root disk; the root disk follows it under the next free target name of
//     its bus, without its <address> so that libvirt assigns a new one. Other disks keep their
//     order and addresses.
//   - Stable-device mode (Device and/or Bus set): every original device keeps its order and
//     address; the rescue image is appended as the given device on the given bus with
//     <boot order='1'/>. <os><boot dev=.../> is removed, the other per-device boot orders are
//     shifted by one, and a virtio-scsi controller is added for bus scsi when there is none.
//
// Both modes can also set <os><bios rebootTimeout> (Options.RebootTimeout), so that SeaBIOS
// resets the guest after a boot failure instead of halting silently; Firmware tells whether a
// domain boots with SeaBIOS at all.
//
// Unknown content survives: libvirtxml only models what it knows and drops the rest on a
// round trip (an element or attribute of a newer libvirt, a hypervisor namespace it does not
// model). So Rescue never re-marshals the whole domain through libvirtxml: it reads the domain
// with libvirtxml to decide what to do, then edits a generic XML tree of the original (every
// element, attribute, namespace, comment and the <metadata> kept as they are) and inserts the
// few new elements, which are built with libvirtxml. See tree.go. The output is written the
// way libvirt writes XML (single-quoted attributes, empty elements self-closed); untouched
// parts are equal to the original token for token.
//
// New disks get a target name that is free and whose drive address (libvirt derives it from
// the name) is not taken by a disk with an explicit <address>. In legacy mode the rescue disk
// also takes the root disk's <address>, so it sits exactly where the root disk was.
//
// Validation: Rescue itself refuses pairs that cannot work on the domain's machine (the rules
// of CheckDeviceBus without capabilities, read-only disks on ide/sata, usb without a USB
// controller). The backend should call CheckDeviceBus with ParseHostInfo of the host's domain
// capabilities at plan time, so the error also says what the host supports.
//
// Usage in the backend:
//
//	orig, _ := l.DomainGetXMLDesc(dom, libvirt.DomainXMLInactive|libvirt.DomainXMLSecure)
//	m, err := domxml.Machine(orig)
//	caps, _ := l.ConnectGetDomainCapabilities(libvirt.OptString{emulator}, libvirt.OptString{m.Arch},
//		libvirt.OptString{m.Machine}, libvirt.OptString{m.DomainType}, 0)
//	host, err := domxml.ParseHostInfo(caps)
//	device, bus := domxml.ResolveDeviceBus(req.Device, req.Bus, m) // both empty: legacy mode
//	if err := domxml.CheckDeviceBus(device, bus, host); err != nil {
//		return err // *rescue.InvalidError{Attribute: "bus" or "device"}
//	}
//	root, err := domxml.RootDisk(orig) // its backing image is the default rescue image
//	// (root.Backing when the XML has a <backingStore>, else ask the storage API)
//	iso, err := domxml.ConfigDrive(domxml.Metadata{UUID: uuid, Name: name, AdminPass: pass})
//	// upload the overlay and iso through the storage API, then:
//	rescueXML, err := domxml.Rescue(orig, domxml.Options{
//		Device: device, Bus: bus,
//		Image:       domxml.Source{Pool: "default", Volume: "web-1.rescue.qcow2"},
//		Format:      "qcow2",
//		ConfigDrive: &domxml.Source{Pool: "default", Volume: "web-1.config.iso"},
//	})
//	l.DomainDefineXMLFlags(rescueXML, 0)
package domxml
