package provider_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
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
