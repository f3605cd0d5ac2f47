package provider_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// activePools lists the active storage pools of a connection.
func activePools(l *golibvirt.Libvirt) ([]string, error) {
	ps, _, err := l.ConnectListAllStoragePools(1, golibvirt.ConnectListStoragePoolsActive)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names, nil
}

// samePools checks that the active pools are still want.
func samePools(s *lvSide, want []string) error {
	got, err := activePools(s.conn())
	if err != nil {
		return err
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("storage pools %v, before %v", got, want)
	}
	return nil
}

// refusedAtPlan runs plan-only steps that must each fail with their error, checking noChange
// after every one of them (before the next step, and after the last).
func refusedAtPlan(t *testing.T, noChange func() error, steps ...resource.TestStep) {
	t.Helper()
	for i := range steps {
		steps[i].PlanOnly = true
		if i > 0 {
			steps[i].PreConfig = func() {
				if err := noChange(); err != nil {
					t.Fatalf("after step %d: %v", i, err)
				}
			}
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(noChange),
		Steps:                    steps,
	})
}

// On test:///default, through the real CLI: what the backend would refuse is refused at plan,
// naming the attribute, the state or the domain, and nothing changes on the host (definitions,
// the running guest, storage pools, volumes).
func TestAccLibvirtTD_refusedAtPlan(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-refuse.iso", "raw", "")
	const name, other, paused = "acc-td-refuse", "acc-td-refuse-other", "acc-td-refuse-paused"
	tdDomain(t, s, name, "pc", false)
	tdDomain(t, s, other, "pc", false)
	tdDomain(t, s, paused, "pc", false)
	l := s.conn()
	pd, err := l.DomainLookupByName(paused)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DomainSuspend(pd); err != nil {
		t.Fatal(err)
	}
	orig, origPaused := s.mustXML(t, name), s.mustXML(t, paused)
	id := domID(t, s, name)
	pools, err := activePools(l)
	if err != nil {
		t.Fatal(err)
	}
	noChange := func() error {
		if err := checkUntouched(s, name, orig, id); err != nil {
			return err
		}
		if x, err := s.xml(paused, lvSecure); err != nil {
			return fmt.Errorf("definition of %s: %w", paused, err)
		} else if x != origPaused {
			return fmt.Errorf("definition of %s changed:\n%s", paused, x)
		}
		if st, _, err := l.DomainGetState(pd, 0); err != nil {
			return fmt.Errorf("domain %s: %w", paused, err)
		} else if golibvirt.DomainState(st) != golibvirt.DomainPaused {
			return fmt.Errorf("domain %s: state %d, want paused", paused, st)
		}
		return samePools(s, pools)
	}
	cfg := func(attrs ...string) string { return s.config(attrs...) }
	refusedAtPlan(t, noChange,
		resource.TestStep{Config: cfg(attr("instance_id", name), attr("image_id", img), `timeouts = { create = "-1m" }`),
			ExpectError: words(`timeouts.create = "-1m" is not a positive duration`)},
		resource.TestStep{Config: cfg(attr("instance_id", name), attr("image_id", "images/rescue/acc-refuse.iso")),
			ExpectError: words(`"images/rescue/acc-refuse.iso" is a relative path`)},
		resource.TestStep{Config: cfg(attr("instance_id", name), attr("image_id", "/"+libvirtd.TestPool)),
			ExpectError: words("/" + libvirtd.TestPool + " is a directory")},
		resource.TestStep{Config: cfg(attr("instance_id", name), attr("image_id", "/"+libvirtd.TestPool+"/"+name+"-root.qcow2")),
			ExpectError: words("is a writable disk (vda) of domain " + name + ":")},
		resource.TestStep{Config: cfg(attr("instance_id", name), attr("image_id", "/"+libvirtd.TestPool+"/"+other+"-root.qcow2")),
			ExpectError: words("is a writable disk (vda) of domain " + other + ":")},
		resource.TestStep{Config: cfg(attr("instance_id", paused), attr("image_id", img)),
			ExpectError: words("domain " + paused + " is paused, and a rescue starts only from a running or shut-off domain")},
	)
}

