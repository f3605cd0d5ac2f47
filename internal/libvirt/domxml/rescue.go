package domxml

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// parsed is a domain definition read twice: as libvirtxml's model (to decide) and as a
// generic tree (to edit without losing anything). disks[i] is the tree node of dom's Disks[i].
type parsed struct {
	dom     libvirtxml.Domain
	doc     *document
	devices *node
	disks   []*node
}

func parse(domainXML string) (*parsed, error) {
	p := &parsed{}
	if err := p.dom.Unmarshal(domainXML); err != nil {
		return nil, fmt.Errorf("parse domain XML: %w", err)
	}
	doc, err := parseTree(domainXML)
	if err != nil {
		return nil, fmt.Errorf("parse domain XML: %w", err)
	}
	if doc.root.name.Space != "" || doc.root.name.Local != "domain" {
		return nil, fmt.Errorf("parse domain XML: root element is <%s>, not <domain>", rawName(doc.root.name))
	}
	p.doc = doc
	p.devices = doc.root.elem("devices")
	if p.devices == nil {
		p.devices = &node{kind: elementNode, name: xml.Name{Local: "devices"}}
		doc.root.insertAfter(nil, p.devices)
	}
	p.disks = p.devices.elems("disk")
	n := 0
	if p.dom.Devices != nil {
		n = len(p.dom.Devices.Disks)
	}
	if n != len(p.disks) {
		return nil, fmt.Errorf("parse domain XML: %d <disk> elements but libvirtxml read %d", len(p.disks), n)
	}
	return p, nil
}

func (p *parsed) diskDefs() []libvirtxml.DomainDisk {
	if p.dom.Devices == nil {
		return nil
	}
	return p.dom.Devices.Disks
}

func (p *parsed) machine() MachineInfo {
	m := MachineInfo{DomainType: p.dom.Type}
	if p.dom.OS != nil && p.dom.OS.Type != nil {
		m.Arch, m.Machine = p.dom.OS.Type.Arch, p.dom.OS.Type.Machine
	}
	if p.dom.Devices != nil {
		m.Emulator = p.dom.Devices.Emulator
	}
	return m
}

// Rescue returns the rescue definition made from the original domain XML (see the package
// documentation for the two modes). Everything of the original that is not edited is kept,
// including <metadata> and elements libvirtxml does not know. The original string itself is
// never modified; the backend keeps it verbatim to restore it.
//
// Errors: *rescue.InvalidError for a device/bus pair that cannot work, *rescue.UnsupportedError
// for a domain that cannot be rescued in the asked mode, else a wrapped parse error.
func Rescue(original string, opts Options) (string, error) {
	p, err := parse(original)
	if err != nil {
		return "", err
	}
	if err := opts.Image.validate("image"); err != nil {
		return "", err
	}
	if opts.ConfigDrive != nil {
		if err := opts.ConfigDrive.validate("config drive"); err != nil {
			return "", err
		}
	}
	t := newTargets(p)
	if opts.Stable() {
		err = p.stable(opts, t)
	} else {
		err = p.legacy(opts, t)
	}
	if err != nil {
		return "", err
	}
	if opts.ConfigDrive != nil {
		if err := p.configDrive(opts, t); err != nil {
			return "", err
		}
	}
	if opts.RebootTimeout != nil {
		if err := p.setRebootTimeout(*opts.RebootTimeout); err != nil {
			return "", err
		}
	}
	out := p.doc.String()
	// The result must still be a domain libvirtxml can read, with the disks we meant.
	var check libvirtxml.Domain
	if err := check.Unmarshal(out); err != nil {
		return "", fmt.Errorf("rescue definition does not parse (bug): %w", err)
	}
	return out, nil
}

func (s Source) validate(what string) error {
	n := 0
	if s.File != "" {
		n++
	}
	if s.Block != "" {
		n++
	}
	if s.Pool != "" || s.Volume != "" {
		if s.Pool == "" || s.Volume == "" {
			return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%s volume needs both a pool and a volume name (pool/volume), got %q/%q", what, s.Pool, s.Volume)}
		}
		n++
	}
	if n != 1 {
		return fmt.Errorf("%s source: exactly one of file, block device or pool/volume must be set", what)
	}
	return nil
}

func (s Source) disk() *libvirtxml.DomainDiskSource {
	switch {
	case s.File != "":
		return &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.File}}
	case s.Block != "":
		return &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: s.Block}}
	default:
		return &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: s.Pool, Volume: s.Volume}}
	}
}

// newDisk builds a disk element with libvirtxml and turns it into a tree node for parent.
func newDisk(d libvirtxml.DomainDisk, parent *node) (*node, error) {
	s, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal disk: %w", err)
	}
	return fragment(s, parent)
}

