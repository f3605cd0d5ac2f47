package provider_test

// Helpers of the libvirt acceptance tests (libvirt_acc_test.go): fixtures on the private
// libvirtd's test:///default and qemu:///system, and checks of the real domain state.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"libvirt.org/go/libvirtxml"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// lvSecure is how definitions are compared: the inactive definition with its secrets.
const lvSecure = golibvirt.DomainXMLInactive | golibvirt.DomainXMLSecure

// lvBootTimeout bounds the wait for a TCG guest's boot line.
const lvBootTimeout = time.Minute

// lvSide is one libvirt driver of the private daemon as the tests see it: the provider's URI,
// a connection of the test's own, and where the rescue volumes of a domain would be.
type lvSide struct {
	uri  string
	conn func() *golibvirt.Libvirt
	// rescueFiles lists the rescue volumes (overlay, config drive) of a domain.
	rescueFiles func(name string) ([]string, error)
}

// lvConfig is the provider block for s plus a rescue_instance "t" with the given attributes.
func (s *lvSide) config(attrs ...string) string {
	return acctest.LibvirtProviderConfig(s.uri) + rescueHCL(attrs...)
}

// lvTD is the test:///default side: a connection kept open for the whole test (the test
// driver keeps its state while a connection is open; the harness keeps one too) and volumes
// in the test driver's default-pool.
func lvTD(t *testing.T) (*libvirtd.Env, *lvSide) {
	t.Helper()
	lv := acctest.Libvirt(t)
	l := lv.Connect(t, lv.TestURI)
	s := &lvSide{uri: lv.TestURI, conn: func() *golibvirt.Libvirt { return l }}
	s.rescueFiles = func(name string) ([]string, error) {
		p, err := l.StoragePoolLookupByName(libvirtd.TestPool)
		if err != nil {
			return nil, fmt.Errorf("default-pool: %w", err)
		}
		vols, _, err := l.StoragePoolListAllVolumes(p, 1, 0)
		if err != nil {
			return nil, fmt.Errorf("list default-pool: %w", err)
		}
		var out []string
		for _, v := range vols {
			if strings.HasPrefix(v.Name, name+".rescue-") {
				out = append(out, v.Name)
			}
		}
		return out, nil
	}
	return lv, s
}

// lvQEMU is the qemu:///system side; the rescue volumes live next to the rescue images.
func lvQEMU(t *testing.T) (*libvirtd.Env, *lvSide) {
	t.Helper()
	lv := acctest.Libvirt(t)
	s := &lvSide{uri: lv.QEMUURI, conn: func() *golibvirt.Libvirt { return lv.QEMU(t) }}
	s.rescueFiles = func(name string) ([]string, error) {
		return filepath.Glob(filepath.Join(lv.ImagesDir, name+".rescue-*"))
	}
	return lv, s
}

// tdVolume creates a volume in the test driver's default-pool (removed at the end of the test)
// and returns its path.
func tdVolume(t *testing.T, s *lvSide, name, format, backing string) string {
	t.Helper()
	return libvirtd.TestVolume(t, s.conn(), name, format, backing)
}

// tdDomain defines and starts a test driver domain: a qcow2 root disk volume (backed by a raw
// base volume when backed), a second data disk and a cdrom; machine is "pc" or "q35". At the
// end of the test the domain and any rescue volume left are removed.
func tdDomain(t *testing.T, s *lvSide, name, machine string, backed bool) {
	t.Helper()
	l := s.conn()
	backing := ""
	if backed {
		backing = tdVolume(t, s, name+"-base.img", "raw", "")
	}
	root := tdVolume(t, s, name+"-root.qcow2", "qcow2", backing)
	x := libvirtd.TestDomainXML(name, machine, root, `    <disk type='file' device='cdrom'>
      <source file='/data/`+name+`-seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>`)
	d, err := l.DomainDefineXMLFlags(x, 0)
	if err != nil {
		t.Fatalf("define %s: %v", name, err)
	}
	t.Cleanup(func() {
		if d, err := l.DomainLookupByName(name); err == nil {
			_ = l.DomainDestroy(d)
			_ = l.DomainUndefineFlags(d, 0)
		}
		if p, err := l.StoragePoolLookupByName(libvirtd.TestPool); err == nil {
			if names, err := s.rescueFiles(name); err == nil {
				for _, n := range names {
					if v, err := l.StorageVolLookupByName(p, n); err == nil {
						_ = l.StorageVolDelete(v, 0)
					}
				}
			}
		}
	})
	if err := l.DomainCreate(d); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
}

