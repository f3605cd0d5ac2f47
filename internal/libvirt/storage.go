package libvirt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Storage: the rescue image is reached through libvirt's storage API, so that everything
// works on a remote host without qemu-img or file access on the client. An image_id that is a
// file path is looked up with virStorageVolLookupByPath; when no active pool holds its
// directory, a transient dir pool named tfrescue-<hash of the directory> is started for it at
// apply (transient: it vanishes with the next libvirtd restart, and it is made again when
// needed). Validate only looks up: such an image is left to apply.
// The overlay and the config drive are created in the pool of the rescue image, next to it.

// image is a resolved rescue image.
type image struct {
	// Spec is the image as the journal records it: a path, or pool/volume.
	Spec string
	Vol  golibvirt.StorageVol
	Pool golibvirt.StoragePool
	// Path is the volume's path on the host.
	Path string
	// Format is the qemu format of the image (raw, qcow2, ...).
	Format string
	// Capacity is the virtual size in bytes.
	Capacity uint64
	// PoolDir is set when the pool is a transient pool this backend made for a directory.
	PoolDir string
}

const transientPoolPrefix = "tfrescue-"

// transientPoolName is the name of the transient dir pool made for dir.
func transientPoolName(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return transientPoolPrefix + hex.EncodeToString(h[:6])
}

// ensureDirPool returns an active pool whose target is dir, starting a transient one if needed.
// made says whether the pool is (or may be) one of ours.
func ensureDirPool(l *golibvirt.Libvirt, dir string) (golibvirt.StoragePool, bool, error) {
	p, err := poolByDir(l, dir)
	if err == nil {
		active, aerr := l.StoragePoolIsActive(p)
		if aerr != nil {
			return p, false, fmt.Errorf("storage pool %s: %w", p.Name, aerr)
		}
		if active == 0 {
			return p, false, fmt.Errorf("storage pool %s holds directory %s but is not active; start it (virsh pool-start %s)", p.Name, dir, p.Name)
		}
		_ = l.StoragePoolRefresh(p, 0)
		return p, strings.HasPrefix(p.Name, transientPoolPrefix), nil
	}
	if !isCode(err, golibvirt.ErrNoStoragePool, golibvirt.ErrNoSupport) {
		return p, false, fmt.Errorf("look up storage pool of directory %s: %w", dir, err)
	}
	name := transientPoolName(dir)
	if p, err := l.StoragePoolLookupByName(name); err == nil {
		if active, _ := l.StoragePoolIsActive(p); active != 0 {
			_ = l.StoragePoolRefresh(p, 0)
			return p, true, nil
		}
	}
	def := libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: dir}}
	x, err := def.Marshal()
	if err != nil {
		return p, false, fmt.Errorf("encode storage pool: %w", err)
	}
	p, err = l.StoragePoolCreateXML(x, 0)
	if err != nil {
		// Another process may have made it meanwhile.
		if p2, err2 := l.StoragePoolLookupByName(name); err2 == nil {
			return p2, true, nil
		}
		return p, false, fmt.Errorf("start a transient storage pool for directory %s: %w", dir, err)
	}
	return p, true, nil
}

// poolByDir finds the pool whose target is dir (virStoragePoolLookupByTargetPath, or a scan of
// all pools on drivers that lack it, such as the test driver).
func poolByDir(l *golibvirt.Libvirt, dir string) (golibvirt.StoragePool, error) {
	p, err := l.StoragePoolLookupByTargetPath(dir)
	if err == nil || !isCode(err, golibvirt.ErrNoSupport) {
		return p, err
	}
	pools, _, lerr := l.ConnectListAllStoragePools(1, 0)
	if lerr != nil {
		return p, fmt.Errorf("list storage pools: %w", lerr)
	}
	for _, cand := range pools {
		x, xerr := l.StoragePoolGetXMLDesc(cand, 0)
		if xerr != nil {
			continue
		}
		var sp libvirtxml.StoragePool
		if sp.Unmarshal(x) == nil && sp.Target != nil && filepath.Clean(sp.Target.Path) == dir {
			return cand, nil
		}
	}
	return p, golibvirt.Error{Code: uint32(golibvirt.ErrNoStoragePool), Message: "no storage pool with target path " + dir}
}