func format(opts Options, device string) string {
	if opts.Format != "" {
		return opts.Format
	}
	if device == "disk" {
		return "qcow2"
	}
	return "raw"
}

// legacy: the rescue disk takes the root disk's place (target name, bus and address); the
// root disk follows it under the next free name of its bus, without an address.
func (p *parsed) legacy(opts Options, t *targets) error {
	disks := p.diskDefs()
	ri := rootIndex(disks)
	if ri < 0 {
		return &rescue.UnsupportedError{Msg: "the domain has no disk with device='disk' to rescue in legacy mode; set device and bus to use the stable-device mode"}
	}
	root := disks[ri]
	if root.Target == nil || root.Target.Dev == "" {
		return fmt.Errorf("root disk %d has no target dev", ri)
	}
	bus := root.Target.Bus
	if bus == "" {
		bus = busOfDev(root.Target.Dev)
	}
	if opts.ReadOnly && (bus == "ide" || bus == "sata") {
		return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("the rescue image would be a read-only disk on the root disk's bus %q, which libvirt refuses (readonly %s disks are not supported); use a writable overlay or set device and bus", bus, bus)}
	}
	rd := libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format(opts, "disk")},
		Source: opts.Image.disk(),
		Target: &libvirtxml.DomainDiskTarget{Dev: root.Target.Dev, Bus: bus},
	}
	if opts.ReadOnly {
		rd.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	rootNode := p.disks[ri]
	// Boot: the rescue disk must boot first, as in Nova. With per-device boot orders it gets
	// order 1 (the others shift); with <os><boot dev>, hd must come first, and the rescue disk
	// is the first device='disk' in document order (it stands where the root disk stood, and
	// the root disk was the first one).
	if p.hasBootOrders() {
		p.shiftBootOrders()
		rd.Boot = &libvirtxml.DomainDeviceBoot{Order: 1}
	} else {
		p.hdFirst()
	}
	rn, err := newDisk(rd, p.devices)
	if err != nil {
		return err
	}
	if addr := rootNode.elem("address"); addr != nil {
		// the rescue disk sits exactly where the root disk was
		rn.insertAfter(nil, cloneNode(addr))
		rootNode.remove(addr)
	}
	newDev, err := t.free(bus)
	if err != nil {
		return err
	}
	rootNode.elem("target").setAttr("dev", newDev)
	p.devices.insertBefore(rootNode, rn)
	t.use(newDev, bus)
	return nil
}

// stable: every original device keeps its place; the rescue device is appended with boot
// order 1.
func (p *parsed) stable(opts Options, t *targets) error {
	m := p.machine()
	device, bus := ResolveDeviceBus(opts.Device, opts.Bus, m)
	if err := CheckDeviceBus(device, bus, HostInfo{DomainType: m.DomainType, Arch: m.Arch, Machine: m.Machine}); err != nil {
		return err
	}
	readonly := opts.ReadOnly || device == "cdrom"
	if readonly && device == "disk" && (bus == "ide" || bus == "sata") {
		return &rescue.InvalidError{Attribute: "bus", Msg: fmt.Sprintf("a read-only disk on bus %q is not possible (libvirt: readonly %s disks are not supported); use bus scsi, virtio or usb, or device cdrom", bus, bus)}
	}
	if bus == "usb" && p.noController("usb") {
		return &rescue.InvalidError{Attribute: "bus", Msg: "the domain has no USB controller (<controller type='usb' model='none'/>), so nothing can be attached on bus \"usb\""}
	}
	p.dropOSBoot()
	p.shiftBootOrders()
	dev, err := t.free(bus)
	if err != nil {
		return err
	}
	rd := libvirtxml.DomainDisk{
		Device: device,
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format(opts, device)},
		Source: opts.Image.disk(),
		Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: bus},
		Boot:   &libvirtxml.DomainDeviceBoot{Order: 1},
	}
	if readonly {
		rd.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	if bus == "scsi" {
		if err := p.ensureSCSI(); err != nil {
			return err
		}
	}
	rn, err := newDisk(rd, p.devices)
	if err != nil {
		return err
	}
	p.appendDisk(rn)
	t.use(dev, bus)
	return nil
}

// configDrive attaches the config drive as a read-only cdrom that does not boot.
func (p *parsed) configDrive(opts Options, t *targets) error {
	m := p.machine()
	bus := opts.ConfigDriveBus
	if bus == "" {
		bus = DefaultBus("cdrom", m)
	}
	if err := CheckDeviceBus("cdrom", bus, HostInfo{DomainType: m.DomainType, Arch: m.Arch, Machine: m.Machine}); err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	dev, err := t.free(bus)
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	cd := libvirtxml.DomainDisk{
		Device:   "cdrom",
		Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
		Source:   opts.ConfigDrive.disk(),
		Target:   &libvirtxml.DomainDiskTarget{Dev: dev, Bus: bus},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
	}
	if bus == "scsi" {
		if err := p.ensureSCSI(); err != nil {
			return err
		}
	}
	cn, err := newDisk(cd, p.devices)
	if err != nil {
		return err
	}
	p.appendDisk(cn)
	t.use(dev, bus)
	return nil
}

