package libvirtd

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed assets/boot.S
var bootSource string

// What each image's boot sector prints after "GUEST: BOOTED FROM ".
const (
	// BootRoot is printed by the guests' own root disk (plain and overlay variants).
	BootRoot = "ORIGINAL ROOT DISK"
	// BootBase is printed by the base image behind the overlay root disk (GuestOptions.Backing),
	// which is what a rescue without image_id boots.
	BootBase = "BASE IMAGE"
	// BootRescueISO is printed by the rescue ISO (El Torito, no emulation).
	BootRescueISO = "RESCUE CDROM ISO"
	// BootRescueDisk is printed by the rescue qcow2 disk image.
	BootRescueDisk = "RESCUE DISK IMAGE"
	// BootRescueFloppy is printed by the rescue floppy image.
	BootRescueFloppy = "RESCUE FLOPPY"
)

// BootedPrefix starts the line a guest prints to its debug console once its boot sector runs.
const BootedPrefix = "GUEST: BOOTED FROM "

// Images are the paths of the test images (all under one directory, readable by QEMU).
type Images struct {
	// Root is a 64 MiB qcow2 with no backing file whose boot sector prints BootRoot.
	Root string
	// RootNoACPI is like Root but its guest ignores the ACPI power button.
	RootNoACPI string
	// Base is a 64 MiB qcow2 whose boot sector prints BootBase.
	Base string
	// RootOverlay is a qcow2 overlay backed by Base (backing format qcow2) whose own first
	// cluster prints BootRoot; everything else reads through to Base.
	RootOverlay string
	// RescueISO is an El Torito (no emulation) ISO whose boot image prints BootRescueISO.
	RescueISO string
	// RescueDisk is a 16 MiB qcow2 whose boot sector prints BootRescueDisk.
	RescueDisk string
	// RescueFloppy is a 1.44 MB raw floppy image whose boot sector prints BootRescueFloppy.
	RescueFloppy string
	// ConfigISO is a config-drive style ISO (label config-2) attached as the guests' sata cdrom.
	ConfigISO string
}

// RescueFor returns the rescue image for a device type ("cdrom", "floppy", else a disk) and the
// line its boot sector prints.
func (i Images) RescueFor(device string) (image, bootLine string) {
	switch device {
	case "cdrom":
		return i.RescueISO, BootRescueISO
	case "floppy":
		return i.RescueFloppy, BootRescueFloppy
	default:
		return i.RescueDisk, BootRescueDisk
	}
}

// ImagesIn returns the image paths inside dir (as BuildImages makes them).
func ImagesIn(dir string) Images {
	return Images{
		Root:         filepath.Join(dir, "root.qcow2"),
		RootNoACPI:   filepath.Join(dir, "root-noacpi.qcow2"),
		Base:         filepath.Join(dir, "base.qcow2"),
		RootOverlay:  filepath.Join(dir, "root-overlay.qcow2"),
		RescueISO:    filepath.Join(dir, "rescue.iso"),
		RescueDisk:   filepath.Join(dir, "rescue-disk.qcow2"),
		RescueFloppy: filepath.Join(dir, "rescue-floppy.img"),
		ConfigISO:    filepath.Join(dir, "config.iso"),
	}
}

