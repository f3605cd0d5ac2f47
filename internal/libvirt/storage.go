package libvirt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Storage: the rescue image is reached through libvirt's storage API, so that everything
// works on a remote host without qemu-img or file access on the client. An image_id that is a
// file path is looked up with virStorageVolLookupByPath; when no active pool holds its
// directory, a transient dir pool named tfrescue-<hash of the directory> is started for it
// (transient: it vanishes with the next libvirtd restart, and it is made again when needed).
// Validate (plan) stops again a pool it started; a rescue keeps it while its journal names it,
// and the end of the rescue (unrescue, rollback) stops it once no journal on the host names it.
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
	// FileSize is the size of the image's file in bytes (0 when unknown).
	FileSize uint64
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
// ours says whether the pool is (or may be) one of ours; started, whether this call started it.
func ensureDirPool(l *golibvirt.Libvirt, dir string) (p golibvirt.StoragePool, ours, started bool, err error) {
	p, err = poolByDir(l, dir)
	if err == nil {
		active, aerr := l.StoragePoolIsActive(p)
		if aerr != nil {
			return p, false, false, fmt.Errorf("storage pool %s: %w", p.Name, aerr)
		}
		if active == 0 {
			return p, false, false, fmt.Errorf("storage pool %s holds directory %s but is not active; start it (virsh pool-start %s)", p.Name, dir, p.Name)
		}
		_ = l.StoragePoolRefresh(p, 0)
		return p, strings.HasPrefix(p.Name, transientPoolPrefix), false, nil
	}
	if !isCode(err, golibvirt.ErrNoStoragePool, golibvirt.ErrNoSupport) {
		return p, false, false, fmt.Errorf("look up storage pool of directory %s: %w", dir, err)
	}
	name := transientPoolName(dir)
	if p, err := l.StoragePoolLookupByName(name); err == nil {
		if active, _ := l.StoragePoolIsActive(p); active != 0 {
			_ = l.StoragePoolRefresh(p, 0)
			return p, true, false, nil
		}
	}
	def := libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: dir}}
	x, err := def.Marshal()
	if err != nil {
		return p, false, false, fmt.Errorf("encode storage pool: %w", err)
	}
	p, err = l.StoragePoolCreateXML(x, 0)
	if err != nil {
		// Another process may have made it meanwhile.
		if p2, err2 := l.StoragePoolLookupByName(name); err2 == nil {
			return p2, true, false, nil
		}
		if strings.Contains(err.Error(), "No such file or directory") {
			return p, false, false, &rescue.NotFoundError{What: "image", ID: dir, Msg: fmt.Sprintf("there is no directory %s on the libvirt host (%v)", dir, err)}
		}
		return p, false, false, fmt.Errorf("start a transient storage pool for directory %s: %w", dir, err)
	}
	return p, true, true, nil
}

// poolHolds counts, per directory, the operations of this process that use a transient pool of
// ours right now (a rescue between its look-up of the image and its end, a plan's look-up):
// a pool is stopped only when none does and no journal on the host names it. Checks and stops
// happen under its mutex, so that an operation that takes a hold afterwards finds the pool
// stopped and starts it again, never half-way.
type poolHolds struct {
	mu sync.Mutex
	n  map[string]int
}

var holds = &poolHolds{n: map[string]int{}}

func (h *poolHolds) take(dir string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[dir]++
}

func (h *poolHolds) drop(dir string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[dir]--; h.n[dir] <= 0 {
		delete(h.n, dir)
	}
}

// releaseTransientPool stops the transient pool this backend makes for dir, unless no such
// pool is active, it was defined persistently by someone, an operation of this process holds
// it, or a rescue journal on the host still names it (a rescue in progress or in effect keeps
// its volumes there). Stopping a transient dir pool removes no file. Best effort: errors are
// returned for logging only. (Another process may still be between its look-up of the image and
// its journal: it starts the pool again where it needs it, see holdPool.)
func releaseTransientPool(l *golibvirt.Libvirt, dir string) error {
	if dir == "" {
		return nil
	}
	holds.mu.Lock()
	defer holds.mu.Unlock()
	if holds.n[dir] > 0 {
		return nil
	}
	name := transientPoolName(dir)
	p, err := l.StoragePoolLookupByName(name)
	if err != nil {
		return nil
	}
	if persistent, err := l.StoragePoolIsPersistent(p); err != nil || persistent != 0 {
		return err
	}
	used, err := poolInUse(l, name, dir)
	if err != nil || used != "" {
		return err
	}
	if err := l.StoragePoolDestroy(p); err != nil && !isCode(err, golibvirt.ErrNoStoragePool, golibvirt.ErrOperationInvalid) {
		return fmt.Errorf("stop transient storage pool %s: %w", name, err)
	}
	return nil
}