// errNoPool says that a path's volume could not be looked up only because no storage pool
// holds its directory (and volumeByPath was not allowed to make one): the image may well
// exist; apply makes the transient pool and finds out.
type errNoPool struct{ Path, Dir string }

func (e *errNoPool) Error() string {
	return fmt.Sprintf("no storage pool holds directory %s of %s", e.Dir, e.Path)
}

// volumeByPath finds the storage volume of a file path. When no pool holds its directory it
// makes a transient pool for it if create is set, else (plan time: no change to the host) it
// returns an *errNoPool. The error is a NotFoundError when there is no such file.
func volumeByPath(l *golibvirt.Libvirt, path string, create bool) (golibvirt.StorageVol, string, error) {
	v, err := l.StorageVolLookupByPath(path)
	if err == nil {
		return v, "", nil
	}
	if !isCode(err, golibvirt.ErrNoStorageVol) {
		return v, "", fmt.Errorf("look up storage volume %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if !create {
		p, perr := poolByDir(l, dir)
		if perr != nil {
			if isCode(perr, golibvirt.ErrNoStoragePool, golibvirt.ErrNoSupport) {
				return v, "", &errNoPool{Path: path, Dir: dir}
			}
			return v, "", fmt.Errorf("look up storage pool of directory %s: %w", dir, perr)
		}
		active, aerr := l.StoragePoolIsActive(p)
		if aerr != nil {
			return v, "", fmt.Errorf("storage pool %s: %w", p.Name, aerr)
		}
		if active == 0 {
			return v, "", fmt.Errorf("storage pool %s holds directory %s but is not active; start it (virsh pool-start %s)", p.Name, dir, p.Name)
		}
		// An active pool holds the directory: a refresh (a re-scan, no change) settles it.
		_ = l.StoragePoolRefresh(p, 0)
		v, err = l.StorageVolLookupByPath(path)
		if err != nil {
			if isCode(err, golibvirt.ErrNoStorageVol) {
				return v, "", &rescue.NotFoundError{What: "image", ID: path, Msg: err.Error()}
			}
			return v, "", fmt.Errorf("look up storage volume %s: %w", path, err)
		}
		return v, "", nil
	}
	_, made, perr := ensureDirPool(l, dir)
	if perr != nil {
		return v, "", perr
	}
	v, err = l.StorageVolLookupByPath(path)
	if err != nil {
		if isCode(err, golibvirt.ErrNoStorageVol) {
			return v, "", &rescue.NotFoundError{What: "image", ID: path, Msg: err.Error()}
		}
		return v, "", fmt.Errorf("look up storage volume %s: %w", path, err)
	}
	if made {
		return v, dir, nil
	}
	return v, "", nil
}

// resolveImage resolves an image spec: an absolute path on the host, or pool/volume. Without
// create (plan time) it changes nothing on the host: a path whose directory no pool holds is
// an *errNoPool.
func resolveImage(l *golibvirt.Libvirt, spec string, create bool) (*image, error) {
	img := &image{Spec: spec}
	var err error
	switch {
	case strings.HasPrefix(spec, "/"):
		img.Vol, img.PoolDir, err = volumeByPath(l, filepath.Clean(spec), create)
		if err != nil {
			return nil, err
		}
	case strings.Contains(spec, "/"):
		pool, vol, _ := strings.Cut(spec, "/")
		p, err := l.StoragePoolLookupByName(pool)
		if err != nil {
			if isCode(err, golibvirt.ErrNoStoragePool) {
				return nil, &rescue.NotFoundError{What: "image", ID: spec, Msg: err.Error()}
			}
			return nil, fmt.Errorf("look up storage pool %s: %w", pool, err)
		}
		_ = l.StoragePoolRefresh(p, 0)
		img.Vol, err = l.StorageVolLookupByName(p, vol)
		if err != nil {
			if isCode(err, golibvirt.ErrNoStorageVol) {
				return nil, &rescue.NotFoundError{What: "image", ID: spec, Msg: err.Error()}
			}
			return nil, fmt.Errorf("look up storage volume %s: %w", spec, err)
		}
	default:
		return nil, &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%q is neither an absolute file path on the libvirt host nor pool/volume", spec)}
	}
	img.Pool, err = l.StoragePoolLookupByVolume(img.Vol)
	if err != nil {
		return nil, fmt.Errorf("storage pool of volume %s: %w", spec, err)
	}
	vx, err := l.StorageVolGetXMLDesc(img.Vol, 0)
	if err != nil {
		return nil, fmt.Errorf("read storage volume %s: %w", spec, err)
	}
	var sv libvirtxml.StorageVolume
	if err := sv.Unmarshal(vx); err != nil {
		return nil, fmt.Errorf("parse storage volume %s: %w", spec, err)
	}
	img.Path = spec
	if sv.Target != nil && sv.Target.Path != "" {
		img.Path = sv.Target.Path
	}
	img.Format = "raw"
	if sv.Target != nil && sv.Target.Format != nil {
		img.Format = qemuFormat(sv.Target.Format.Type)
	}
	if sv.Capacity != nil {
		img.Capacity = sizeBytes(sv.Capacity)
	}
	return img, nil
}

// backingOf returns the backing image path of a volume (its <backingStore>), or "".
func backingOf(l *golibvirt.Libvirt, vol golibvirt.StorageVol) (string, error) {
	vx, err := l.StorageVolGetXMLDesc(vol, 0)
	if err != nil {
		return "", fmt.Errorf("read storage volume %s: %w", vol.Name, err)
	}
	var sv libvirtxml.StorageVolume
	if err := sv.Unmarshal(vx); err != nil {
		return "", fmt.Errorf("parse storage volume %s: %w", vol.Name, err)
	}
	if sv.BackingStore == nil {
		return "", nil
	}
	return sv.BackingStore.Path, nil
}

// qemuFormat maps a storage volume format to the disk driver type.
func qemuFormat(f string) string {
	switch f {
	case "", "iso", "raw", "dir":
		return "raw"
	}
	return f
}

func sizeBytes(s *libvirtxml.StorageVolumeSize) uint64 {
	mult := map[string]uint64{"": 1, "b": 1, "bytes": 1, "k": 1 << 10, "KiB": 1 << 10, "KB": 1000, "M": 1 << 20, "MiB": 1 << 20, "MB": 1000 * 1000,
		"G": 1 << 30, "GiB": 1 << 30, "GB": 1000 * 1000 * 1000, "T": 1 << 40, "TiB": 1 << 40, "TB": 1000 * 1000 * 1000 * 1000}
	if m, ok := mult[s.Unit]; ok {
		return s.Value * m
	}
	return s.Value
}

// overlayName and configDriveName are the volumes of a domain's rescue rescueID (a UUID): each
// rescue has its own, so that overlapping rescues never remove each other's.
func overlayName(dom golibvirt.Domain, rescueID string) string {
	return fmt.Sprintf("%s.rescue-%s.qcow2", dom.Name, rescueID[:8])
}

func configDriveName(dom golibvirt.Domain, rescueID string) string {
	return fmt.Sprintf("%s.rescue-%s.config.iso", dom.Name, rescueID[:8])
}

// plannedVolume says where a rescue volume will be, before it exists.
func plannedVolume(l *golibvirt.Libvirt, img *image, name string) (*journalVolume, error) {
	px, err := l.StoragePoolGetXMLDesc(img.Pool, 0)
	if err != nil {
		return nil, fmt.Errorf("read storage pool %s: %w", img.Pool.Name, err)
	}
	var sp libvirtxml.StoragePool
	if err := sp.Unmarshal(px); err != nil {
		return nil, fmt.Errorf("parse storage pool %s: %w", img.Pool.Name, err)
	}
	jv := &journalVolume{Pool: img.Pool.Name, Name: name, PoolDir: img.PoolDir}
	if sp.Target != nil && sp.Target.Path != "" {
		jv.Path = filepath.Join(sp.Target.Path, name)
	}
	return jv, nil
}

// createOverlay makes a qcow2 copy-on-write overlay of the rescue image in the image's pool.
// A leftover volume of the same name (an earlier interrupted rescue) is replaced.
func createOverlay(l *golibvirt.Libvirt, img *image, jv *journalVolume) error {
	if v, err := l.StorageVolLookupByName(img.Pool, jv.Name); err == nil {
		if err := l.StorageVolDelete(v, 0); err != nil {
			return fmt.Errorf("remove leftover overlay %s: %w", jv.Name, err)
		}
	}
	def := libvirtxml.StorageVolume{
		Name:     jv.Name,
		Capacity: &libvirtxml.StorageVolumeSize{Unit: "bytes", Value: img.Capacity},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "qcow2"}},
		BackingStore: &libvirtxml.StorageVolumeBackingStore{
			Path:   img.Path,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: img.Format},
		},
	}
	x, err := def.Marshal()
	if err != nil {
		return fmt.Errorf("encode overlay volume: %w", err)
	}
	v, err := l.StorageVolCreateXML(img.Pool, x, 0)
	if err != nil {
		return fmt.Errorf("create the copy-on-write overlay %s of %s in pool %s: %w", jv.Name, img.Path, img.Pool.Name, err)
	}
	if p, err := l.StorageVolGetPath(v); err == nil && p != "" {
		jv.Path = p
	}
	return nil
}