// qemuGuestT defines and starts a boot-sector guest (acctest.QEMUGuest) and follows its boot
// lines (it has booted its own root disk when this returns).
func qemuGuestT(t *testing.T, lv *libvirtd.Env, name string, o libvirtd.GuestOptions) *bootWatch {
	t.Helper()
	acctest.QEMUGuest(t, lv, name, o)
	w := &bootWatch{lv: lv, name: name}
	w.mark()
	return w
}

// bootWatch follows a guest's "GUEST: BOOTED FROM" lines in order.
type bootWatch struct {
	lv    *libvirtd.Env
	name  string
	since int64
}

// mark makes next look only at lines written from now on.
func (w *bootWatch) mark() { w.since = w.lv.DebugLogSize(w.name) }

// next waits for the guest's next boot line and checks it says want.
func (w *bootWatch) next(want string) error {
	_, end, err := w.lv.WaitBootedSince(w.name, w.since, want, lvBootTimeout)
	w.since = end
	return err
}

// xml returns a domain's definition (flags lvSecure, or 0 for the live one).
func (s *lvSide) xml(name string, flags golibvirt.DomainXMLFlags) (string, error) {
	l := s.conn()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		return "", fmt.Errorf("lookup domain %s: %w", name, err)
	}
	x, err := l.DomainGetXMLDesc(d, flags)
	if err != nil {
		return "", fmt.Errorf("XML of domain %s: %w", name, err)
	}
	return x, nil
}

// mustXML is xml for test code outside checks.
func (s *lvSide) mustXML(t *testing.T, name string) string {
	t.Helper()
	x, err := s.xml(name, lvSecure)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// journal reports whether the domain's persistent definition has the rescue journal in the
// provider's metadata namespace.
func (s *lvSide) journal(name string) (bool, error) {
	l := s.conn()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		return false, fmt.Errorf("lookup domain %s: %w", name, err)
	}
	_, err = l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{rlibvirt.MetadataNamespace},
		golibvirt.DomainAffectConfig)
	var le golibvirt.Error
	if errors.As(err, &le) && le.Code == uint32(golibvirt.ErrNoDomainMetadata) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("metadata of domain %s: %w", name, err)
	}
	return true, nil
}

// get asks a Backend of its own (as another process would) about the domain.
func (s *lvSide) get(name string) (*rescue.Instance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := rlibvirt.New(ctx, rlibvirt.Config{URI: s.uri})
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Close() }()
	return b.Get(ctx, name)
}

// unrescueOOB unrescues a domain out of band, through a Backend of its own.
func (s *lvSide) unrescueOOB(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := rlibvirt.New(ctx, rlibvirt.Config{URI: s.uri})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := b.Unrescue(ctx, name); err != nil {
		t.Fatalf("out-of-band unrescue of %s: %v", name, err)
	}
}

// rescueOOB rescues a domain out of band (another tool, or a provider run that died before it
// saved its state), through a Backend of its own.
func (s *lvSide) rescueOOB(t *testing.T, req rescue.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := rlibvirt.New(ctx, rlibvirt.Config{URI: s.uri})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if _, _, err := rescue.NewEngine(b).Rescue(ctx, req); err != nil {
		t.Fatalf("out-of-band rescue of %s: %v", req.InstanceID, err)
	}
}

// diskInfo is what the checks need of a definition's disks.
type diskInfo struct {
	Device, Bus, Target, File string
	BootOrder                 uint
}

func disksOf(domXML string) ([]diskInfo, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(domXML); err != nil {
		return nil, fmt.Errorf("parse domain XML: %w", err)
	}
	var out []diskInfo
	if d.Devices == nil {
		return out, nil
	}
	for _, dk := range d.Devices.Disks {
		di := diskInfo{Device: dk.Device}
		if dk.Target != nil {
			di.Bus, di.Target = dk.Target.Bus, dk.Target.Dev
		}
		if dk.Source != nil && dk.Source.File != nil {
			di.File = dk.Source.File.File
		}
		if dk.Boot != nil {
			di.BootOrder = dk.Boot.Order
		}
		out = append(out, di)
	}
	return out, nil
}

