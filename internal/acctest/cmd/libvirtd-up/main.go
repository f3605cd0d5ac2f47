// Command libvirtd-up starts, uses and stops the private libvirtd of internal/acctest/libvirtd
// from a shell (scripts/demo-libvirt.sh). Needs root.
//
//	libvirtd-up up -dir DIR                     start a detached daemon with state in DIR (created), print shell variables
//	libvirtd-up define -dir DIR -name N [-machine pc|q35] [-start] [-backing] [-noacpi]
//	libvirtd-up wait-boot -dir DIR -name N -since BYTES -want "RESCUE CDROM ISO" [-timeout 60s]
//	libvirtd-up down -dir DIR                   destroy guests, stop libvirtd by PID, remove DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "define":
		err = define(os.Args[2:])
	case "wait-boot":
		err = waitBoot(os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "libvirtd-up:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: libvirtd-up up|define|wait-boot|down -dir DIR [flags] (see the package comment)`)
	os.Exit(2)
}

func flags(name string, args []string, def func(fs *flag.FlagSet)) string {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	dir := fs.String("dir", "", "state directory of the daemon")
	if def != nil {
		def(fs)
	}
	_ = fs.Parse(args)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "libvirtd-up: -dir is required")
		os.Exit(2)
	}
	return *dir
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func up(args []string) error {
	dir := flags("up", args, nil)
	d, err := libvirtd.Start(libvirtd.Options{Dir: dir, Detach: true})
	if err != nil {
		return err
	}
	im := d.Images()
	for _, kv := range [][2]string{
		{"LIBVIRTD_DIR", d.Dir}, {"LIBVIRTD_PID", fmt.Sprint(d.PID())}, {"LIBVIRT_SOCK", d.Socket},
		{"QEMU_URI", d.QEMUURI}, {"TEST_URI", d.TestURI}, {"IMAGES_DIR", d.ImagesDir}, {"DBG_DIR", d.DbgDir},
		{"RESCUE_ISO", im.RescueISO}, {"RESCUE_DISK", im.RescueDisk}, {"RESCUE_FLOPPY", im.RescueFloppy},
	} {
		fmt.Printf("%s=%s\n", kv[0], shq(kv[1]))
	}
	return nil
}

func define(args []string) error {
	var name, machine *string
	var start, backing, noACPI *bool
	dir := flags("define", args, func(fs *flag.FlagSet) {
		name = fs.String("name", "demo", "domain name")
		machine = fs.String("machine", "pc", "pc|q35")
		start = fs.Bool("start", false, "start and wait until it booted from its root disk")
		backing = fs.Bool("backing", false, "root disk is an overlay of the base image")
		noACPI = fs.Bool("noacpi", false, "guest ignores the ACPI power button")
	})
	d, err := libvirtd.Load(dir)
	if err != nil {
		return err
	}
	l, err := d.Dial(d.QEMUURI)
	if err != nil {
		return err
	}
	defer func() { _ = l.Disconnect() }()
	_, err = d.DefineGuest(l, *name, libvirtd.GuestOptions{Machine: *machine, Start: *start, Backing: *backing, IgnoreACPI: *noACPI})
	if err != nil {
		return err
	}
	fmt.Printf("defined %s (machine %s, root disk %s, debug console %s)\n", *name, *machine, d.RootDisk(*name), d.DebugLogPath(*name))
	return nil
}

func waitBoot(args []string) error {
	var name, want *string
	var since *int64
	var timeout *time.Duration
	dir := flags("wait-boot", args, func(fs *flag.FlagSet) {
		name = fs.String("name", "demo", "domain name")
		want = fs.String("want", libvirtd.BootRoot, "expected boot line text")
		since = fs.Int64("since", 0, "byte offset in the debug log to search from")
		timeout = fs.Duration("timeout", time.Minute, "how long to wait")
	})
	d, err := libvirtd.Load(dir)
	if err != nil {
		return err
	}
	got, _, err := d.WaitBootedSince(*name, *since, *want, *timeout)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s%s\n", *name, libvirtd.BootedPrefix, got)
	return nil
}

func down(args []string) error {
	dir := flags("down", args, nil)
	d, err := libvirtd.Load(dir)
	if err != nil {
		return err
	}
	fmt.Println(d.Stop())
	return nil
}
