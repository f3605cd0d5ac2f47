package libvirt

import (
	"context"
	"fmt"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// plan is a validated request with everything resolved.
type plan struct {
	rescue.Plan
	Image *image
	// pools are the transient pools the validation holds or started, released by done.
	pools *startedPools
}

// done ends a rescue's use of transient pools: the holds are dropped, and a pool of ours that no
// journal names (this rescue failed before or rolled back) is stopped.
func (p *plan) done(l *golibvirt.Libvirt) {
	if p.pools == nil {
		return
	}
	dir := ""
	if p.Image != nil {
		dir = p.Image.PoolDir
	}
	p.pools.release(l, dir)
}

// Validate implements rescue.Backend: it checks, before any change, that the domain exists,
// that device and bus are valid values and that the host supports the pair for this domain
// (its domain capabilities and the known rules), and that the rescue image exists (or, without
// image_id, that the root disk has a backing image).
//
// At plan time some values may be unknown: an empty InstanceID (instance_id unknown) gets only
// the checks that need no host (device and bus values, the fixed pair rules, the shutdown
// timeout); req.ImageUnknown (image_id set but unknown) skips the image. Both return the given
// device and bus, and mode stable when one of them is set, else an empty (unknown) mode.
func (b *Backend) Validate(ctx context.Context, req rescue.Request) (_ rescue.Plan, err error) {
	if req.InstanceID == "" {
		return validateOffline(req)
	}
	l, done, err := b.client(ctx)
	if err != nil {
		return rescue.Plan{}, err
	}
	defer func() { err = done(err) }()
	d, err := lookup(l, req.InstanceID)
	if err != nil {
		return rescue.Plan{}, err
	}
	orig, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive)
	if err != nil {
		return rescue.Plan{}, fmt.Errorf("read definition of domain %s: %w", d.Name, notFound(err, req.InstanceID))
	}
	if err := checkRescuable(l, d, req.InstanceID); err != nil {
		return rescue.Plan{}, err
	}
	p, err := b.validate(ctx, l, d, orig, req, false)
	if err != nil {
		return rescue.Plan{}, err
	}
	return p.Plan, nil
}

// validateOffline checks what can be checked without the domain (instance_id unknown at plan).
func validateOffline(req rescue.Request) (rescue.Plan, error) {
	if err := validateValues(req); err != nil {
		return rescue.Plan{}, err
	}
	if req.Device != "" && req.Bus != "" {
		// No host capabilities, no machine: only the rules that hold everywhere.
		if err := domxml.CheckDeviceBus(string(req.Device), string(req.Bus), domxml.HostInfo{}); err != nil {
			return rescue.Plan{}, err
		}
	}
	return unknownPlan(req), nil
}

// unknownPlan is the plan of a request whose instance or image is unknown yet: the device and
// bus as given; mode stable when one is set, else unknown.
func unknownPlan(req rescue.Request) rescue.Plan {
	p := rescue.Plan{Device: req.Device, Bus: req.Bus}
	if req.Device != "" || req.Bus != "" {
		p.Mode = rescue.ModeStable
	}
	return p
}

// validateValues checks the request's values without a connection.
func validateValues(req rescue.Request) error {
	if err := rescue.CheckValues(string(req.Device), string(req.Bus)); err != nil {
		return err
	}
	if req.ShutdownTimeout < 0 {
		return &rescue.InvalidError{Attribute: "shutdown_timeout", Msg: fmt.Sprintf("%s is negative", req.ShutdownTimeout)}
	}
	return nil
}

// validate resolves a request against the domain's definition orig and the host, and checks the
// rescue image: not a directory, not a disk any domain writes to, and content that can boot on
// the rescue device. An image whose directory no storage pool holds gets a transient pool for
// the look-up; with apply unset (Validate, at plan) or on an error, a pool this call started is
// stopped again before it returns (a plan changes nothing on the host).
func (b *Backend) validate(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, orig string, req rescue.Request, apply bool) (p *plan, err error) {
	started := &startedPools{}
	defer func() {
		if !apply || err != nil {
			started.release(l)
		}
	}()
	if err := validateValues(req); err != nil {
		return nil, err
	}
	if err := checkPersistent(l, d, req.InstanceID); err != nil {
		return nil, err
	}
	p = &plan{Plan: rescue.Plan{Mode: rescue.ModeLegacy}}
	if err := b.resolveDevice(ctx, l, orig, req, p); err != nil {
		return nil, err
	}
	if err := p.dryRun(d, orig, req); err != nil {
		return nil, err
	}
	if req.ImageUnknown && req.ImageID == "" {
		// image_id is set but unknown yet (plan): the rest is checked, the image at apply.
		up := unknownPlan(req)
		p.Mode = up.Mode
		if up.Mode == "" {
			p.Device, p.Bus = "", ""
		}
		return p, nil
	}
	if err := b.pickImage(ctx, l, d, orig, req, p, started); err != nil {
		return nil, err
	}
	return p, nil
}

