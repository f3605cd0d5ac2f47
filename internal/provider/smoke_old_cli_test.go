package provider_test

// The smoke suite of older CLIs: Terraform 1.5.7 (the oldest supported; it knows neither
// write-only attributes nor resource identities, which must not break it), built once by
// scripts/terraform-old.sh, or any CLI named by RESCUE_SMOKE_CLI (OpenTofu's tofu, by hand).
// The resource's create, read (a plan without changes) and destroy, and the data source, on
// the libvirt test driver.

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestAccSmokeOldCLI_libvirt(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	_, s := lvTD(t)
	cli := acctest.OldTerraform(t)
	img := tdVolume(t, s, "smk-rescue.iso", "raw", "")
	tdDomain(t, s, "smk-web", "pc", false)
	tdDomain(t, s, "smk-db", "pc", false)
	w := tfcli.NewWorkspace(t)
	w.UseCLI(cli)
	t.Logf("CLI %s: %s", cli, strings.SplitN(w.Run("version").Output, "\n", 2)[0])
	w.Write(acctest.LibvirtProviderConfig(s.uri) + `
resource "rescue_instance" "t" {
  instance_id      = "smk-web"
  image_id         = "` + img + `"
  shutdown_timeout = "10s"
}

data "rescue_instances" "smk" {
  name_regex = "^smk-"
  depends_on = [rescue_instance.t]
}

output "found" {
  value = join(",", [for i in data.rescue_instances.smk.instances : "${i.name}:${i.in_rescue}"])
}
`)
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			w.Destroy()
		}
	})
	r := w.Apply()
	t.Logf("apply: %s", r.Took)
	if !r.OK() || !strings.Contains(r.Output, `found = "smk-db:false,smk-web:true"`) {
		t.Fatalf("apply:\n%s", r)
	}
	if inst := w.State()["rescue_instance.t"]; inst.Attributes["mode"] != "legacy" || inst.Attributes["image_id"] != img {
		t.Fatalf("state of rescue_instance.t: %+v", inst)
	}
	if err := isState(s, "smk-web", rescue.StateRescued); err != nil {
		t.Fatal(err)
	}
	r = w.Run("plan", "-detailed-exitcode")
	t.Logf("plan: %s", r.Took)
	if r.ExitCode != 0 {
		t.Fatalf("plan after apply is not empty (read):\n%s", r)
	}
	r = w.Destroy()
	destroyed = true
	t.Logf("destroy: %s", r.Took)
	if !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	if err := isState(s, "smk-web", rescue.StateActive); err != nil {
		t.Fatal(err)
	}
}

// isState checks the domain's state, asked through a backend of its own.
func isState(s *lvSide, name string, want rescue.State) error {
	inst, err := s.get(name)
	if err != nil {
		return err
	}
	if inst.State != want {
		return fmt.Errorf("domain %s is %q, want %q", name, inst.State, want)
	}
	return nil
}