func run(name string, args ...string) error {
	p, err := lookPath(name)
	if err != nil {
		return fmt.Errorf("%s: %w", InstallHint, err)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// BuildBootSector assembles boot.S with message msg into a 512-byte boot sector (as/ld from
// binutils). noACPI builds the variant that ignores the ACPI power button.
func BuildBootSector(workDir, name, msg string, noACPI bool) ([]byte, error) {
	if strings.ContainsAny(msg, "\"\\\n") {
		return nil, fmt.Errorf("boot message %q: quotes, backslashes and newlines are not allowed", msg)
	}
	src := filepath.Join(workDir, name+".S")
	obj := filepath.Join(workDir, name+".o")
	bin := filepath.Join(workDir, name+".bin")
	if err := os.WriteFile(src, []byte(strings.ReplaceAll(bootSource, "MSGTEXT", `"`+msg+`"`)), 0o644); err != nil {
		return nil, fmt.Errorf("boot sector source: %w", err)
	}
	asArgs := []string{"--32", "-o", obj, src}
	if noACPI {
		asArgs = append([]string{"--defsym", "NOACPI=1"}, asArgs...)
	}
	if err := run("as", asArgs...); err != nil {
		return nil, err
	}
	if err := run("ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", bin, obj); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("boot sector: %w", err)
	}
	if len(b) != 512 || b[510] != 0x55 || b[511] != 0xaa {
		return nil, fmt.Errorf("boot sector %s: %d bytes, not a 512-byte boot sector", name, len(b))
	}
	return b, nil
}

// rawWithBootSector writes a sparse raw image of size bytes whose first sector is sector.
func rawWithBootSector(path string, size int64, sector []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if _, err := f.Write(sector); err != nil {
		_ = f.Close()
		return fmt.Errorf("image %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return fmt.Errorf("image %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	return nil
}

// BuildImages builds the test images into dir (see Images) with as/ld, qemu-img and
// genisoimage, and returns their paths.
func BuildImages(dir string) (Images, error) {
	im := ImagesIn(dir)
	work, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	sectors := map[string][]byte{}
	for _, s := range []struct {
		name, msg string
		noACPI    bool
	}{
		{"root", BootRoot, false}, {"root-noacpi", BootRoot, true}, {"base", BootBase, false},
		{"rdisk", BootRescueDisk, false}, {"riso", BootRescueISO, false}, {"rfloppy", BootRescueFloppy, false},
	} {
		b, err := BuildBootSector(work, s.name, s.msg, s.noACPI)
		if err != nil {
			return im, err
		}
		sectors[s.name] = b
	}
	qcow := func(name string, size int64, dst string) error {
		raw := filepath.Join(work, name+".raw")
		if err := rawWithBootSector(raw, size, sectors[name]); err != nil {
			return err
		}
		return run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, dst)
	}
	const mib = 1 << 20
	for _, q := range []struct {
		name string
		size int64
		dst  string
	}{
		{"root", 64 * mib, im.Root}, {"root-noacpi", 64 * mib, im.RootNoACPI}, {"base", 64 * mib, im.Base},
		{"rdisk", 16 * mib, im.RescueDisk},
	} {
		if err := qcow(q.name, q.size, q.dst); err != nil {
			return im, err
		}
	}
	// Overlay: converting the raw root image allocates only its first cluster (the zero
	// clusters stay unallocated); pointing it at Base without copying data (rebase -u) makes
	// every other cluster read through to Base.
	tmpOverlay := filepath.Join(work, "overlay.qcow2")
	if err := qcow("root", 64*mib, tmpOverlay); err != nil {
		return im, err
	}
	if err := run("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", im.Base, "-F", "qcow2", tmpOverlay); err != nil {
		return im, err
	}
	if err := os.Rename(tmpOverlay, im.RootOverlay); err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	if err := rawWithBootSector(im.RescueFloppy, 2880*512, sectors["rfloppy"]); err != nil {
		return im, err
	}
	// Rescue ISO: El Torito no-emulation boot image (4 sectors loaded at 0x7c00).
	isoDir := filepath.Join(work, "iso")
	if err := os.MkdirAll(isoDir, 0o755); err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	if err := rawWithBootSector(filepath.Join(isoDir, "boot.bin"), 2048, sectors["riso"]); err != nil {
		return im, err
	}
	if err := os.WriteFile(filepath.Join(isoDir, "README"), []byte("rescue iso\n"), 0o644); err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	if err := run("genisoimage", "-quiet", "-o", im.RescueISO, "-V", "RESCUE", "-b", "boot.bin", "-c", "boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", isoDir); err != nil {
		return im, err
	}
	// Config-drive style ISO for the original domain's cdrom.
	cfgDir := filepath.Join(work, "cfg")
	if err := os.MkdirAll(filepath.Join(cfgDir, "openstack", "latest"), 0o755); err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "openstack", "latest", "meta_data.json"), []byte(`{"uuid":"x"}`+"\n"), 0o644); err != nil {
		return im, fmt.Errorf("images: %w", err)
	}
	if err := run("genisoimage", "-quiet", "-o", im.ConfigISO, "-V", "config-2", "-r", "-J", cfgDir); err != nil {
		return im, err
	}
	for _, p := range []string{im.Root, im.RootNoACPI, im.Base, im.RootOverlay, im.RescueISO, im.RescueDisk, im.RescueFloppy, im.ConfigISO} {
		if err := os.Chmod(p, 0o644); err != nil {
			return im, fmt.Errorf("images: %w", err)
		}
	}
	return im, nil
}