// rescueDisk returns the disk of a definition whose source is a rescue volume of the domain
// (its overlay, not its config drive).
func rescueDisk(disks []diskInfo, name string) (diskInfo, bool) {
	for _, d := range disks {
		base := filepath.Base(d.File)
		if strings.HasPrefix(base, name+".rescue-") && !strings.HasSuffix(base, ".config.iso") {
			return d, true
		}
	}
	return diskInfo{}, false
}

func configDrives(disks []diskInfo, name string) []diskInfo {
	var out []diskInfo
	for _, d := range disks {
		base := filepath.Base(d.File)
		if strings.HasPrefix(base, name+".rescue-") && strings.HasSuffix(base, ".config.iso") {
			out = append(out, d)
		}
	}
	return out
}

// rescueExpect describes the rescue definition a check expects.
type rescueExpect struct {
	// device and bus of the rescue disk (stable mode); empty device means legacy: the rescue
	// disk comes first and has the root disk's target.
	device, bus string
	// rootTarget is the original root disk's target (legacy mode).
	rootTarget string
	// configDrive: the rescue definition has a config-2 drive with this password.
	adminPass string
}

// checkRescued checks the real domain: the persistent definition is the rescue definition
// (the rescue disk as expected, every original disk still there), the journal is there, and a
// Backend of its own reports it in rescue.
func checkRescued(s *lvSide, name, orig string, want rescueExpect) error {
	x, err := s.xml(name, lvSecure)
	if err != nil {
		return err
	}
	if x == orig {
		return fmt.Errorf("domain %s: the definition is still the original one", name)
	}
	disks, err := disksOf(x)
	if err != nil {
		return err
	}
	origDisks, err := disksOf(orig)
	if err != nil {
		return err
	}
	rd, ok := rescueDisk(disks, name)
	if !ok {
		return fmt.Errorf("domain %s: no rescue disk in the definition:\n%s", name, x)
	}
	if want.device == "" {
		if disks[0].File != rd.File || rd.Target != want.rootTarget {
			return fmt.Errorf("domain %s (legacy): the rescue disk %+v is not the first disk with target %s:\n%s", name, rd, want.rootTarget, x)
		}
	} else if rd.Device != want.device || rd.Bus != want.bus || rd.BootOrder != 1 {
		return fmt.Errorf("domain %s: rescue disk %+v, want device %s on bus %s with boot order 1:\n%s", name, rd, want.device, want.bus, x)
	}
	for _, od := range origDisks {
		found := false
		for _, d := range disks {
			if d.File == od.File && d.Device == od.Device {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("domain %s: original disk %s (%s) is missing from the rescue definition:\n%s", name, od.File, od.Target, x)
		}
	}
	cds := configDrives(disks, name)
	if want.adminPass == "" && len(cds) > 0 {
		return fmt.Errorf("domain %s: a config drive %v without admin_pass", name, cds)
	}
	if want.adminPass != "" {
		if len(cds) != 1 || cds[0].Device != "cdrom" {
			return fmt.Errorf("domain %s: config drives %+v, want one cdrom:\n%s", name, cds, x)
		}
		if err := checkConfigDrive(cds[0].File, want.adminPass); err != nil {
			return fmt.Errorf("domain %s: %w", name, err)
		}
	}
	if ok, err := s.journal(name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("domain %s: no rescue journal", name)
	}
	inst, err := s.get(name)
	if err != nil {
		return fmt.Errorf("domain %s: Get: %w", name, err)
	}
	if inst.State != rescue.StateRescued {
		return fmt.Errorf("domain %s: the backend says %s (%s), want rescued", name, inst.State, inst.Status)
	}
	return nil
}

// checkConfigDrive reads the config drive file: an ISO 9660 image labelled config-2 that
// holds the password.
func checkConfigDrive(path, pass string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	const volID = 0x8028 // primary volume descriptor at 16*2048, volume identifier at +40
	if len(b) < volID+32 || string(b[0x8001:0x8006]) != "CD001" {
		return fmt.Errorf("config drive %s is not an ISO 9660 image", path)
	}
	if label := strings.TrimSpace(string(b[volID : volID+32])); label != "config-2" {
		return fmt.Errorf("config drive %s has label %q, want config-2", path, label)
	}
	if !bytes.Contains(b, []byte("admin_pass")) || !bytes.Contains(b, []byte(pass)) {
		return fmt.Errorf("config drive %s does not hold admin_pass", path)
	}
	return nil
}

// checkRestored checks the real domain after an unrescue: the definition is byte for byte the
// original, no journal, no rescue volume left, and the backend says it is not in rescue.
func checkRestored(s *lvSide, name, orig string) error {
	x, err := s.xml(name, lvSecure)
	if err != nil {
		return err
	}
	if x != orig {
		return fmt.Errorf("domain %s: the definition is not the original:\n--- original\n%s\n--- now\n%s", name, orig, x)
	}
	if ok, err := s.journal(name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("domain %s: the rescue journal is still there", name)
	}
	files, err := s.rescueFiles(name)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		return fmt.Errorf("domain %s: rescue volumes left: %v", name, files)
	}
	inst, err := s.get(name)
	if err != nil {
		return fmt.Errorf("domain %s: Get: %w", name, err)
	}
	if inst.State != rescue.StateActive {
		return fmt.Errorf("domain %s: the backend says %s (%s), want active", name, inst.State, inst.Status)
	}
	return nil
}