// poolInUse returns the name of a domain whose rescue journal names the pool (by name or by
// the directory it was made for), or "".
func poolInUse(l *golibvirt.Libvirt, name, dir string) (string, error) {
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return "", fmt.Errorf("list domains: %w", err)
	}
	for _, d := range doms {
		j, err := readJournal(l, d)
		if err != nil {
			if isCode(err, golibvirt.ErrNoDomain) {
				continue
			}
			return "", err
		}
		if j == nil {
			continue
		}
		for _, jv := range []*journalVolume{j.Overlay, j.ConfigDrive} {
			if jv != nil && (jv.Pool == name || (jv.PoolDir != "" && jv.PoolDir == dir)) {
				return d.Name, nil
			}
		}
	}
	return "", nil
}

// startedPools is what one validation did to transient pools: the directories it holds (see
// poolHolds) and those whose pools it started.
type startedPools struct {
	held, started []string
}

// hold takes a hold on dir's transient pool for this validation.
func (s *startedPools) hold(dir string) {
	if s != nil {
		holds.take(dir)
		s.held = append(s.held, dir)
	}
}

func (s *startedPools) add(dir string) {
	if s != nil && dir != "" {
		s.started = append(s.started, dir)
	}
}

// release drops the holds and stops the pools started (and extra, a pool the image was found
// in) when nothing else uses them.
func (s *startedPools) release(l *golibvirt.Libvirt, extra ...string) {
	for _, dir := range s.held {
		holds.drop(dir)
	}
	s.held = nil
	for _, dir := range append(s.started, extra...) {
		_ = releaseTransientPool(l, dir)
	}
	s.started = nil
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

// volumeByPath finds the storage volume of a file path. When no pool holds its directory it
// starts a transient pool for it (noted in started when this call started it, so that a plan
// stops it again). dir is the directory of that pool when it is (or may be) ours. The error is
// a NotFoundError when there is no such file, an InvalidError when the path is a directory.
func volumeByPath(l *golibvirt.Libvirt, path string, started *startedPools) (golibvirt.StorageVol, string, error) {
	// Held before the look-up: the pool holding it may be a transient one of ours.
	started.hold(filepath.Dir(path))
	v, err := l.StorageVolLookupByPath(path)
	if err == nil {
		return v, "", nil
	}
	if !isCode(err, golibvirt.ErrNoStorageVol) {
		return v, "", fmt.Errorf("look up storage volume %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if p, perr := poolByDir(l, path); perr == nil {
		return v, "", &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%s is a directory (the target of storage pool %s), not an image file; set image_id to an image file in it, or to pool/volume", path, p.Name)}
	}
	_, ours, made, perr := ensureDirPool(l, dir)
	if perr != nil {
		return v, "", perr
	}
	if made {
		started.add(dir)
	}
	v, err = l.StorageVolLookupByPath(path)
	if err != nil {
		if isCode(err, golibvirt.ErrNoStorageVol) {
			return v, "", &rescue.NotFoundError{What: "image", ID: path, Msg: err.Error()}
		}
		return v, "", fmt.Errorf("look up storage volume %s: %w", path, err)
	}
	if ours {
		return v, dir, nil
	}
	return v, "", nil
}

// resolveImage resolves an image spec: an absolute path on the host, or pool/volume. A path
// whose directory no pool holds gets a transient pool (see volumeByPath; noted in started when
// this call started it).
func resolveImage(l *golibvirt.Libvirt, spec string, started *startedPools) (*image, error) {
	img := &image{Spec: spec}
	var err error
	switch {
	case strings.HasPrefix(spec, "/"):
		img.Vol, img.PoolDir, err = volumeByPath(l, filepath.Clean(spec), started)
		if err != nil {
			return nil, err
		}
	case isRelativePath(spec):
		return nil, &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%q is a relative path: image_id is resolved on the libvirt host, not where terraform runs; give the absolute path of the image on the host, or pool/volume", spec)}
	case strings.Contains(spec, "/"):
		pool, vol, _ := strings.Cut(spec, "/")
		p, err := l.StoragePoolLookupByName(pool)
		if err != nil {
			if isCode(err, golibvirt.ErrNoStoragePool) {
				return nil, &rescue.NotFoundError{What: "image", ID: spec, Msg: err.Error() + " (image_id is pool/volume, or an absolute file path on the libvirt host)"}
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
	if dir := filepath.Dir(filepath.Clean(spec)); img.PoolDir == "" && strings.HasPrefix(spec, "/") && img.Pool.Name == transientPoolName(dir) {
		// Found in a transient pool of ours that was already active: the rescue uses it too.
		img.PoolDir = dir
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
	if sv.Type == "dir" {
		return nil, &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%s is a directory, not an image file; set image_id to an image file (an absolute path on the libvirt host) or to pool/volume", img.Path)}
	}
	img.Format = "raw"
	if sv.Target != nil && sv.Target.Format != nil {
		img.Format = qemuFormat(sv.Target.Format.Type)
	}
	if sv.Capacity != nil {
		img.Capacity = sizeBytes(sv.Capacity)
	}
	img.FileSize = fileSize(&sv, img.Format)
	return img, nil
}

// isRelativePath reports whether spec is a relative file path rather than pool/volume: it
// starts with . or ~, or has more than one slash (a volume name has none).
func isRelativePath(spec string) bool {
	return strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "~") || strings.Count(spec, "/") > 1
}

// contentOf reads what the guest would see at the start of an image (following a qcow2
// backing chain through the storage API) over a connection of its own (see volReader) and
// tells its content. A driver without volume download (the test driver) gives a cannot-tell
// error.
func contentOf(ctx context.Context, l *golibvirt.Libvirt, t *target, img *image) (imageContent, error) {
	key := fmt.Sprintf("%s|%s|%s|%s|%d|%d", t.Display, img.Vol.Pool, img.Vol.Key, img.Format, img.Capacity, img.FileSize)
	read := func() (any, error) {
		if c, err, ok := contents.get(key); ok {
			return c, err
		}
		c, err := readContent(ctx, l, t, img)
		if _, ok := cannotTell(err); err == nil || ok {
			contents.put(key, c, err)
		}
		return c, err
	}
	if c, err, ok := contents.get(key); ok {
		return c, err
	}
	// Concurrent validations of one image read it once (lookups.go).
	v, err := contentFlights.do(ctx, key, read)
	c, _ := v.(imageContent)
	return c, err
}

// contentTTL is how long the content of an image (by volume, format and sizes) is reused, so
// that a plan of many rescues from one image reads it once.
const contentTTL = time.Minute

type contentEntry struct {
	c   imageContent
	err error
	at  time.Time
}

// contentCache keeps what contentOf found, per volume, format and sizes.
type contentCache struct {
	mu sync.Mutex
	m  map[string]contentEntry
}

var contents = &contentCache{m: map[string]contentEntry{}}

func (c *contentCache) get(key string) (imageContent, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Since(e.at) > contentTTL {
		return imageContent{}, nil, false
	}
	return e.c, e.err, true
}

func (c *contentCache) put(key string, ic imageContent, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = contentEntry{c: ic, err: err, at: time.Now()}
}

// readContent is contentOf without the cache.
func readContent(ctx context.Context, l *golibvirt.Libvirt, t *target, img *image) (imageContent, error) {
	vr := newVolReader(ctx, t)
	defer vr.close()
	backing := func(path string) (readAtFunc, string, error) {
		v, err := l.StorageVolLookupByPath(path)
		if err != nil {
			if isCode(err, golibvirt.ErrNoStorageVol) {
				return nil, "", &errCannotTell{"its backing file " + path + " is in no active storage pool"}
			}
			return nil, "", fmt.Errorf("look up backing file %s: %w", path, err)
		}
		format, size, err := volumeFormat(l, v)
		return vr.reader(v, size), format, err
	}
	r, err := newGuestReader(img.Format, vr.reader(img.Vol, img.FileSize), backing, 0)
	if err == nil {
		var c imageContent
		if c, err = sniffImage(r); err == nil {
			return c, nil
		}
	}
	if isCode(err, golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported) {
		return imageContent{}, &errCannotTell{"this libvirt driver cannot download volumes"}
	}
	return imageContent{}, err
}

// volumeFormat is the qemu format of a volume (its XML's target format) and the size of its
// file (0 when unknown).
func volumeFormat(l *golibvirt.Libvirt, v golibvirt.StorageVol) (string, uint64, error) {
	vx, err := l.StorageVolGetXMLDesc(v, 0)
	if err != nil {
		return "", 0, fmt.Errorf("read storage volume %s: %w", v.Name, err)
	}
	var sv libvirtxml.StorageVolume
	if err := sv.Unmarshal(vx); err != nil {
		return "", 0, fmt.Errorf("parse storage volume %s: %w", v.Name, err)
	}
	format := "raw"
	if sv.Target != nil && sv.Target.Format != nil {
		format = qemuFormat(sv.Target.Format.Type)
	}
	return format, fileSize(&sv, format), nil
}

// fileSize is the size of a volume's file: <physical>, or the capacity of a raw volume; 0
// when unknown.
func fileSize(sv *libvirtxml.StorageVolume, format string) uint64 {
	switch {
	case sv.Physical != nil:
		return sizeBytes(sv.Physical)
	case format == "raw" && sv.Capacity != nil:
		return sizeBytes(sv.Capacity)
	}
	return 0
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
	if img.PoolDir != "" {
		// A transient pool of ours: its target is the directory (the pool may come and go).
		return &journalVolume{Pool: transientPoolName(img.PoolDir), Name: name, PoolDir: img.PoolDir, Path: filepath.Join(img.PoolDir, name)}, nil
	}
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
	if err := holdPool(l, img); err != nil {
		return err
	}
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
	if err := holdPool(l, img); err != nil {
		return err
	}
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

// holdPool makes sure the transient pool of the image (if it is one of ours) is active before a
// volume is made in it: another process may have stopped it since the image was resolved (it
// stops it only when no journal names it, and the journal of this rescue is written by now).
func holdPool(l *golibvirt.Libvirt, img *image) error {
	if img.PoolDir == "" {
		return nil
	}
	p, _, _, err := ensureDirPool(l, img.PoolDir)
	if err != nil {
		return err
	}
	img.Pool = p
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
		if _, _, _, perr := ensureDirPool(l, jv.PoolDir); perr != nil {
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
