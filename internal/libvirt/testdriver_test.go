package libvirt_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestMain(m *testing.M) { os.Exit(libvirtd.RunMain(m)) }

// newBackend opens a Backend on uri, closed at the end of the test.
func newBackend(t *testing.T, uri string) *rlibvirt.Backend {
	t.Helper()
	b, err := rlibvirt.New(context.Background(), rlibvirt.Config{URI: uri})
	if err != nil {
		t.Fatalf("New(%s): %v", uri, err)
	}
	rlibvirt.SetPolling(b, 20*time.Millisecond, 500*time.Millisecond)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// testDriver is a test:///default fixture: a connection that keeps the driver's in-memory state
// for the whole test (the test driver forgets everything when its last connection closes), and
// volumes in its default-pool.
type testDriver struct {
	lv *libvirtd.Env
	l  *golibvirt.Libvirt
}

func newTestDriver(t *testing.T) *testDriver {
	t.Helper()
	lv := libvirtd.Shared(t)
	return &testDriver{lv: lv, l: lv.Connect(t, lv.TestURI)}
}

// volume creates a volume in the test driver's default-pool and returns its path.
func (td *testDriver) volume(t *testing.T, name, format, backing string) string {
	t.Helper()
	return libvirtd.TestVolume(t, td.l, name, format, backing)
}

// domain defines (and with start, starts) a test driver domain whose root disk is a volume of
// default-pool, backed by a base volume when backed is set; extra is raw XML inside <devices>.
func (td *testDriver) domain(t *testing.T, name string, start, backed bool, extra string) golibvirt.Domain {
	t.Helper()
	backing := ""
	if backed {
		backing = td.volume(t, name+"-base.img", "raw", "")
	}
	root := td.volume(t, name+"-root.qcow2", "qcow2", backing)
	x := libvirtd.TestDomainXML(name, "pc", root, extra)
	d, err := td.l.DomainDefineXMLFlags(x, 0)
	if err != nil {
		t.Fatalf("define %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = td.l.DomainDestroy(d)
		_ = td.l.DomainUndefine(d)
	})
	if start {
		if err := td.l.DomainCreate(d); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
	}
	return d
}

func (td *testDriver) xml(t *testing.T, d golibvirt.Domain, flags golibvirt.DomainXMLFlags) string {
	t.Helper()
	x, err := td.l.DomainGetXMLDesc(d, flags)
	if err != nil {
		t.Fatalf("XML of %s: %v", d.Name, err)
	}
	return x
}

func (td *testDriver) state(t *testing.T, d golibvirt.Domain) golibvirt.DomainState {
	t.Helper()
	s, _, err := td.l.DomainGetState(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	return golibvirt.DomainState(s)
}

// volumes lists the volume names of default-pool.
func (td *testDriver) volumes(t *testing.T) []string {
	t.Helper()
	p, err := td.l.StoragePoolLookupByName(libvirtd.TestPool)
	if err != nil {
		t.Fatal(err)
	}
	vols, _, err := td.l.StoragePoolListAllVolumes(p, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		names = append(names, v.Name)
	}
	return names
}

func hasRescueVolume(names []string, dom string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, dom+".rescue-") {
			return true
		}
	}
	return false
}

const secure = golibvirt.DomainXMLInactive | golibvirt.DomainXMLSecure

func TestTestDriverRescueUnrescue(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-flow.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		device rescue.Device
		bus    rescue.Bus
		mode   rescue.Mode
	}{
		{"td-legacy", "", "", rescue.ModeLegacy},
		{"td-stable", "cdrom", "sata", rescue.ModeStable},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := td.domain(t, c.name, true, false, "")
			orig := td.xml(t, d, secure)
			req := rescue.Request{InstanceID: c.name, ImageID: img, Device: c.device, Bus: c.bus}
			plan, err := b.Validate(ctx, req)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if plan.Mode != c.mode || plan.Device != c.device || plan.Bus != c.bus {
				t.Fatalf("plan %+v", plan)
			}
			eng := rescue.NewEngine(b)
			if _, inst, err := eng.Rescue(ctx, req); err != nil {
				t.Fatalf("Rescue: %v", err)
			} else if inst.State != rescue.StateRescued || inst.Mode != c.mode || inst.ImageID != img || inst.Device != c.device || inst.Bus != c.bus {
				t.Fatalf("after rescue: %+v", inst)
			}
			rx := td.xml(t, d, secure)
			if testing.Verbose() {
				t.Logf("rescue definition:\n%s", rx)
			}
			if rx == orig || !strings.Contains(rx, rlibvirt.MetadataNamespace) {
				t.Fatalf("rescue definition not in place:\n%s", rx)
			}
			if !hasRescueVolume(td.volumes(t), c.name) {
				t.Errorf("no overlay volume in %v", td.volumes(t))
			}
			// Another Backend (a new process) sees the rescue and unrescues it.
			b2 := newBackend(t, td.lv.TestURI)
			if inst, err := b2.Get(ctx, c.name); err != nil || inst.State != rescue.StateRescued {
				t.Fatalf("Get from another connection: %+v, %v", inst, err)
			}
			out, inst, err := rescue.NewEngine(b2).Unrescue(ctx, c.name)
			if err != nil || out != rescue.Unrescued || inst.State != rescue.StateActive {
				t.Fatalf("Unrescue: %v %+v %v", out, inst, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("restored definition differs from the original:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
			if hasRescueVolume(td.volumes(t), c.name) {
				t.Errorf("rescue volumes left: %v", td.volumes(t))
			}
			if td.state(t, d) != golibvirt.DomainRunning {
				t.Errorf("not running after unrescue")
			}
			if out, _, err := rescue.NewEngine(b2).Unrescue(ctx, c.name); err != nil || out != rescue.AlreadyUnrescued {
				t.Errorf("second unrescue: %v %v", out, err)
			}
		})
	}
}

var _ = errors.New