// checkUntouched checks that nothing happened to a domain: the definition is the original,
// no journal, no volume, and (live) the same running instance as before (no reboot).
func checkUntouched(s *lvSide, name, orig string, id int32) error {
	if err := checkRestored(s, name, orig); err != nil {
		return err
	}
	l := s.conn()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		return err
	}
	st, _, err := l.DomainGetState(d, 0)
	if err != nil {
		return err
	}
	if golibvirt.DomainState(st) != golibvirt.DomainRunning {
		return fmt.Errorf("domain %s: state %d, want running", name, st)
	}
	if d.ID != id {
		return fmt.Errorf("domain %s was restarted (id %d -> %d)", name, id, d.ID)
	}
	return nil
}

// liveHasFile reports whether the running domain has a disk with source path.
func liveHasFile(s *lvSide, name, path string) error {
	x, err := s.xml(name, 0)
	if err != nil {
		return err
	}
	disks, err := disksOf(x)
	if err != nil {
		return err
	}
	for _, d := range disks {
		if d.File == path {
			return nil
		}
	}
	return fmt.Errorf("domain %s: the running guest has no disk %s:\n%s", name, path, x)
}

// domID returns the running domain's id (it changes when the domain is restarted).
func domID(t *testing.T, s *lvSide, name string) int32 {
	t.Helper()
	d, err := s.conn().DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// check turns an error-returning check into a TestCheckFunc.
func check(f func() error) resource.TestCheckFunc {
	return func(*terraform.State) error { return f() }
}

// stopEvents records the lifecycle "stopped" events of the QEMU domains (detail: shutdown,
// destroyed, ...), through a connection of its own, until the test ends.
type stopEvents struct {
	mu     sync.Mutex
	byName map[string][]golibvirt.DomainEventStoppedDetailType
}

func watchStops(t *testing.T, lv *libvirtd.Env) *stopEvents {
	t.Helper()
	l := lv.Connect(t, lv.QEMUURI)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := l.LifecycleEvents(ctx)
	if err != nil {
		cancel()
		t.Fatalf("lifecycle events: %v", err)
	}
	e := &stopEvents{byName: map[string][]golibvirt.DomainEventStoppedDetailType{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if golibvirt.DomainEventType(ev.Event) == golibvirt.DomainEventStopped {
				e.mu.Lock()
				e.byName[ev.Dom.Name] = append(e.byName[ev.Dom.Name], golibvirt.DomainEventStoppedDetailType(ev.Detail))
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return e
}

// first returns the first stop event of a domain, waiting a little for its delivery.
func (e *stopEvents) first(name string) (golibvirt.DomainEventStoppedDetailType, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.mu.Lock()
		evs := e.byName[name]
		e.mu.Unlock()
		if len(evs) > 0 {
			return evs[0], nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("domain %s: no stopped event", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
