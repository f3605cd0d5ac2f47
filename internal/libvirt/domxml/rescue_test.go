package domxml

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

var (
	overlay = Source{File: "/var/lib/libvirt/images/rescue-overlay.qcow2"}
	iso     = Source{File: "/var/lib/libvirt/images/rescue.iso"}
	vol     = Source{Pool: "default", Volume: "rescue-overlay.qcow2"}
	cfg     = &Source{Pool: "default", Volume: "config-2.iso"}
)

type rescueCase struct {
	input string
	name  string
	opts  Options
	// errAttr/errText: the expected error (no golden file then).
	errAttr string
	errText string
	errKind error
}

var rescueCases = []rescueCase{
	{input: "pc-bootdev", name: "legacy", opts: Options{Image: overlay}},
	{input: "pc-bootdev", name: "legacy-configdrive", opts: Options{Image: vol, ConfigDrive: cfg}},
	{input: "pc-bootdev", name: "cdrom-ide", opts: Options{Device: "cdrom", Bus: "ide", Image: iso}},
	{input: "pc-bootdev", name: "cdrom-scsi", opts: Options{Device: "cdrom", Bus: "scsi", Image: iso}},
	{input: "pc-bootdev", name: "cdrom-sata-configdrive", opts: Options{Device: "cdrom", Bus: "sata", Image: iso, ConfigDrive: cfg}},
	{input: "pc-bootdev", name: "disk-virtio-volume", opts: Options{Device: "disk", Bus: "virtio", Image: vol}},
	{input: "pc-bootdev", name: "floppy-fdc", opts: Options{Device: "floppy", Bus: "fdc", Image: Source{File: "/var/lib/libvirt/images/rescue.img"}}},
	{input: "pc-bootdev", name: "disk-usb", opts: Options{Device: "disk", Bus: "usb", Image: overlay}},
	{input: "pc-bootdev", name: "disk-only", opts: Options{Device: "disk", Image: overlay}}, // bus resolved: virtio
	{input: "pc-bootdev", name: "err-cdrom-virtio", opts: Options{Device: "cdrom", Bus: "virtio", Image: iso}, errAttr: "bus", errText: "ejectable"},
	{input: "pc-bootdev", name: "err-cdrom-usb", opts: Options{Device: "cdrom", Bus: "usb", Image: iso}, errAttr: "bus", errText: "El Torito"},
	{input: "pc-bootdev", name: "err-readonly-sata", opts: Options{Device: "disk", Bus: "sata", Image: iso, ReadOnly: true}, errAttr: "bus", errText: "read-only"},
	{input: "pc-bootdev", name: "err-pool-only", opts: Options{Image: Source{Pool: "default"}}, errAttr: "image_id", errText: "pool/volume"},

	{input: "q35-bootorder", name: "legacy", opts: Options{Image: overlay}},
	{input: "q35-bootorder", name: "legacy-configdrive", opts: Options{Image: overlay, ConfigDrive: cfg}},
	{input: "q35-bootorder", name: "cdrom-sata", opts: Options{Device: "cdrom", Bus: "sata", Image: iso}},
	{input: "q35-bootorder", name: "cdrom-scsi", opts: Options{Device: "cdrom", Bus: "scsi", Image: iso}},
	{input: "q35-bootorder", name: "disk-virtio", opts: Options{Device: "disk", Bus: "virtio", Image: overlay}},
	{input: "q35-bootorder", name: "cdrom-only", opts: Options{Device: "cdrom", Image: iso}}, // bus resolved: sata
	{input: "q35-bootorder", name: "err-cdrom-ide", opts: Options{Device: "cdrom", Bus: "ide", Image: iso}, errAttr: "bus", errText: "q35"},
	{input: "q35-bootorder", name: "err-floppy-virtio", opts: Options{Device: "floppy", Bus: "virtio", Image: iso}, errAttr: "bus", errText: "fdc"},

	{input: "pc-network", name: "legacy", opts: Options{Image: vol}},
	{input: "pc-network", name: "cdrom-scsi", opts: Options{Device: "cdrom", Bus: "scsi", Image: iso}},
	{input: "pc-network", name: "disk-sata-block", opts: Options{Device: "disk", Bus: "sata", Image: Source{Block: "/dev/vg0/rescue"}, Format: "raw"}},
	{input: "pc-network", name: "err-disk-usb-nocontroller", opts: Options{Device: "disk", Bus: "usb", Image: overlay}, errAttr: "bus", errText: "no USB controller"},

	{input: "unknown", name: "legacy", opts: Options{Image: overlay}},
	{input: "unknown", name: "cdrom-sata", opts: Options{Device: "cdrom", Bus: "sata", Image: iso, ConfigDrive: cfg}},
	{input: "unknown", name: "disk-scsi", opts: Options{Device: "disk", Bus: "scsi", Image: overlay}},

	{input: "pc-ide", name: "legacy", opts: Options{Image: overlay}},
	{input: "pc-ide", name: "floppy-fdc", opts: Options{Device: "floppy", Bus: "fdc", Image: Source{File: "/var/lib/libvirt/images/rescue.img"}}},
	{input: "pc-ide", name: "disk-ide", opts: Options{Device: "disk", Bus: "ide", Image: overlay}},
	{input: "pc-ide", name: "legacy-configdrive", opts: Options{Image: overlay, ConfigDrive: cfg}},

	{input: "pc-cdrom-only", name: "disk-virtio", opts: Options{Device: "disk", Bus: "virtio", Image: overlay}},
	{input: "pc-cdrom-only", name: "err-legacy-noroot", opts: Options{Image: overlay}, errKind: &rescue.UnsupportedError{}, errText: "no disk with device='disk'"},

	{input: "q35-sata-addr", name: "disk-sata", opts: Options{Device: "disk", Bus: "sata", Image: overlay}},
	{input: "q35-sata-addr", name: "legacy", opts: Options{Image: overlay}},

	{input: "ppc64-pseries", name: "legacy", opts: Options{Image: overlay}},
	{input: "ppc64-pseries", name: "cdrom-default", opts: Options{Device: "cdrom", Image: iso}}, // bus resolved: scsi
	{input: "pc-bootdev", name: "cdrom-sata-reboottimeout", opts: Options{Device: "cdrom", Bus: "sata", Image: iso, RebootTimeout: ms(1000)}},
	{input: "pc-bios-serial", name: "legacy-reboottimeout", opts: Options{Image: overlay, RebootTimeout: ms(1000)}},
	{input: "pc-bios-serial", name: "disk-virtio-reboottimeout", opts: Options{Device: "disk", Bus: "virtio", Image: overlay, RebootTimeout: ms(1000)}},
	{input: "pc-bootdev", name: "err-reboottimeout-range", opts: Options{Image: overlay, RebootTimeout: ms(70000)}, errText: "want -1 to 65535"},

	{input: "ppc64-pseries", name: "err-disk-ide", opts: Options{Device: "disk", Bus: "ide", Image: overlay}, errAttr: "bus", errText: "POWER"},
}