// resolveDevice puts the stable-device pair in p when req asks for one: the missing half
// completed from the machine's defaults, the pair checked against the host.
func (b *Backend) resolveDevice(ctx context.Context, l *golibvirt.Libvirt, orig string, req rescue.Request, p *plan) error {
	if req.Device == "" && req.Bus == "" {
		return nil
	}
	m, host, err := b.hostInfo(ctx, l, orig)
	if err != nil {
		return err
	}
	device, bus := domxml.ResolveDeviceBus(string(req.Device), string(req.Bus), m)
	if err := domxml.CheckDeviceBus(device, bus, host); err != nil {
		return err
	}
	p.Device, p.Bus, p.Mode = rescue.Device(device), rescue.Bus(bus), rescue.ModeStable
	if req.Device == "" || req.Bus == "" {
		p.Warnings = append(p.Warnings, fmt.Sprintf("rescue device %s on bus %s (completed from the host's defaults)", device, bus))
	}
	return nil
}

// dryRun runs the transform once with a placeholder image: its rules that depend on the domain
// (a usb bus needs a USB controller, ...) show before any change.
func (p *plan) dryRun(d golibvirt.Domain, orig string, req rescue.Request) error {
	dry := domxml.Options{Device: string(p.Device), Bus: string(p.Bus), Image: domxml.Source{File: "/validate/rescue.qcow2"}, Format: "qcow2"}
	if _, err := domxml.Rescue(orig, dry); err != nil {
		return err
	}
	if req.AdminPass == "" {
		return nil
	}
	// admin_pass adds a config drive (a cdrom on the machine's default cdrom bus): it needs a
	// free target too.
	dry.ConfigDrive = &domxml.Source{File: "/validate/rescue.config.iso"}
	if _, err := domxml.Rescue(orig, dry); err != nil {
		m, _ := domxml.Machine(orig)
		bus := domxml.DefaultBus("cdrom", m)
		return &rescue.InvalidError{Attribute: "admin_pass", Msg: fmt.Sprintf("admin_pass needs a config drive (a cdrom on bus %s) besides the rescue device, and domain %s cannot take it: %v; remove admin_pass or free a target on bus %s", bus, d.Name, err, bus)}
	}
	return nil
}

// pickImage puts the rescue image in p (image_id, else the root disk's backing image) once it
// is checked: not in use by a writer, content that can boot on the rescue device.
func (b *Backend) pickImage(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, orig string, req rescue.Request, p *plan, started *startedPools) error {
	spec := req.ImageID
	if spec == "" {
		var err error
		spec, err = defaultImage(l, orig, d.Name, started)
		if err != nil {
			return err
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("image_id not set: the rescue image is %s, the backing image of the root disk", spec))
	}
	img, err := resolveImage(l, spec, started)
	for try := 0; try < 3 && err != nil && strings.HasPrefix(spec, "/") &&
		isCode(err, golibvirt.ErrOperationInvalid, golibvirt.ErrNoStoragePool, golibvirt.ErrNoStorageVol); try++ {
		// Another process stopped the transient pool between the look-up and the volume's
		// details (it saw no journal naming it; the pool is inactive or already gone): the
		// look-up starts it again.
		img, err = resolveImage(l, spec, started)
	}
	if err != nil {
		return err
	}
	if err := b.checkNotInUse(ctx, l, img); err != nil {
		return err
	}
	w, err := checkContent(ctx, l, b.target, img, string(p.Device))
	if err != nil {
		return err
	}
	p.Warnings = append(p.Warnings, w...)
	p.Image, p.pools = img, started
	return nil
}

