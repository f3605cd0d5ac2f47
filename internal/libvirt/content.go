package libvirt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Content: what a rescue image holds, told from a few bytes of what the guest will see, so
// that an image that cannot boot on the chosen device is refused at plan time:
//   - an ISO 9660 image has the standard identifier "CD001" at byte 32769 (the first volume
//     descriptor, sector 16 of 2048 bytes);
//   - a disk image has the MBR boot signature 0x55 0xAA at byte 510 (a GPT disk has it too, in
//     its protective MBR, and "EFI PART" at byte 512);
//   - raw images are read as they are; qcow2 images through their L1/L2 tables (and backing
//     files), reading only the clusters that hold those bytes. Anything else (compressed or
//     encrypted clusters, an external data file, other formats) cannot be told: the image is
//     let through, with a warning.

const (
	// isoDescriptorOffset is where the first ISO 9660 volume descriptor begins.
	isoDescriptorOffset = 32768
	// headLen is how much of the start of an image is read: the MBR and the GPT header's signature.
	headLen = 1024
	// floppyMaxBytes is the largest floppy format (2.88 MB, 5760 sectors of 512 bytes).
	floppyMaxBytes = 5760 * 512
	// maxBackingDepth bounds how far a qcow2 backing chain is followed.
	maxBackingDepth = 8
)

// imageContent is what the first bytes of an image say.
type imageContent struct {
	// ISO: "CD001" at byte 32769.
	ISO bool
	// MBR: the boot signature 0x55 0xAA at byte 510.
	MBR bool
	// GPT: "EFI PART" at byte 512.
	GPT bool
}

// sniff tells the content from the first headLen bytes (head) and the 6 bytes at
// isoDescriptorOffset (vd); either may be short (a small image).
func sniff(head, vd []byte) imageContent {
	var c imageContent
	if len(vd) >= 6 && string(vd[1:6]) == "CD001" {
		c.ISO = true
	}
	if len(head) >= 512 && head[510] == 0x55 && head[511] == 0xAA {
		c.MBR = true
	}
	if len(head) >= 520 && string(head[512:520]) == "EFI PART" {
		c.GPT = true
	}
	return c
}

// String says what was found, for messages.
func (c imageContent) String() string {
	switch {
	case c.ISO && c.MBR:
		return "a hybrid ISO 9660 image (CD001 at byte 32769 and an MBR boot signature)"
	case c.ISO:
		return "an ISO 9660 image (CD001 at byte 32769) without an MBR boot signature"
	case c.GPT:
		return "a disk image with a GPT partition table"
	case c.MBR:
		return "a disk image with an MBR boot signature (0x55AA at byte 510)"
	}
	return "neither an ISO 9660 image (no CD001 at byte 32769) nor a bootable disk image (no boot signature 0x55AA at byte 510)"
}

// contentProblem says why an image with content c and virtual size capacity cannot boot as
// device ("" is legacy mode: the image boots as the first disk), or "" when it can.
func contentProblem(c imageContent, device string, capacity uint64) string {
	switch device {
	case "cdrom":
		if !c.ISO {
			return fmt.Sprintf("it is %s, and a cdrom boots only an ISO 9660 image (CD001 at byte 32769): use an ISO image, or device = \"disk\" for a disk image", c)
		}
	case "floppy":
		switch {
		case c.ISO && !c.MBR:
			return fmt.Sprintf("it is %s, and a floppy boots only a floppy image with a boot sector: use device = \"cdrom\" for an ISO", c)
		case !c.MBR:
			return fmt.Sprintf("it is %s, and a floppy boots only an image whose first sector ends with the boot signature 0x55AA", c)
		case capacity > floppyMaxBytes:
			return fmt.Sprintf("it is %d bytes, and a floppy holds at most 2.88 MB (%d bytes): the firmware reads no more of it; use device = \"disk\" for a disk image", capacity, floppyMaxBytes)
		}
	default: // disk, or legacy mode (the image becomes the first, booting disk)
		if !c.MBR && !c.GPT {
			fix := "use a disk image with a boot sector"
			if c.ISO {
				fix = "an ISO is not a disk: use device = \"cdrom\" (with a bus such as \"sata\" or \"scsi\") for an ISO"
			}
			what := "a disk"
			if device == "" {
				what = "the first disk (legacy mode, device not set)"
			}
			return fmt.Sprintf("it is %s, and %s boots only a disk image (boot signature 0x55AA at byte 510, or a GPT): %s", c, what, fix)
		}
	}
	return ""
}