func ms(v int) *int { return &v }

func readInput(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRescueGolden(t *testing.T) {
	for _, c := range rescueCases {
		t.Run(c.input+"/"+c.name, func(t *testing.T) {
			orig := readInput(t, c.input)
			out, err := Rescue(orig, c.opts)
			if c.errText != "" {
				checkErr(t, err, c)
				return
			}
			if err != nil {
				t.Fatalf("Rescue: %v", err)
			}
			golden := filepath.Join("testdata", "golden", c.input+"."+c.name+".xml")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRescueGolden -update)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (rerun with -update after checking):\n%s", golden, out)
			}
			checkInvariants(t, orig, out, c.opts)
		})
	}
}

func checkErr(t *testing.T, err error, c rescueCase) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got none", c.errText)
	}
	if !strings.Contains(err.Error(), c.errText) {
		t.Errorf("error %q does not contain %q", err, c.errText)
	}
	if c.errAttr != "" {
		var ie *rescue.InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("want *rescue.InvalidError, got %T: %v", err, err)
		}
		if ie.Attribute != c.errAttr {
			t.Errorf("attribute = %q, want %q", ie.Attribute, c.errAttr)
		}
	}
	if _, ok := c.errKind.(*rescue.UnsupportedError); ok { //nolint:errorlint // errKind is a sample value naming the kind, not an error to unwrap
		var ue *rescue.UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("want *rescue.UnsupportedError, got %T", err)
		}
	}
}