// checkPersistent refuses a transient domain: the journal lives in the persistent
// definition, and a transient domain has none (it would vanish at the shutdown).
func checkPersistent(l *golibvirt.Libvirt, d golibvirt.Domain, id string) error {
	persistent, err := l.DomainIsPersistent(d)
	if err != nil {
		return fmt.Errorf("read whether domain %s is persistent: %w", d.Name, notFound(err, id))
	}
	if persistent == 0 {
		return &rescue.UnsupportedError{Msg: fmt.Sprintf("domain %s is transient (not defined persistently): it would vanish at the shutdown, and there is no persistent definition to keep the rescue journal in; define it (virsh dumpxml %s > %s.xml; virsh define %s.xml) before a rescue", d.Name, d.Name, d.Name, d.Name)}
	}
	return nil
}

// hostInfo reads the host's disk capabilities for the domain's emulator, arch, machine and
// type, once per Backend (see lookups.go). A driver without domain capabilities (the test
// driver) gives a HostInfo with unknown buses and devices: only the fixed rules apply then.
func (b *Backend) hostInfo(ctx context.Context, l *golibvirt.Libvirt, orig string) (domxml.MachineInfo, domxml.HostInfo, error) {
	m, err := domxml.Machine(orig)
	if err != nil {
		return m, domxml.HostInfo{}, fmt.Errorf("read machine of domain: %w", err)
	}
	key := strings.Join([]string{m.Emulator, m.Arch, m.Machine, m.DomainType}, "|")
	if h, ok := b.caps.get(key); ok {
		return m, h, nil
	}
	v, err := b.scans.do(ctx, "caps|"+key, func() (any, error) {
		if h, ok := b.caps.get(key); ok {
			return h, nil // read by a flight that ended since the look-up above
		}
		h, err := readHostInfo(l, m)
		if err == nil {
			b.caps.put(key, h)
		}
		return h, err
	})
	if err != nil {
		return m, domxml.HostInfo{}, err
	}
	h, _ := v.(domxml.HostInfo)
	return m, cloneHost(h), nil
}

// readHostInfo is hostInfo without the cache.
func readHostInfo(l *golibvirt.Libvirt, m domxml.MachineInfo) (domxml.HostInfo, error) {
	opt := func(s string) golibvirt.OptString {
		if s == "" {
			return nil
		}
		return golibvirt.OptString{s}
	}
	caps, err := l.ConnectGetDomainCapabilities(opt(m.Emulator), opt(m.Arch), opt(m.Machine), opt(m.DomainType), 0)
	if err != nil {
		if isCode(err, golibvirt.ErrNoSupport) {
			return domxml.HostInfo{DomainType: m.DomainType, Arch: m.Arch, Machine: m.Machine}, nil
		}
		return domxml.HostInfo{}, fmt.Errorf("read the host's domain capabilities for %s/%s/%s: %w", m.DomainType, m.Arch, m.Machine, err)
	}
	h, err := domxml.ParseHostInfo(caps)
	if err != nil {
		return domxml.HostInfo{}, fmt.Errorf("parse the host's domain capabilities: %w", err)
	}
	if h.Machine == "" {
		h.Machine = m.Machine
	}
	return h, nil
}

// defaultImage is the rescue image when image_id is not set: the backing image of the root
// disk, from the domain XML's <backingStore> or else from the storage volume (see volumeByPath
// for started).
func defaultImage(l *golibvirt.Libvirt, orig, name string, started *startedPools) (string, error) {
	root, err := domxml.RootDisk(orig)
	if err != nil {
		return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("domain %s has no root disk to take a rescue image from (%v); set image_id", name, err)}
	}
	for _, bk := range root.Backing {
		if bk.Path != "" && strings.HasPrefix(bk.Path, "/") {
			return bk.Path, nil
		}
	}
	var vol golibvirt.StorageVol
	switch {
	case root.Pool != "" && root.Volume != "":
		p, err := l.StoragePoolLookupByName(root.Pool)
		if err == nil {
			vol, err = l.StorageVolLookupByName(p, root.Volume)
		}
		if err != nil {
			return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("cannot read the root disk %s of domain %s to find its backing image (%v); set image_id", root.Target, name, err)}
		}
	case root.Type == "block":
		return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("the root disk %s of domain %s is a block device (%s), which has no backing image to rescue from; set image_id", root.Target, name, root.File)}
	case root.File != "" && root.Type != "network":
		vol, _, err = volumeByPath(l, root.File, started)
		if err != nil {
			return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("cannot read the root disk %s of domain %s to find its backing image (%v); set image_id", root.File, name, err)}
		}
	default:
		return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("the root disk %s of domain %s is not a file or a storage volume, so it has no backing image to rescue from; set image_id", root.Target, name)}
	}
	bk, err := backingOf(l, vol)
	if err != nil {
		return "", err
	}
	if bk == "" {
		return "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("the root disk %s of domain %s has no backing image; set image_id to a rescue image (a file path on the host or pool/volume)", root.String(), name)}
	}
	return bk, nil
}