// appendDisk inserts a disk after the last <disk> (libvirt keeps disks together), or first
// in <devices> (after <emulator>) when there is none.
func (p *parsed) appendDisk(n *node) {
	ds := p.devices.elems("disk")
	if len(ds) > 0 {
		p.devices.insertAfter(ds[len(ds)-1], n)
		return
	}
	if em := p.devices.elem("emulator"); em != nil {
		p.devices.insertAfter(em, n)
		return
	}
	if first := p.devices.elems(""); len(first) > 0 {
		p.devices.insertBefore(first[0], n)
		return
	}
	p.devices.insertAfter(nil, n)
}

// ensureSCSI adds a virtio-scsi controller when the domain has no SCSI controller.
func (p *parsed) ensureSCSI() error {
	for _, c := range p.devices.elems("controller") {
		if v, _ := c.attr("type"); v == "scsi" {
			return nil
		}
	}
	idx := uint(0)
	s, err := xml.MarshalIndent(libvirtxml.DomainController{Type: "scsi", Index: &idx, Model: "virtio-scsi"}, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal controller: %w", err)
	}
	cn, err := fragment(string(s), p.devices)
	if err != nil {
		return err
	}
	if cs := p.devices.elems("controller"); len(cs) > 0 {
		p.devices.insertAfter(cs[len(cs)-1], cn)
	} else {
		p.appendDisk(cn) // after the disks
	}
	return nil
}

func (p *parsed) noController(typ string) bool {
	for _, c := range p.devices.elems("controller") {
		if v, _ := c.attr("type"); v == typ {
			if m, _ := c.attr("model"); m == "none" {
				return true
			}
		}
	}
	return false
}

// bootNodes returns the <boot order> elements of all devices, known to libvirtxml or not.
func (p *parsed) bootNodes() []*node {
	var out []*node
	for _, d := range p.devices.elems("") {
		for _, b := range d.elems("boot") {
			if _, ok := b.attr("order"); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

func (p *parsed) hasBootOrders() bool { return len(p.bootNodes()) > 0 }

// shiftBootOrders adds one to every per-device boot order, so that order 1 is free.
func (p *parsed) shiftBootOrders() {
	for _, b := range p.bootNodes() {
		v, _ := b.attr("order")
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
			b.setAttr("order", strconv.FormatUint(n+1, 10))
		}
	}
}

// dropOSBoot removes <os><boot dev=.../>, which libvirt does not allow together with
// per-device boot orders.
func (p *parsed) dropOSBoot() {
	if os := p.doc.root.elem("os"); os != nil {
		for _, b := range os.elems("boot") {
			os.remove(b)
		}
	}
}

// hdFirst makes <os><boot dev='hd'/> the first boot device when the domain lists any.
func (p *parsed) hdFirst() {
	os := p.doc.root.elem("os")
	if os == nil {
		return
	}
	boots := os.elems("boot")
	if len(boots) == 0 {
		return // libvirt's default is hd
	}
	if v, _ := boots[0].attr("dev"); v == "hd" {
		return
	}
	for _, b := range boots {
		if v, _ := b.attr("dev"); v == "hd" {
			os.remove(b)
		}
	}
	os.insertBefore(boots[0], &node{kind: elementNode, name: xml.Name{Local: "boot"}, attrs: []xml.Attr{{Name: xml.Name{Local: "dev"}, Value: "hd"}}})
}

func cloneNode(n *node) *node {
	c := *n
	c.attrs = append([]xml.Attr(nil), n.attrs...)
	c.children = nil
	for _, ch := range n.children {
		c.children = append(c.children, cloneNode(ch))
	}
	return &c
}

// rootIndex is the index of the root disk: among device='disk' disks the one with the
// lowest per-device boot order, else the first one; -1 when there is none.
func rootIndex(disks []libvirtxml.DomainDisk) int {
	best, first := -1, -1
	for i, d := range disks {
		if d.Device != "" && d.Device != "disk" {
			continue
		}
		if first < 0 {
			first = i
		}
		if d.Boot != nil && d.Boot.Order > 0 && (best < 0 || d.Boot.Order < disks[best].Boot.Order) {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	return first
}

func busOfDev(dev string) string {
	switch {
	case strings.HasPrefix(dev, "vd"):
		return "virtio"
	case strings.HasPrefix(dev, "hd"):
		return "ide"
	case strings.HasPrefix(dev, "fd"):
		return "fdc"
	default:
		return "scsi"
	}
}
