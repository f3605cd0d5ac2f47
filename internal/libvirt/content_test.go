package libvirt

import (
	"encoding/binary"
	"strings"
	"testing"
)

// memRead reads from an in-memory file.
func memRead(f []byte) readAtFunc {
	return func(off, n uint64) ([]byte, error) {
		if off >= uint64(len(f)) {
			return nil, nil
		}
		return f[off:min(off+n, uint64(len(f)))], nil
	}
}

// guestWith returns a guest view of size bytes with the given bytes at their offsets.
func guestWith(size int, at map[int][]byte) []byte {
	g := make([]byte, size)
	for off, b := range at {
		copy(g[off:], b)
	}
	return g
}

var (
	mbrSector = func() []byte { b := make([]byte, 512); b[0] = 0xeb; b[510], b[511] = 0x55, 0xaa; return b }()
	isoVD     = []byte("\x01CD001\x01")
)

// qcow2Of builds a qcow2 v3 file (cluster size 1<<bits) holding guest, allocating only the
// clusters that are not all zero; zeroFlag marks zero clusters with the v3 zero flag instead of
// leaving them unallocated; backing names a backing file.
func qcow2Of(guest []byte, bits uint32, backing string, zeroFlag bool, compressed bool) []byte {
	cs := 1 << bits
	nClusters := (len(guest) + cs - 1) / cs
	perL2 := cs / 8
	nL2 := (nClusters + perL2 - 1) / perL2
	// Layout: header cluster, L1 cluster, nL2 L2 clusters, then data clusters.
	l1Off := cs
	l2Off := 2 * cs
	dataOff := l2Off + nL2*cs
	f := make([]byte, dataOff)
	be := binary.BigEndian
	copy(f, qcow2Magic)
	be.PutUint32(f[4:], 3)
	if backing != "" {
		be.PutUint64(f[8:], 512)
		be.PutUint32(f[16:], uint32(len(backing)))
		copy(f[512:], backing)
	}
	be.PutUint32(f[20:], bits)
	be.PutUint64(f[24:], uint64(len(guest)))
	be.PutUint32(f[36:], uint32(nL2))
	be.PutUint64(f[40:], uint64(l1Off))
	be.PutUint32(f[100:], 104)
	for i := 0; i < nL2; i++ {
		be.PutUint64(f[l1Off+8*i:], uint64(l2Off+i*cs))
	}
	for c := 0; c < nClusters; c++ {
		data := guest[c*cs : min((c+1)*cs, len(guest))]
		zero := strings.Trim(string(data), "\x00") == ""
		entry := uint64(0)
		switch {
		case zero && zeroFlag:
			entry = 1
		case zero:
		default:
			entry = uint64(len(f))
			if compressed {
				entry |= qcow2Compressed
			}
			f = append(f, data...)
			f = append(f, make([]byte, cs-len(data))...)
		}
		be.PutUint64(f[l2Off+8*c:], entry)
	}
	return f
}