// checkNotInUse refuses an image that a domain (the one to rescue included) has as a writable
// disk: the rescue overlay would be backed by a file that changes under it, and the domain's
// own root disk cannot be its rescue image. Read-only uses (cdroms, <readonly/> disks, backing
// files) are fine. It reads the persistent and, for running domains, the live definitions;
// concurrent checks of one image share one scan (see lookups.go).
func (b *Backend) checkNotInUse(ctx context.Context, l *golibvirt.Libvirt, img *image) error {
	key := "in-use|" + img.Path + "|" + img.Pool.Name + "|" + img.Vol.Name
	_, err := b.scans.do(ctx, key, func() (any, error) { return nil, scanInUse(l, img) })
	return err
}

// scanInUse is checkNotInUse's scan of all domains.
func scanInUse(l *golibvirt.Libvirt, img *image) error {
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return fmt.Errorf("list domains to check that no domain uses the rescue image: %w", err)
	}
	for _, d := range doms {
		flags := []golibvirt.DomainXMLFlags{golibvirt.DomainXMLInactive}
		if d.ID != -1 {
			// Running when listed (an inactive domain's id is -1): its live definition may have
			// disks that the persistent one does not. Read once it stopped, the live definition
			// is the persistent one again.
			flags = append(flags, 0)
		}
		for _, f := range flags {
			x, err := l.DomainGetXMLDesc(d, f)
			if err != nil {
				if isCode(err, golibvirt.ErrNoDomain) {
					break
				}
				return fmt.Errorf("read definition of domain %s to check that it does not use the rescue image: %w", d.Name, err)
			}
			disks, err := domxml.Summary(x)
			if err != nil {
				continue
			}
			for _, dk := range disks {
				same := (dk.File != "" && dk.File == img.Path) || (dk.Volume != "" && dk.Pool == img.Pool.Name && dk.Volume == img.Vol.Name)
				if same && !dk.ReadOnly && dk.Device != "cdrom" {
					return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%s is a writable disk (%s) of domain %s: a rescue image must not be a disk that a domain writes to (its rescue overlay would change under it); use another image, or a copy of it", img.Path, dk.Target, d.Name)}
				}
			}
		}
	}
	return nil
}

// checkContent refuses an image whose content cannot boot on device ("" is legacy mode: the
// first disk). What cannot be told (a driver without volume download, compressed or encrypted
// qcow2, other formats) is let through, with a warning except for the driver case.
func checkContent(ctx context.Context, l *golibvirt.Libvirt, t *target, img *image, device string) ([]string, error) {
	c, err := contentOf(ctx, l, t, img)
	if why, ok := cannotTell(err); ok {
		if strings.Contains(why, "cannot download") {
			return nil, nil
		}
		return []string{fmt.Sprintf("the content of the rescue image %s was not checked: %s; make sure it boots as %s", img.Path, why, bootsAs(device))}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the first bytes of the rescue image %s: %w", img.Path, err)
	}
	if msg := contentProblem(c, device, img.Capacity); msg != "" {
		return nil, &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("the rescue image %s (%s) cannot boot as %s: %s", img.Path, img.Format, bootsAs(device), msg)}
	}
	return nil, nil
}

func bootsAs(device string) string {
	if device == "" {
		return "the first disk (legacy mode)"
	}
	return "a " + device
}

// checkRescuable refuses (at plan) a domain in a state a rescue refuses: paused or suspended
// to memory. A domain with a rescue journal is left to the rescue (it unrescues first).
func checkRescuable(l *golibvirt.Libvirt, d golibvirt.Domain, id string) error {
	j, err := readJournal(l, d)
	if err != nil || j != nil {
		return notFound(err, id)
	}
	state, err := domState(l, d)
	if err != nil {
		return notFound(err, id)
	}
	if state == golibvirt.DomainPaused || state == golibvirt.DomainPmsuspended {
		return &rescue.InvalidError{Attribute: "instance_id", Msg: fmt.Sprintf("domain %s is %s, and a rescue starts only from a running or shut-off domain: resume it (virsh resume %s, or virsh dompmwakeup for pmsuspended) or shut it off, then try again", d.Name, stateName(state), d.Name)}
	}
	return nil
}