// createConfigDrive uploads a config drive image as a raw volume in the image's pool.
func createConfigDrive(l *golibvirt.Libvirt, img *image, jv *journalVolume, iso []byte) error {
	if v, err := l.StorageVolLookupByName(img.Pool, jv.Name); err == nil {
		if err := l.StorageVolDelete(v, 0); err != nil {
			return fmt.Errorf("remove leftover config drive %s: %w", jv.Name, err)
		}
	}
	def := libvirtxml.StorageVolume{
		Name:     jv.Name,
		Capacity: &libvirtxml.StorageVolumeSize{Unit: "bytes", Value: uint64(len(iso))},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "raw"}},
	}
	x, err := def.Marshal()
	if err != nil {
		return fmt.Errorf("encode config drive volume: %w", err)
	}
	v, err := l.StorageVolCreateXML(img.Pool, x, 0)
	if err != nil {
		return fmt.Errorf("create config drive volume %s in pool %s: %w", jv.Name, img.Pool.Name, err)
	}
	if err := l.StorageVolUpload(v, bytes.NewReader(iso), 0, uint64(len(iso)), 0); err != nil {
		_ = l.StorageVolDelete(v, 0)
		if isCode(err, golibvirt.ErrNoSupport) {
			return &rescue.UnsupportedError{Msg: "admin_pass needs a config drive uploaded through the storage API, which this libvirt driver does not support: " + err.Error()}
		}
		return fmt.Errorf("upload config drive %s: %w", jv.Name, err)
	}
	if p, err := l.StorageVolGetPath(v); err == nil && p != "" {
		jv.Path = p
	}
	return nil
}