func sameSource(d DiskInfo, s Source) bool {
	switch {
	case s.File != "":
		return d.Type == "file" && d.File == s.File
	case s.Block != "":
		return d.Type == "block" && d.File == s.Block
	default:
		return d.Type == "volume" && d.Pool == s.Pool && d.Volume == s.Volume
	}
}

// checkInvariants checks what every rescue definition must satisfy, independently of the
// golden files.
func checkInvariants(t *testing.T, orig, out string, opts Options) {
	t.Helper()
	before, err := Summary(orig)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Summary(out)
	if err != nil {
		t.Fatalf("rescue definition does not parse: %v", err)
	}
	extra := 1
	if opts.ConfigDrive != nil {
		extra++
	}
	if len(after) != len(before)+extra {
		t.Fatalf("%d disks, want %d", len(after), len(before)+extra)
	}
	targets, orders := map[string]bool{}, map[uint]bool{}
	for _, d := range after {
		if targets[d.Target] {
			t.Errorf("target %s used twice", d.Target)
		}
		targets[d.Target] = true
		if d.BootOrder > 0 && orders[d.BootOrder] {
			t.Errorf("boot order %d used twice", d.BootOrder)
		}
		orders[d.BootOrder] = true
	}
	// the config drive: a read-only cdrom that does not boot
	if opts.ConfigDrive != nil {
		found := false
		for _, d := range after {
			if sameSource(d, *opts.ConfigDrive) {
				found = true
				if d.Device != "cdrom" || !d.ReadOnly || d.BootOrder != 0 || d.Format != "raw" {
					t.Errorf("config drive attached as %s", d)
				}
			}
		}
		if !found {
			t.Error("config drive not attached")
		}
	}
	od, _ := parseTree(orig)
	nd, _ := parseTree(out)
	if m := od.root.elem("metadata"); m != nil {
		var a, b strings.Builder
		a.WriteString(nodeString(m))
		b.WriteString(nodeString(nd.root.elem("metadata")))
		if a.String() != b.String() {
			t.Errorf("metadata changed:\n%s\n---\n%s", a.String(), b.String())
		}
	}
	checkPreserved(t, od, nd)
	m, _ := Machine(orig)
	if opts.Stable() {
		checkStable(t, orig, out, opts, before, after, m)
	} else {
		checkLegacy(t, orig, out, opts, before, after)
	}
}

func nodeString(n *node) string {
	if n == nil {
		return "<nil>"
	}
	d := &document{root: n}
	return d.String()
}

// checkPreserved: every element of the original (by name and attributes, boot orders, target
// names and the BIOS reboot timeout aside) is still in the rescue definition, known to libvirtxml or not.
func checkPreserved(t *testing.T, od, nd *document) {
	t.Helper()
	count := func(doc *document) map[string]int {
		m := map[string]int{}
		var walk func(n *node)
		walk = func(n *node) {
			if n.kind == elementNode && n.name.Local != "boot" && n.name.Local != "address" {
				var attrs []string
				for _, a := range n.attrs {
					if a.Name.Local == "dev" && n.name.Local == "target" {
						continue
					}
					if a.Name.Local == "rebootTimeout" && n.name.Local == "bios" {
						continue // Options.RebootTimeout sets it
					}
					attrs = append(attrs, rawName(a.Name)+"="+a.Value)
				}
				sort.Strings(attrs)
				m[rawName(n.name)+"["+strings.Join(attrs, " ")+"]"]++
			}
			if n.kind == commentNode {
				m["<!--"+n.text+"-->"]++
			}
			for _, c := range n.children {
				walk(c)
			}
		}
		walk(doc.root)
		return m
	}
	a, b := count(od), count(nd)
	for k, n := range a {
		if b[k] < n {
			t.Errorf("lost %s (%d in original, %d in rescue definition)", k, n, b[k])
		}
	}
}