// On QEMU: a qcow2 disk image as the image of a cdrom rescue (the firmware would say "Boot
// failed: Could not read from CDROM") is refused at plan through the real CLI; the guest keeps
// running untouched and no storage pool is left.
func TestAccLibvirtQEMU_cdromNeedsISOAtPlan(t *testing.T) {
	lv, s := lvQEMU(t)
	const name = "acc-qemu-cdrom-disk"
	qemuGuestT(t, lv, name, libvirtd.GuestOptions{})
	orig := s.mustXML(t, name)
	id := domID(t, s, name)
	pools, err := activePools(s.conn())
	if err != nil {
		t.Fatal(err)
	}
	refusedAtPlan(t, func() error {
		if err := checkUntouched(s, name, orig, id); err != nil {
			return err
		}
		return samePools(s, pools)
	}, resource.TestStep{
		Config: s.config(attr("instance_id", name), attr("image_id", lv.Images().RescueDisk), attr("device", "cdrom"), attr("bus", "sata")),
		ExpectError: words("rescue-disk.qcow2 (qcow2) cannot boot as a cdrom: it is a disk image with an MBR boot signature " +
			"(0x55AA at byte 510), and a cdrom boots only an ISO 9660 image"),
	})
}

// On test:///default, through the real CLI: a domain that the configuration names without
// state of it and that is in rescue by someone else (here a rescue made out of band) is refused
// at plan, by plan and by apply, with the import block, and nothing of it changes. A plain
// `terraform destroy` of that workspace stops at its first plan (a normal one, over the whole
// configuration) with the same error naming `-refresh=false`; `terraform destroy -refresh=false`
// then unrescues the workspace's own rescue and leaves the other one alone.
func TestAccLibvirtTD_foreignRescueRefusedAtPlan(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-foreign.iso", "raw", "")
	const mine, theirs = "acc-td-mine", "acc-td-theirs"
	tdDomain(t, s, mine, "pc", false)
	tdDomain(t, s, theirs, "pc", false)
	origMine := s.mustXML(t, mine)
	s.rescueOOB(t, rescue.Request{InstanceID: theirs, ImageID: img, Device: "cdrom", Bus: "sata"})
	rescued, id := s.mustXML(t, theirs), domID(t, s, theirs)
	theirsUntouched := func() {
		t.Helper()
		if x := s.mustXML(t, theirs); x != rescued || domID(t, s, theirs) != id {
			t.Fatalf("the rescue of %s made out of band was changed", theirs)
		}
	}
	block := func(name, dom string) string {
		return fmt.Sprintf("\nresource \"rescue_instance\" %q {\n  %s\n  %s\n  device = \"cdrom\"\n  bus = \"sata\"\n}\n",
			name, attr("instance_id", dom), attr("image_id", img))
	}
	w := tfcli.NewWorkspace(t)
	w.Write(acctest.LibvirtProviderConfig(s.uri) + block("t", mine))
	if r := w.Apply(); !r.OK() {
		t.Fatalf("apply of %s:\n%s", mine, r)
	}
	w.Write(acctest.LibvirtProviderConfig(s.uri) + block("t", mine) + block("theirs", theirs))
	refused := func(what string, r tfcli.Result, more ...string) {
		t.Helper()
		out := oneLine(r.Output)
		for _, want := range append([]string{"Error: Instance already in rescue", "rescue_instance.theirs",
			"Refused at plan: nothing was changed", `id = "` + theirs + `"`}, more...) {
			if r.OK() || !strings.Contains(out, want) {
				t.Fatalf("%s: want it refused with %q:\n%s", what, want, r)
			}
		}
		theirsUntouched()
	}
	refused("plan", w.Run("plan", "-input=false"))
	refused("apply", w.Apply())
	refused("plain destroy", w.Destroy(), "terraform destroy -refresh=false")
	if _, ok := w.State()[addr]; !ok {
		t.Fatalf("the refused destroy dropped %s from state", addr)
	}
	if r := w.Destroy("-refresh=false"); !r.OK() {
		t.Fatalf("destroy -refresh=false:\n%s", r)
	}
	if st := state(t, w); len(st) != 0 {
		t.Fatalf("state after destroy -refresh=false: %+v", st)
	}
	if err := checkRestored(s, mine, origMine); err != nil {
		t.Fatal(err)
	}
	theirsUntouched()
}
