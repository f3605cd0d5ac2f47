package provider_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Through the real CLI on libvirt: rescue_instances finds the rescued domain, and the CI audit
// of the guide (a check block) flags a rescue older than its limit in the next plan.
func TestAccLibvirtTD_instancesCheckBlockFlagsOldRescue(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-chk-rescue.iso", "raw", "")
	tdDomain(t, s, "acc-chk-web", "pc", false)
	tdDomain(t, s, "acc-chk-db", "pc", false)
	w := tfcli.NewWorkspace(t)
	w.Write(acctest.LibvirtProviderConfig(s.uri) + `
resource "rescue_instance" "web" {
  instance_id      = "acc-chk-web"
  image_id         = "` + img + `"
  shutdown_timeout = "10s"
}

check "no_forgotten_rescues" {
  data "rescue_instances" "rescued" {
    name_regex = "^acc-chk-"
    in_rescue  = true
  }
  assert {
    condition     = alltrue([for i in data.rescue_instances.rescued.instances : timecmp(timeadd(i.rescued_at, "2s"), plantimestamp()) > 0])
    error_message = "in rescue for too long: ${join(",", [for i in data.rescue_instances.rescued.instances : i.name])}"
  }
}

data "rescue_instances" "all" {
  name_regex = "^acc-chk-"
  depends_on = [rescue_instance.web]
}

output "found" {
  value = join(",", [for i in data.rescue_instances.all.instances : "${i.name}:${i.in_rescue}"])
}
`)
	if r := w.Apply(); !r.OK() || !strings.Contains(r.Output, `found = "acc-chk-db:false,acc-chk-web:true"`) {
		t.Fatalf("apply:\n%s", r)
	}
	t.Cleanup(func() {
		if r := w.Destroy(); !r.OK() {
			t.Errorf("destroy:\n%s", r)
		}
	})
	time.Sleep(3 * time.Second)
	r := w.Run("plan")
	if !r.OK() || !strings.Contains(r.Output, "Check block assertion failed") || !strings.Contains(r.Output, "in rescue for too long: acc-chk-web") {
		t.Fatalf("plan does not flag the old rescue:\n%s", r)
	}
}

// Through the real CLI on libvirt, the guide's fleet configuration: rescue_instances finds the
// domains and for_each rescues them. A domain that someone else rescued (here out of band)
// stops the plan with the import block; the guide's `import` block with for_each over the
// instances in rescue adopts it instead (no restart, same definition) while the others are
// rescued; the next plan is empty, and destroy restores every definition byte for byte.
func TestAccLibvirtTD_fleetImportsRescuesMadeByHand(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-imp-rescue.iso", "raw", "")
	names := []string{"acc-imp-1", "acc-imp-2", "acc-imp-3"}
	origs := map[string]string{}
	for _, n := range names {
		tdDomain(t, s, n, "pc", false)
		origs[n] = s.mustXML(t, n)
	}
	byHand := names[2]
	s.rescueOOB(t, rescue.Request{InstanceID: byHand, ImageID: img, Device: "cdrom", Bus: "sata"})
	rescued, id := s.mustXML(t, byHand), domID(t, s, byHand)
	fleet := acctest.LibvirtProviderConfig(s.uri) + `
data "rescue_instances" "web" {
  name_regex = "^acc-imp-"
}

resource "rescue_instance" "web" {
  for_each    = { for i in data.rescue_instances.web.instances : i.id => i }
  instance_id = each.key
  image_id    = "` + img + `"
  device      = "cdrom"
  bus         = "sata"
}
`
	adopt := `
import {
  for_each = { for i in data.rescue_instances.web.instances : i.id => i if i.in_rescue }
  to       = rescue_instance.web[each.key]
  id       = each.key
}
`
	w := tfcli.NewWorkspace(t)
	w.Write(fleet)
	if r := w.Run("plan", "-input=false"); r.OK() || !strings.Contains(oneLine(r.Output), "Error: Instance already in rescue") {
		t.Fatalf("plan of the fleet with a rescue made by hand: want it refused:\n%s", r)
	}
	w.Write(fleet + adopt)
	if r := w.Apply(); !r.OK() || !strings.Contains(r.Output, "Resources: 1 imported, 2 added, 0 changed, 0 destroyed") {
		t.Fatalf("apply with the import block:\n%s", r)
	}
	if x := s.mustXML(t, byHand); x != rescued || domID(t, s, byHand) != id {
		t.Fatalf("the import changed the rescue made by hand")
	}
	for _, n := range names[:2] {
		if err := checkRescued(s, n, origs[n], rescueExpect{device: "cdrom", bus: "sata"}); err != nil {
			t.Fatal(err)
		}
	}
	if r := w.Run("plan", "-input=false", "-detailed-exitcode"); r.ExitCode != 0 {
		t.Fatalf("plan after the apply: want no changes:\n%s", r)
	}
	destroyConverges(t, w)
	for _, n := range names {
		if err := checkRestored(s, n, origs[n]); err != nil {
			t.Fatal(err)
		}
	}
}
