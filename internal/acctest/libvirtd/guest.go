package libvirtd

import (
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// GuestOptions shape a boot-sector test guest (see Daemon.DefineGuest).
type GuestOptions struct {
	// Machine is "pc" (i440fx, the default) or "q35".
	Machine string
	// Backing makes the root disk a qcow2 overlay backed by Images.Base (a rescue without
	// image_id boots that base image, which prints BootBase). Otherwise the root disk has no
	// backing file.
	Backing bool
	// IgnoreACPI makes the guest ignore the ACPI power button (to test forced power-off).
	IgnoreACPI bool
	// Start starts the guest and waits until it prints BootRoot.
	Start bool
	// NoConfigDrive leaves out the sata cdrom with Images.ConfigISO.
	NoConfigDrive bool
	// RootBus is the root disk's bus: "virtio" (default), "sata", "scsi" or "ide".
	RootBus string
	// MemoryMiB is the guest memory (default 64).
	MemoryMiB int
	// ExtraDevices is raw XML appended inside <devices> (more disks, graphics, controllers).
	ExtraDevices string
}

// RootDisk returns the path of a guest's own root disk copy.
func (d *Daemon) RootDisk(name string) string {
	return filepath.Join(d.DisksDir, name+"-root.qcow2")
}

// DebugLogPath returns the file that receives a guest's isa-debugcon output (SeaBIOS's log and
// the boot sector's lines).
func (d *Daemon) DebugLogPath(name string) string {
	return filepath.Join(d.DbgDir, name+".log")
}

// DebugLog returns a guest's isa-debugcon output so far.
func (d *Daemon) DebugLog(name string) string {
	b, _ := os.ReadFile(d.DebugLogPath(name))
	return string(b)
}

// DebugLogSize returns the current size of a guest's debug log (a mark for WaitBootedSince).
func (d *Daemon) DebugLogSize(name string) int64 {
	st, err := os.Stat(d.DebugLogPath(name))
	if err != nil {
		return 0
	}
	return st.Size()
}

var rootTargets = map[string]string{"virtio": "vda", "sata": "sdb", "scsi": "sdc", "ide": "hda"}

// GuestXML returns the definition of a TCG guest (type 'qemu'): ACPI, the root disk copy as
// the first disk with <boot dev='hd'/>, a config-drive cdrom on sata (sda), a serial console,
// and an isa-debugcon on port 0x402 that appends to DebugLogPath(name).
func (d *Daemon) GuestXML(name string, o GuestOptions) (string, error) {
	machine := o.Machine
	if machine == "" {
		machine = "pc"
	}
	if machine != "pc" && machine != "q35" {
		return "", fmt.Errorf("machine %q: want pc or q35", machine)
	}
	bus := o.RootBus
	if bus == "" {
		bus = "virtio"
	}
	target, ok := rootTargets[bus]
	if !ok {
		return "", fmt.Errorf("root bus %q: want virtio, sata, scsi or ide", bus)
	}
	mem := o.MemoryMiB
	if mem == 0 {
		mem = 64
	}
	esc := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='%s'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='%s' bus='%s'/>
    </disk>
`, esc(name), mem, machine, esc(d.RootDisk(name)), target, bus)
	if bus == "scsi" {
		b.WriteString("    <controller type='scsi' model='virtio-scsi'/>\n")
	}
	if !o.NoConfigDrive {
		fmt.Fprintf(&b, `    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='%s'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
`, esc(d.Images().ConfigISO))
	}
	b.WriteString(`    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
`)
	b.WriteString(o.ExtraDevices)
	fmt.Fprintf(&b, `  </devices>
  <qemu:commandline>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='file,id=dbgcon,path=%s,append=on'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='isa-debugcon,iobase=0x402,chardev=dbgcon'/>
  </qemu:commandline>
</domain>
`, esc(strings.ReplaceAll(d.DebugLogPath(name), ",", ",,")))
	return b.String(), nil
}

// Images returns the paths of the test images (built by Start).
func (d *Daemon) Images() Images { return ImagesIn(d.ImagesDir) }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}

// DefineGuest gives the guest its own copy of the root image, defines it on qemu:///system
// and, with o.Start, starts it and waits until it has booted from its root disk. It returns
// the end of the boot line in the debug log (0 when not started).
func (d *Daemon) DefineGuest(l *libvirt.Libvirt, name string, o GuestOptions) (int64, error) {
	if strings.ContainsAny(name, "/ \t\n,'\"<>&") || name == "" {
		return 0, fmt.Errorf("guest name %q: use letters, digits, '-', '_' and '.'", name)
	}
	x, err := d.GuestXML(name, o)
	if err != nil {
		return 0, err
	}
	if _, err := l.DomainLookupByName(name); err == nil {
		return 0, fmt.Errorf("domain %s is already defined", name)
	}
	im := d.Images()
	src := im.Root
	switch {
	case o.Backing && o.IgnoreACPI:
		return 0, errors.New("options Backing and IgnoreACPI together are not supported")
	case o.Backing:
		src = im.RootOverlay
	case o.IgnoreACPI:
		src = im.RootNoACPI
	}
	_ = os.Remove(d.RootDisk(name))
	_ = os.Remove(d.DebugLogPath(name))
	if err := copyFile(src, d.RootDisk(name)); err != nil {
		return 0, err
	}
	dom, err := l.DomainDefineXMLFlags(x, 0)
	if err != nil {
		return 0, fmt.Errorf("define %s: %w", name, err)
	}
	if !o.Start {
		return 0, nil
	}
	if err := l.DomainCreate(dom); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	_, end, err := d.WaitBootedSince(name, 0, BootRoot, 60*time.Second)
	return end, err
}

// WaitBootedSince waits until the guest's debug log, after byte offset since, has a complete
// "GUEST: BOOTED FROM <X>" line. The first such line must say want: a boot from any other
// device is an error at once. It returns X and the offset just after that line.
func (d *Daemon) WaitBootedSince(name string, since int64, want string, timeout time.Duration) (string, int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		log := d.DebugLog(name)
		if int64(len(log)) > since {
			rest := log[since:]
			if i := strings.Index(rest, BootedPrefix); i >= 0 {
				line := rest[i+len(BootedPrefix):]
				if j := strings.IndexByte(line, '\n'); j >= 0 {
					got := line[:j]
					end := since + int64(i+len(BootedPrefix)+j+1)
					if got != want {
						return got, end, fmt.Errorf("guest %s booted from %q, want %q; debug console since offset %d:\n%s",
							name, got, want, since, tail(rest, 2000))
					}
					return got, end, nil
				}
			}
		}
		if time.Now().After(deadline) {
			rest := ""
			if int64(len(log)) > since {
				rest = log[since:]
			}
			return "", since, fmt.Errorf("guest %s: no %q line within %v (want %q); debug console since offset %d:\n%s",
				name, BootedPrefix, timeout, want, since, tail(rest, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// RemoveGuest destroys and undefines a guest (ignoring a guest that is already gone) and
// removes its root disk copy and debug log.
func (d *Daemon) RemoveGuest(l *libvirt.Libvirt, name string) error {
	var errs []error
	if dom, err := l.DomainLookupByName(name); err == nil {
		if st, _, err := l.DomainGetState(dom, 0); err == nil && libvirt.DomainState(st) != libvirt.DomainShutoff {
			if err := l.DomainDestroy(dom); err != nil && !IsNoDomain(err) {
				errs = append(errs, fmt.Errorf("destroy %s: %w", name, err))
			}
		}
		flags := libvirt.DomainUndefineManagedSave | libvirt.DomainUndefineSnapshotsMetadata | libvirt.DomainUndefineNvram
		if err := l.DomainUndefineFlags(dom, flags); err != nil && !IsNoDomain(err) {
			if err2 := l.DomainUndefineFlags(dom, 0); err2 != nil && !IsNoDomain(err2) {
				errs = append(errs, fmt.Errorf("undefine %s: %w", name, err))
			}
		}
	} else if !IsNoDomain(err) {
		errs = append(errs, fmt.Errorf("lookup %s: %w", name, err))
	}
	for _, p := range []string{d.RootDisk(name), d.DebugLogPath(name)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IsNoDomain reports whether err is libvirt's "domain not found".
func IsNoDomain(err error) bool {
	return libvirt.IsNotFound(err)
}
