package domxml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func hostInfo(t *testing.T, name string) HostInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "domcaps", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHostInfo(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseHostInfo(t *testing.T) {
	h := hostInfo(t, "q35")
	want := HostInfo{DomainType: "kvm", Arch: "x86_64", Machine: "pc-q35-7.2",
		DiskDevices: []string{"disk", "cdrom", "floppy", "lun"},
		Buses:       []string{"fdc", "scsi", "virtio", "usb", "sata"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v\nwant %+v", h, want)
	}
	if _, err := ParseHostInfo("<domainCapabilities><devices><disk supported='no'/></devices></domainCapabilities>"); err == nil {
		t.Error("no error for a host without disks")
	}
	if _, err := ParseHostInfo("not xml"); err == nil {
		t.Error("no error for garbage")
	}
}

func TestCheckDeviceBus(t *testing.T) {
	cases := []struct {
		host, device, bus string
		attr, why         string // attr "" = allowed
	}{
		{"pc", "cdrom", "ide", "", ""},
		{"pc", "cdrom", "sata", "", ""},
		{"pc", "cdrom", "scsi", "", ""},
		{"pc", "cdrom", "virtio", "bus", "ejectable"},
		{"pc", "cdrom", "usb", "bus", "El Torito"},
		{"pc", "cdrom", "fdc", "bus", "only takes a floppy"},
		{"pc", "disk", "virtio", "", ""},
		{"pc", "disk", "scsi", "", ""},
		{"pc", "disk", "ide", "", ""},
		{"pc", "disk", "usb", "", ""},
		{"pc", "disk", "sata", "", ""},
		{"pc", "disk", "fdc", "bus", "only takes a floppy"},
		{"pc", "floppy", "fdc", "", ""},
		{"pc", "floppy", "ide", "bus", "needs bus \"fdc\""},
		{"pc", "floppy", "virtio", "bus", "needs bus \"fdc\""},
		{"q35", "cdrom", "ide", "bus", "q35"},
		{"q35", "disk", "ide", "bus", "capabilities list no ide bus"},
		{"q35", "cdrom", "sata", "", ""},
		{"q35", "floppy", "fdc", "", ""},
		{"ppc64", "disk", "ide", "bus", "POWER"},
		{"ppc64", "cdrom", "scsi", "", ""},
		{"ppc64", "disk", "sata", "bus", "capabilities list no sata bus"},
		{"s390x", "floppy", "fdc", "device", "no floppy device"},
		{"s390x", "disk", "virtio", "", ""},
		{"pc", "tape", "scsi", "device", "device must be one of"},
		{"pc", "disk", "nvme", "bus", "bus must be one of"},
		{"pc", "", "virtio", "device", "device must be one of"},
	}
	for _, c := range cases {
		h := hostInfo(t, c.host)
		err := CheckDeviceBus(c.device, c.bus, h)
		name := c.host + "/" + c.device + "/" + c.bus
		if c.attr == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var ie *rescue.InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: want *rescue.InvalidError, got %T %v", name, err, err)
			continue
		}
		if ie.Attribute != c.attr || !strings.Contains(ie.Msg, c.why) {
			t.Errorf("%s: got attribute %q, %q; want %q containing %q", name, ie.Attribute, ie.Msg, c.attr, c.why)
		}
		if !strings.Contains(ie.Msg, `device "`+c.device+`" on bus "`+c.bus+`"`) || !strings.Contains(ie.Msg, "supports:") {
			t.Errorf("%s: message does not name the pair and what is supported: %s", name, ie.Msg)
		}
	}
}

func TestCheckDeviceBusMessage(t *testing.T) {
	err := CheckDeviceBus("cdrom", "virtio", hostInfo(t, "q35"))
	want := `invalid bus: device "cdrom" on bus "virtio" is not possible: virtio-blk has no ejectable media, so a cdrom cannot be attached on bus "virtio". ` +
		`This host (x86_64 pc-q35-7.2) supports: cdrom on scsi, sata; disk on virtio, scsi, sata, usb; floppy on fdc.`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestSupports(t *testing.T) {
	got := hostInfo(t, "pc").Supports()
	want := map[string][]string{
		"cdrom":  {"scsi", "sata", "ide"},
		"disk":   {"virtio", "scsi", "sata", "ide", "usb"},
		"floppy": {"fdc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// without capabilities only the rules apply
	if got := (HostInfo{Arch: "x86_64", Machine: "pc-q35-7.2"}).Supports()["cdrom"]; !reflect.DeepEqual(got, []string{"scsi", "sata"}) {
		t.Errorf("q35 without caps: cdrom on %v", got)
	}
}

func TestDefaultsLikeNova(t *testing.T) {
	pc := MachineInfo{Arch: "x86_64", Machine: "pc-i440fx-7.2"}
	q35 := MachineInfo{Arch: "x86_64", Machine: "pc-q35-7.2"}
	ppc := MachineInfo{Arch: "ppc64le", Machine: "pseries"}
	arm := MachineInfo{Arch: "aarch64", Machine: "virt"}
	cases := []struct {
		m            MachineInfo
		device, bus  string
		wantD, wantB string
	}{
		{pc, "", "", "", ""},
		{pc, "cdrom", "", "cdrom", "ide"},
		{q35, "cdrom", "", "cdrom", "sata"},
		{ppc, "cdrom", "", "cdrom", "scsi"},
		{arm, "cdrom", "", "cdrom", "scsi"},
		{pc, "disk", "", "disk", "virtio"},
		{pc, "floppy", "", "floppy", "fdc"},
		{pc, "", "scsi", "disk", "scsi"},
		{pc, "", "fdc", "floppy", "fdc"},
		{pc, "cdrom", "sata", "cdrom", "sata"},
	}
	for _, c := range cases {
		d, b := ResolveDeviceBus(c.device, c.bus, c.m)
		if d != c.wantD || b != c.wantB {
			t.Errorf("%s %q/%q: got %q/%q, want %q/%q", c.m.Machine, c.device, c.bus, d, b, c.wantD, c.wantB)
		}
	}
}

// TestBootOrderShift: per-device boot orders of every device type move up by one, the os
// boot list is dropped in stable mode and reordered in legacy mode.
func TestBootOrderShift(t *testing.T) {
	const dom = `<domain type='kvm'><os><type arch='x86_64' machine='pc'>hvm</type>%s</os><devices>` +
		`<disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/>%s</disk>` +
		`<interface type='network'><source network='default'/>%s</interface>` +
		`<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/></source>%s</hostdev>` +
		`<redirdev bus='usb' type='spicevmc'>%s</redirdev>` +
		`<filesystem type='mount'><source dir='/x'/><target dir='x'/>%s</filesystem>` +
		`</devices></domain>`
	b := func(n int) string {
		if n == 0 {
			return ""
		}
		return "<boot order='" + string(rune('0'+n)) + "'/>"
	}
	cases := []struct {
		name     string
		os       string
		orders   [5]int
		opts     Options
		wantOS   string
		wantOrds [5]int
		rescue   int
	}{
		{"stable shifts all", "", [5]int{1, 2, 3, 4, 5}, Options{Device: "cdrom", Bus: "sata", Image: iso}, "", [5]int{2, 3, 4, 5, 6}, 1},
		{"stable sparse", "", [5]int{3, 0, 1, 0, 0}, Options{Device: "disk", Bus: "scsi", Image: overlay}, "", [5]int{4, 0, 2, 0, 0}, 1},
		{"stable drops os boot", "<boot dev='network'/><boot dev='hd'/>", [5]int{}, Options{Device: "disk", Bus: "virtio", Image: overlay}, "", [5]int{}, 1},
		{"legacy with orders", "", [5]int{2, 1, 0, 0, 0}, Options{Image: overlay}, "", [5]int{3, 2, 0, 0, 0}, 1},
		{"legacy hd first", "<boot dev='network'/><boot dev='cdrom'/><boot dev='hd'/>", [5]int{}, Options{Image: overlay}, "<boot dev='hd'/><boot dev='network'/><boot dev='cdrom'/>", [5]int{}, 0},
		{"legacy adds hd", "<boot dev='network'/>", [5]int{}, Options{Image: overlay}, "<boot dev='hd'/><boot dev='network'/>", [5]int{}, 0},
		{"legacy hd already first", "<boot dev='hd'/><boot dev='cdrom'/>", [5]int{}, Options{Image: overlay}, "<boot dev='hd'/><boot dev='cdrom'/>", [5]int{}, 0},
	}
	for _, c := range cases {
		in := sprintf(dom, c.os, b(c.orders[0]), b(c.orders[1]), b(c.orders[2]), b(c.orders[3]), b(c.orders[4]))
		out, err := Rescue(in, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wd, err := parseTree(sprintf(dom, c.wantOS, b(c.wantOrds[0]), b(c.wantOrds[1]), b(c.wantOrds[2]), b(c.wantOrds[3]), b(c.wantOrds[4])))
		if err != nil {
			t.Fatal(err)
		}
		want := wd.String() // libvirt's empty-element form
		// remove the rescue disk from the output, then compare
		p, _ := parse(out)
		for i, d := range p.diskDefs() {
			if d.Source != nil && d.Source.File != nil && (d.Source.File.File == overlay.File || d.Source.File.File == iso.File) {
				got := uint(0)
				if d.Boot != nil {
					got = d.Boot.Order
				}
				if got != uint(c.rescue) {
					t.Errorf("%s: rescue boot order %d, want %d", c.name, got, c.rescue)
				}
				p.devices.remove(p.disks[i])
			}
		}
		for _, ct := range p.devices.elems("controller") {
			p.devices.remove(ct)
		}
		got := p.doc.String()
		if c.opts.Stable() {
			if got != want {
				t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, want)
			}
			continue
		}
		// legacy: the root disk was renamed (vdb) and stays in place
		got = strings.Replace(got, "dev='vdb'", "dev='vda'", 1)
		if got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, want)
		}
	}
}

func sprintf(format string, a ...string) string {
	args := make([]any, len(a))
	for i := range a {
		args[i] = a[i]
	}
	return fmt.Sprintf(format, args...)
}