// errCannotTell says that the content of an image cannot be told from its bytes.
type errCannotTell struct{ why string }

func (e *errCannotTell) Error() string { return "cannot tell the content: " + e.why }

// readAtFunc reads n bytes at offset off of a volume's file as stored (fewer at its end).
type readAtFunc func(off, n uint64) ([]byte, error)

// backingFunc opens the backing file path of a qcow2 image: its reader and its format.
type backingFunc func(path string) (readAtFunc, string, error)

// guestReader reads what the guest sees of an image.
type guestReader interface {
	readGuest(off, n uint64) ([]byte, error)
}

// newGuestReader returns a reader of the guest's view of an image of format stored as read.
func newGuestReader(format string, read readAtFunc, backing backingFunc, depth int) (guestReader, error) {
	switch format {
	case "raw", "iso", "":
		return rawReader(read), nil
	case "qcow2":
		if depth > maxBackingDepth {
			return nil, &errCannotTell{"its qcow2 backing chain is longer than " + fmt.Sprint(maxBackingDepth)}
		}
		return openQcow2(read, backing, depth)
	}
	return nil, &errCannotTell{"its format " + format + " is not read here (raw and qcow2 are)"}
}

// sniffImage reads the bytes sniff needs through r, in one read.
func sniffImage(r guestReader) (imageContent, error) {
	b, err := r.readGuest(0, isoDescriptorOffset+6)
	if err != nil {
		return imageContent{}, err
	}
	head := b[:min(len(b), headLen)]
	var vd []byte
	if len(b) > isoDescriptorOffset {
		vd = b[isoDescriptorOffset:]
	}
	return sniff(head, vd), nil
}

type rawReader readAtFunc

func (r rawReader) readGuest(off, n uint64) ([]byte, error) { return r(off, n) }

// qcow2Reader maps guest offsets to the file through the L1 and L2 tables.
type qcow2Reader struct {
	read        readAtFunc
	clusterBits uint32
	size        uint64
	l1Size      uint32
	l1Offset    uint64
	// backing reads unallocated clusters; nil when there is no backing file (zeros).
	backing guestReader
	// entries memoizes the table entries read (by file offset).
	entries map[uint64]uint64
}

const (
	qcow2Magic       = "QFI\xfb"
	qcow2OffsetMask  = 0x00fffffffffffe00
	qcow2Compressed  = uint64(1) << 62
	qcow2ZeroCluster = uint64(1)
)

