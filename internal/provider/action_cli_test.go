package provider_test

// The actions through a Terraform CLI that has them (1.14 and later): skipped with an older CLI
// (the one here is 1.11; `make test` names these tests in its last line). They run wherever
// TF_ACC_TERRAFORM_PATH names a newer CLI.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// triggerHCL is a terraform_data "t" whose input is input, invoking the actions on the events.
func triggerHCL(input int, events, actions string) string {
	return fmt.Sprintf(`
resource "terraform_data" "t" {
  input = %d
  lifecycle {
    action_trigger {
      events  = [%s]
      actions = [%s]
    }
  }
}
`, input, events, actions)
}

const actionsHCL = `
action "rescue_rescue" "web" {
  config {
    instance_id   = "web"
    admin_pass_wo = "Trigger-Pass-1"
    device        = "disk"
    bus           = "virtio"
  }
}

action "rescue_unrescue" "web" {
  config {
    instance_id = "web"
  }
}
`

// Actions from `lifecycle { action_trigger { ... } }` (fast tier, the fake backend): created,
// the trigger rescues with the write-only password; updated, it unrescues. Nothing of the
// actions is in state.
func TestFast_actionTriggerThroughTheCLI(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	cfg := func(input int, events, actions string) string {
		return "provider \"rescue\" {}\n" + actionsHCL + triggerHCL(input, events, actions)
	}
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: cfg(1, "after_create", "action.rescue_rescue.web"),
			Check: resource.ComposeAggregateTestCheckFunc(
				fakeState(f, "web", rescue.StateRescued),
				func(*terraform.State) error {
					if got := f.LastRescue(); got.AdminPass != "Trigger-Pass-1" || got.Device != "disk" || got.Bus != "virtio" {
						return fmt.Errorf("the backend got %+v", got)
					}
					return nil
				},
			),
		}, {
			Config: cfg(2, "after_update", "action.rescue_unrescue.web"),
			Check:  fakeState(f, "web", rescue.StateActive),
		}},
	})
}

// `terraform apply -invoke=action.rescue_rescue.web` against Nova's own code, the password from
// an ephemeral variable: the server reaches RESCUE with it, the CLI shows the progress, and neither
// the output nor the TRACE log holds it; `-invoke=action.rescue_unrescue.web` brings it back.
func TestAccNovaAction_invokeThroughTheCLI(t *testing.T) {
	skipBelowCLI(t, tfversion.SkipBelow(tfversion.Version1_14_0))
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	logPath := t.TempDir() + "/trace.log"
	const pass = "Invoke-Secret-31415"
	w := tfcli.NewWorkspace(t, "TF_LOG=trace", "TF_LOG_PATH="+logPath, "TF_VAR_rescue_pass="+pass)
	w.Write(n.ProviderConfig() + fmt.Sprintf(`
variable "rescue_pass" {
  type      = string
  ephemeral = true
}

action "rescue_rescue" "web" {
  config {
    instance_id   = %q
    admin_pass_wo = var.rescue_pass
  }
}

action "rescue_unrescue" "web" {
  config {
    instance_id = %q
  }
}
`, id, id))
	r := w.Apply("-invoke=action.rescue_rescue.web")
	if !r.OK() {
		t.Fatalf("apply -invoke rescue:\n%s", r)
	}
	if err := n.CheckStatus(id, "RESCUE"); err != nil {
		t.Fatal(err)
	}
	if got := n.RescuePasswords(t, id); len(got) != 1 || got[0] != pass {
		t.Fatalf("the compute host got %q", got)
	}
	out := r.String()
	if !strings.Contains(out, "in rescue: "+id+" is RESCUE") {
		t.Fatalf("the CLI did not show the progress events:\n%s", out)
	}
	if r = w.Apply("-invoke=action.rescue_unrescue.web"); !r.OK() {
		t.Fatalf("apply -invoke unrescue:\n%s", r)
	}
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "rescuing instance (action)") {
		t.Fatalf("the trace log has no provider lines (%d bytes)", len(log))
	}
	if strings.Contains(out+r.String(), pass) || strings.Contains(string(log), pass) {
		t.Fatal("the output or the TRACE log holds the password")
	}
}

// skipBelowCLI skips t when the Terraform CLI of the tests fails check (a tfversion check, as
// resource.Test applies them), for tests that run the CLI through tfcli.
func skipBelowCLI(t *testing.T, check tfversion.TerraformVersionCheck) {
	t.Helper()
	out, err := exec.Command(tfcli.TerraformPath(t), "version", "-json").Output()
	if err != nil {
		t.Fatalf("terraform version: %v", err)
	}
	var tv struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &tv); err != nil {
		t.Fatalf("terraform version -json: %v (%s)", err, out)
	}
	v, err := version.NewVersion(tv.Version)
	if err != nil {
		t.Fatalf("terraform version %q: %v", tv.Version, err)
	}
	var resp tfversion.CheckTerraformVersionResponse
	check.CheckTerraformVersion(context.Background(), tfversion.CheckTerraformVersionRequest{TerraformVersion: v}, &resp)
	if resp.Error != nil {
		t.Fatal(resp.Error)
	}
	if resp.Skip != "" {
		t.Skip(resp.Skip)
	}
}