func checkStable(t *testing.T, orig, out string, opts Options, before, after []DiskInfo, m MachineInfo) {
	t.Helper()
	device, bus := ResolveDeviceBus(opts.Device, opts.Bus, m)
	var rd *DiskInfo
	for i := range after {
		if sameSource(after[i], opts.Image) {
			rd = &after[i]
		}
	}
	if rd == nil {
		t.Fatal("rescue disk not found")
	}
	if rd.BootOrder != 1 || rd.Device != device || rd.Bus != bus || !strings.HasPrefix(rd.Target, Prefix(bus)) {
		t.Errorf("rescue disk is %s, want %s on %s with boot order 1", rd, device, bus)
	}
	if device == "cdrom" && !rd.ReadOnly {
		t.Error("cdrom not read-only")
	}
	// Undo the edits on the rescue definition: what remains must be the original with
	// <os><boot> removed, exactly.
	nd, _ := parseTree(out)
	p := &parsed{doc: nd, devices: nd.root.elem("devices")}
	for _, dn := range p.devices.elems("disk") {
		src := dn.elem("source")
		if src == nil {
			continue
		}
		f, _ := src.attr("file")
		dev, _ := src.attr("dev")
		pool, _ := src.attr("pool")
		vl, _ := src.attr("volume")
		s := Source{File: f, Block: dev, Pool: pool, Volume: vl}
		if s == opts.Image || (opts.ConfigDrive != nil && s == *opts.ConfigDrive) {
			p.devices.remove(dn)
		}
	}
	if !strings.Contains(orig, "<controller type='scsi'") {
		for _, c := range p.devices.elems("controller") {
			if ty, _ := c.attr("type"); ty == "scsi" {
				p.devices.remove(c)
			}
		}
	}
	for _, b := range p.bootNodes() {
		v, _ := b.attr("order")
		var n int
		_, _ = fmt.Sscan(v, &n)
		b.setAttr("order", fmt.Sprint(n-1))
	}
	od, _ := parseTree(orig)
	op := &parsed{doc: od}
	op.dropOSBoot()
	if opts.RebootTimeout != nil {
		if err := op.setRebootTimeout(*opts.RebootTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := nd.String(), od.String(); got != want {
		t.Errorf("stable mode changed more than the rescue device, boot orders and os/boot:\n%s\n--- want ---\n%s", got, want)
	}
	for i, d := range before {
		a := after[i]
		if d.BootOrder > 0 {
			d.BootOrder++
		}
		if d.String() != a.String() {
			t.Errorf("disk %d: %s became %s", i, d, a)
		}
	}
}

func checkLegacy(t *testing.T, orig, out string, opts Options, before, after []DiskInfo) {
	t.Helper()
	root, err := RootDisk(orig)
	if err != nil {
		t.Fatal(err)
	}
	rd, moved := after[root.Index], after[root.Index+1]
	if !sameSource(rd, opts.Image) || rd.Device != "disk" || rd.Target != root.Target || rd.Bus != root.Bus {
		t.Errorf("rescue disk is %s, want the image on %s/%s", rd, root.Target, root.Bus)
	}
	if moved.File != root.File || moved.Name != root.Name || moved.Volume != root.Volume || moved.Target == root.Target || moved.Bus != root.Bus {
		t.Errorf("root disk after the rescue disk is %s, want %s under a new name", moved, root)
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	if a := dom.Devices.Disks[root.Index+1].Address; a != nil {
		t.Errorf("moved root disk kept an address: %+v", a)
	}
	// rescue boots first: boot order 1, or the first device='disk' with hd first in os/boot
	if rd.BootOrder != 1 {
		if dom.OS != nil && len(dom.OS.BootDevices) > 0 && dom.OS.BootDevices[0].Dev != "hd" {
			t.Errorf("os/boot starts with %s, not hd", dom.OS.BootDevices[0].Dev)
		}
		for _, d := range after[:root.Index] {
			if d.Device == "disk" {
				t.Errorf("disk %s comes before the rescue disk", d)
			}
		}
	}
	// other disks: unchanged
	for i, d := range before {
		j := i
		if i == root.Index {
			continue
		}
		if i > root.Index {
			j++
		}
		a := after[j]
		if d.BootOrder > 0 && rd.BootOrder == 1 {
			d.BootOrder++
		}
		if d.String() != a.String() {
			t.Errorf("disk %d: %s became %s", i, d, a)
		}
	}
}

// TestLibvirtxmlDropsUnknown documents why Rescue edits a tree: a libvirtxml round trip loses
// what it does not model. If libvirtxml one day keeps them, this test says so.
func TestLibvirtxmlDropsUnknown(t *testing.T) {
	orig := readInput(t, "unknown")
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(orig); err != nil {
		t.Fatal(err)
	}
	rt, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, s := range []string{"futuredevice", "futurechild", "futurefeature", "futureattr", "acme:placement", "acme:owner"} {
		if !strings.Contains(rt, s) {
			lost = append(lost, s)
		}
	}
	if len(lost) == 0 {
		t.Fatal("libvirtxml kept all unknown content: the tree in tree.go may no longer be needed")
	}
	t.Logf("libvirtxml round trip lost: %v", lost)
	out, err := Rescue(orig, Options{Device: "cdrom", Bus: "sata", Image: iso})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"<futuredevice model='gizmo'>", "<futurechild level='2'/>", "<futurefeature level='3'>",
		"futureattr='fast'", "futuredriver='x'", "futuretarget='1'", "<futureboot mode='fast'/>", "futureos='on'",
		"<acme:placement rack='r7' row='2'>near storage</acme:placement>", "acme:owner='ops'",
		"xmlns:acme='https://acme.example/libvirt/1'", "<!-- managed by acme; keep this comment -->",
		"<acme:journal><acme:entry seq='1'>created</acme:entry></acme:journal>",
		"<qemu:arg value='name=opt/acme,string=1'/>", "passwd='p&amp;w&lt;d'"} {
		if !strings.Contains(out, s) {
			t.Errorf("rescue definition lost %s", s)
		}
	}
	// the unknown device's boot order is shifted too
	if !strings.Contains(out, "<futuredevice model='gizmo'>\n      <boot order='3'/>") {
		t.Errorf("boot order of the unknown device not shifted:\n%s", out)
	}
}

// TestTreeRoundTrip: parsing and writing back the tree gives the same XML token stream.
func TestTreeRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) < 8 {
		t.Fatalf("only %d inputs", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		doc, err := parseTree(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if a, b := tokens(t, string(b)), tokens(t, doc.String()); a != b {
			t.Errorf("%s: round trip differs:\n%s\n---\n%s", f, a, b)
		}
	}
}

func tokens(t *testing.T, s string) string {
	t.Helper()
	doc, err := parseTree(s)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		fmt.Fprintf(&b, "%d %d %q %q %q\n", depth, n.kind, rawName(n.name), n.attrs, n.text)
		for _, c := range n.children {
			walk(c, depth+1)
		}
	}
	walk(doc.root, 0)
	return b.String()
}

func TestOriginalNotModified(t *testing.T) {
	orig := readInput(t, "q35-bootorder")
	keep := strings.Clone(orig)
	first, err := Rescue(orig, Options{Device: "cdrom", Bus: "scsi", Image: iso, ConfigDrive: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if orig != keep {
		t.Fatal("the original XML was modified")
	}
	second, err := Rescue(orig, Options{Device: "cdrom", Bus: "scsi", Image: iso, ConfigDrive: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("Rescue is not deterministic")
	}
	if first == orig {
		t.Fatal("Rescue returned the original")
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "<domain>", "<network/>", "<domain><devices></domain>", "<domain/><domain/>"} {
		if _, err := Rescue(s, Options{Image: overlay}); err == nil {
			t.Errorf("Rescue(%q): no error", s)
		}
	}
	if _, err := Rescue(readInput(t, "pc-bootdev"), Options{}); err == nil {
		t.Error("no image: no error")
	}
}
