package domxml

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestRootDisk(t *testing.T) {
	cases := map[string]string{
		"pc-bootdev":    "disk vda/virtio file=/var/lib/libvirt/images/web-1.qcow2 format=qcow2 <- /var/lib/libvirt/images/debian-12.qcow2",
		"q35-bootorder": "disk sda/scsi file=/var/lib/libvirt/images/db-1.qcow2 format=qcow2 boot=1", // boot order wins over document order
		"pc-network":    "disk vda/virtio rbd=volumes/volume-1234 format=raw",
		"pc-ide":        "disk hda/ide file=/var/lib/libvirt/images/old-1.img format=raw", // the floppy before it is no root
		"ppc64-pseries": "disk sda/scsi file=/var/lib/libvirt/images/power-1.qcow2 format=qcow2 boot=1",
	}
	for in, want := range cases {
		d, err := RootDisk(readInput(t, in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if d.String() != want {
			t.Errorf("%s: got %s, want %s", in, d, want)
		}
	}
	d, _ := RootDisk(readInput(t, "pc-bootdev"))
	if want := []Backing{{Type: "file", Path: "/var/lib/libvirt/images/debian-12.qcow2", Format: "qcow2"}}; !reflect.DeepEqual(d.Backing, want) {
		t.Errorf("backing chain %+v", d.Backing)
	}
	if _, err := RootDisk(readInput(t, "pc-cdrom-only")); err == nil {
		t.Error("a cdrom-only domain has no root disk")
	}
}

func TestSummary(t *testing.T) {
	ds, err := Summary(readInput(t, "pc-network"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range ds {
		lines = append(lines, d.String())
	}
	want := "disk vda/virtio rbd=volumes/volume-1234 format=raw\n" +
		"lun sda/scsi iscsi=iqn.2013-06.com.example:iscsi-pool/1 format=raw\n" +
		"disk vdb/virtio volume=default/ceph-1-scratch.qcow2 format=qcow2"
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMachine(t *testing.T) {
	m, err := Machine(readInput(t, "q35-bootorder"))
	if err != nil {
		t.Fatal(err)
	}
	want := MachineInfo{DomainType: "kvm", Arch: "x86_64", Machine: "pc-q35-7.2", Emulator: "/usr/bin/qemu-system-x86_64"}
	if m != want || !m.Q35() {
		t.Errorf("got %+v", m)
	}
	if m, _ := Machine(readInput(t, "ppc64-pseries")); m.Arch != "ppc64le" || m.Q35() {
		t.Errorf("got %+v", m)
	}
}

func TestTargetNames(t *testing.T) {
	for i, name := range map[uint]string{0: "a", 25: "z", 26: "aa", 27: "ab", 51: "az", 52: "ba", 701: "zz", 702: "aaa"} {
		if got := indexToDiskName(i); got != name {
			t.Errorf("indexToDiskName(%d) = %s, want %s", i, got, name)
		}
		if got, ok := diskNameToIndex("sd" + name); !ok || got != i {
			t.Errorf("diskNameToIndex(sd%s) = %d %v, want %d", name, got, ok, i)
		}
	}
	for _, bad := range []string{"sd", "sd1", "sda1", "vdA"} {
		if _, ok := diskNameToIndex(bad); ok {
			t.Errorf("diskNameToIndex(%s) ok", bad)
		}
	}
}

// TestIDEFull: an IDE bus has 4 slots; once they are taken the error says so.
func TestIDEFull(t *testing.T) {
	x := readInput(t, "pc-ide") // hda, hdc used
	var err error
	for i, want := range []string{"hdb", "hdd"} {
		x, err = Rescue(x, Options{Device: "disk", Bus: "ide", Image: Source{File: fmt.Sprintf("/r%d.qcow2", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(x, "<source file='/r"+fmt.Sprint(i)+".qcow2'/>\n      <target dev='"+want+"' bus='ide'/>") {
			t.Fatalf("step %d: want target %s:\n%s", i, want, x)
		}
	}
	_, err = Rescue(x, Options{Device: "cdrom", Bus: "ide", Image: iso})
	if err == nil || !strings.Contains(err.Error(), "no free target on bus \"ide\"") {
		t.Errorf("got %v", err)
	}
	// floppy: fda is used, fdb is free, then none
	x, err = Rescue(readInput(t, "pc-ide"), Options{Device: "floppy", Bus: "fdc", Image: iso})
	if err != nil || !strings.Contains(x, "dev='fdb' bus='fdc'") {
		t.Fatalf("%v\n%s", err, x)
	}
	if _, err = Rescue(x, Options{Device: "floppy", Bus: "fdc", Image: overlay}); err == nil {
		t.Error("a third floppy was accepted")
	}
}