func TestSniffRaw(t *testing.T) {
	for _, c := range []struct {
		name string
		img  []byte
		want imageContent
	}{
		{"mbr disk", guestWith(1<<20, map[int][]byte{0: mbrSector}), imageContent{MBR: true}},
		{"gpt disk", guestWith(1<<20, map[int][]byte{0: mbrSector, 512: []byte("EFI PART")}), imageContent{MBR: true, GPT: true}},
		{"iso", guestWith(1<<20, map[int][]byte{isoDescriptorOffset: isoVD}), imageContent{ISO: true}},
		{"hybrid iso", guestWith(1<<20, map[int][]byte{0: mbrSector, isoDescriptorOffset: isoVD}), imageContent{ISO: true, MBR: true}},
		{"zeros", make([]byte, 1<<20), imageContent{}},
		{"one sector", mbrSector, imageContent{MBR: true}},
		{"empty", nil, imageContent{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := newGuestReader("raw", memRead(c.img), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sniffImage(r)
			if err != nil || got != c.want {
				t.Fatalf("sniff: %+v %v, want %+v", got, err, c.want)
			}
		})
	}
}

func TestSniffQcow2(t *testing.T) {
	disk := guestWith(1<<20, map[int][]byte{0: mbrSector})
	iso := guestWith(1<<20, map[int][]byte{isoDescriptorOffset: isoVD})
	for _, c := range []struct {
		name string
		file []byte
		want imageContent
	}{
		{"disk, 64k clusters", qcow2Of(disk, 16, "", false, false), imageContent{MBR: true}},
		{"disk, 512-byte clusters", qcow2Of(disk, 9, "", false, false), imageContent{MBR: true}},
		{"iso, 64k clusters", qcow2Of(iso, 16, "", false, false), imageContent{ISO: true}},
		{"iso, 512-byte clusters", qcow2Of(iso, 9, "", false, false), imageContent{ISO: true}},
		{"empty", qcow2Of(make([]byte, 1<<20), 16, "", false, false), imageContent{}},
		{"zero flag", qcow2Of(make([]byte, 1<<20), 16, "", true, false), imageContent{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := newGuestReader("qcow2", memRead(c.file), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sniffImage(r)
			if err != nil || got != c.want {
				t.Fatalf("sniff: %+v %v, want %+v", got, err, c.want)
			}
		})
	}

	// An overlay whose first clusters are unallocated reads through to its backing file.
	base := qcow2Of(iso, 16, "", false, false)
	over := qcow2Of(make([]byte, 1<<20), 16, "/images/base.qcow2", false, false)
	opened := ""
	backing := func(p string) (readAtFunc, string, error) { opened = p; return memRead(base), "qcow2", nil }
	r, err := newGuestReader("qcow2", memRead(over), backing, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sniffImage(r); err != nil || got != (imageContent{ISO: true}) || opened != "/images/base.qcow2" {
		t.Fatalf("overlay: %+v %v (opened %q)", got, err, opened)
	}
	// Without a way to open the backing file, it cannot be told.
	if _, err := newGuestReader("qcow2", memRead(over), nil, 0); err == nil {
		t.Fatal("overlay without backing reader: no error")
	} else if why, ok := cannotTell(err); !ok || !strings.Contains(why, "/images/base.qcow2") {
		t.Fatalf("overlay without backing reader: %v", err)
	}
	// A backing chain that loops is cut.
	loop := func(string) (readAtFunc, string, error) { return memRead(over), "qcow2", nil }
	if _, err := newGuestReader("qcow2", memRead(over), loop, 0); err == nil {
		t.Fatal("looping chain: no error")
	} else if _, ok := cannotTell(err); !ok {
		t.Fatalf("looping chain: %v", err)
	}
	// Compressed clusters, other formats: cannot tell.
	r, err = newGuestReader("qcow2", memRead(qcow2Of(disk, 16, "", false, true)), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sniffImage(r); err == nil {
		t.Fatal("compressed: no error")
	} else if _, ok := cannotTell(err); !ok {
		t.Fatalf("compressed: %v", err)
	}
	if _, err := newGuestReader("vmdk", memRead(disk), nil, 0); err == nil {
		t.Fatal("vmdk: no error")
	} else if _, ok := cannotTell(err); !ok {
		t.Fatalf("vmdk: %v", err)
	}
	// A raw disk image declared qcow2 is an error, not a guess.
	if _, err := newGuestReader("qcow2", memRead(disk), nil, 0); err == nil {
		t.Fatal("raw as qcow2: no error")
	} else if _, ok := cannotTell(err); ok {
		t.Fatalf("raw as qcow2: %v", err)
	}
}

func TestContentProblem(t *testing.T) {
	iso := imageContent{ISO: true}
	hybrid := imageContent{ISO: true, MBR: true}
	disk := imageContent{MBR: true}
	gpt := imageContent{MBR: true, GPT: true}
	none := imageContent{}
	for _, c := range []struct {
		c      imageContent
		device string
		size   uint64
		want   string // "" fits; else a word of the problem
	}{
		{iso, "cdrom", 1 << 20, ""},
		{hybrid, "cdrom", 1 << 20, ""},
		{disk, "cdrom", 1 << 20, "a cdrom boots only an ISO 9660 image"},
		{none, "cdrom", 1 << 20, "neither"},
		{disk, "disk", 1 << 30, ""},
		{gpt, "disk", 1 << 30, ""},
		{hybrid, "disk", 1 << 30, ""},
		{iso, "disk", 1 << 20, "an ISO is not a disk"},
		{none, "disk", 1 << 20, "boots only a disk image"},
		{disk, "", 1 << 30, ""},
		{iso, "", 1 << 20, "legacy mode"},
		{disk, "floppy", 1474560, ""},
		{disk, "floppy", floppyMaxBytes, ""},
		{disk, "floppy", 16 << 20, "at most 2.88 MB"},
		{iso, "floppy", 1 << 20, "device = \"cdrom\""},
		{none, "floppy", 1474560, "boot signature"},
	} {
		got := contentProblem(c.c, c.device, c.size)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("contentProblem(%+v, %q, %d) = %q, want %q", c.c, c.device, c.size, got, c.want)
		}
	}
}