// openQcow2 parses a qcow2 header (versions 2 and 3).
func openQcow2(read readAtFunc, backing backingFunc, depth int) (*qcow2Reader, error) {
	h, err := read(0, 4096)
	if err != nil {
		return nil, err
	}
	if len(h) < 72 || string(h[:4]) != qcow2Magic {
		return nil, fmt.Errorf("not a qcow2 image (no QFI\\xfb magic)")
	}
	be := binary.BigEndian
	version := be.Uint32(h[4:])
	q := &qcow2Reader{
		read:        read,
		clusterBits: be.Uint32(h[20:]),
		size:        be.Uint64(h[24:]),
		l1Size:      be.Uint32(h[36:]),
		l1Offset:    be.Uint64(h[40:]),
	}
	if version < 2 || version > 3 {
		return nil, &errCannotTell{fmt.Sprintf("qcow2 version %d", version)}
	}
	if q.clusterBits < 9 || q.clusterBits > 21 {
		return nil, fmt.Errorf("qcow2 cluster_bits %d is out of range", q.clusterBits)
	}
	if be.Uint32(h[32:]) != 0 {
		return nil, &errCannotTell{"it is an encrypted qcow2 image"}
	}
	if version == 3 && len(h) >= 80 {
		// Incompatible features: 1 corrupt, 2 external data file, 4 extended L2 entries.
		if f := be.Uint64(h[72:]); f&(1<<1|1<<2|1<<4) != 0 {
			return nil, &errCannotTell{fmt.Sprintf("its qcow2 incompatible features (0x%x) are not read here", f)}
		}
	}
	bOff, bSize := be.Uint64(h[8:]), uint64(be.Uint32(h[16:]))
	if bOff != 0 && bSize != 0 {
		if bSize > 1023 {
			return nil, fmt.Errorf("qcow2 backing file name of %d bytes", bSize)
		}
		name, err := read(bOff, bSize)
		if err != nil {
			return nil, err
		}
		if uint64(len(name)) != bSize {
			return nil, fmt.Errorf("qcow2 backing file name is cut short")
		}
		if backing == nil {
			return nil, &errCannotTell{"its backing file " + string(name) + " is not read here"}
		}
		bread, bformat, err := backing(string(name))
		if err != nil {
			return nil, err
		}
		if q.backing, err = newGuestReader(bformat, bread, backing, depth+1); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// readGuest reads guest bytes [off, off+n), cluster by cluster; past the virtual size it
// returns what there is.
func (q *qcow2Reader) readGuest(off, n uint64) ([]byte, error) {
	if off >= q.size {
		return nil, nil
	}
	n = min(n, q.size-off)
	cs := uint64(1) << q.clusterBits
	var out []byte
	for pos := off; pos < off+n; {
		chunk := min(off+n-pos, cs-pos%cs)
		b, err := q.readCluster(pos, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		pos += chunk
	}
	return out, nil
}

// readCluster reads n guest bytes at pos, all within one cluster.
func (q *qcow2Reader) readCluster(pos, n uint64) ([]byte, error) {
	cs := uint64(1) << q.clusterBits
	perL2 := cs / 8
	ci := pos / cs
	unallocated := func() ([]byte, error) {
		if q.backing != nil {
			b, err := q.backing.readGuest(pos, n)
			if err != nil {
				return nil, err
			}
			// A backing file shorter than this image reads as zeros past its end.
			return append(b, make([]byte, n-uint64(len(b)))...), nil
		}
		return make([]byte, n), nil
	}
	l1i := ci / perL2
	if l1i >= uint64(q.l1Size) {
		return unallocated()
	}
	e, err := q.entry(q.l1Offset + 8*l1i)
	if err != nil {
		return nil, err
	}
	l2 := e & qcow2OffsetMask
	if l2 == 0 {
		return unallocated()
	}
	e, err = q.entry(l2 + 8*(ci%perL2))
	if err != nil {
		return nil, err
	}
	switch {
	case e&qcow2Compressed != 0:
		return nil, &errCannotTell{"its first clusters are compressed"}
	case e&qcow2ZeroCluster != 0:
		return make([]byte, n), nil
	case e&qcow2OffsetMask == 0:
		return unallocated()
	}
	b, err := q.read(e&qcow2OffsetMask+pos%cs, n)
	if err != nil {
		return nil, err
	}
	return append(b, make([]byte, n-min(n, uint64(len(b))))...), nil
}

// entry reads one 8-byte table entry.
func (q *qcow2Reader) entry(off uint64) (uint64, error) {
	if e, ok := q.entries[off]; ok {
		return e, nil
	}
	b, err := q.read(off, 8)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("qcow2 table entry at %d is past the end of the file", off)
	}
	e := binary.BigEndian.Uint64(b)
	if q.entries == nil {
		q.entries = map[uint64]uint64{}
	}
	q.entries[off] = e
	return e, nil
}

// cannotTell reports whether err says the content cannot be told (and why).
func cannotTell(err error) (string, bool) {
	var ct *errCannotTell
	if errors.As(err, &ct) {
		return ct.why, true
	}
	return "", false
}