// deleteVolume removes a volume the rescue made; one that is gone already is fine.
func deleteVolume(l *golibvirt.Libvirt, jv *journalVolume) error {
	if jv == nil {
		return nil
	}
	find := func() (golibvirt.StorageVol, error) {
		if jv.Path != "" {
			v, err := l.StorageVolLookupByPath(jv.Path)
			if err == nil || !isCode(err, golibvirt.ErrNoStorageVol) {
				return v, err
			}
		}
		p, err := l.StoragePoolLookupByName(jv.Pool)
		if err != nil {
			return golibvirt.StorageVol{}, err
		}
		_ = l.StoragePoolRefresh(p, 0)
		return l.StorageVolLookupByName(p, jv.Name)
	}
	v, err := find()
	if err != nil && jv.PoolDir != "" && isCode(err, golibvirt.ErrNoStorageVol, golibvirt.ErrNoStoragePool) {
		// The transient pool vanished with a libvirtd restart: make it again.
		if _, _, perr := ensureDirPool(l, jv.PoolDir); perr != nil {
			return perr
		}
		v, err = find()
	}
	if err != nil {
		if isCode(err, golibvirt.ErrNoStorageVol, golibvirt.ErrNoStoragePool) {
			return nil
		}
		return fmt.Errorf("look up rescue volume %s: %w", jv.Name, err)
	}
	if err := l.StorageVolDelete(v, 0); err != nil && !isCode(err, golibvirt.ErrNoStorageVol) {
		return fmt.Errorf("delete rescue volume %s: %w", jv.Name, err)
	}
	return nil
}

// display names a rescue volume for messages: its path, else pool/name.
func (jv *journalVolume) display() string {
	if jv.Path != "" {
		return jv.Path
	}
	return jv.Pool + "/" + jv.Name
}
