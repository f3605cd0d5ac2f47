package provider_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

// instance_id and image_id come from a resource created in the same apply (terraform_data's
// output is unknown at plan time): the plan works, and everything is checked at apply.
func TestAccNovaRescue_unknownAtPlan(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := n.ProviderConfig() + fmt.Sprintf(`
resource "terraform_data" "server" {
  input = %q
}
resource "terraform_data" "image" {
  input = %q
}
resource "rescue_instance" "t" {
  instance_id = terraform_data.server.output
  image_id    = terraform_data.image.output
}
`, id, "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(n, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("instance_id")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("device")),
			}},
			Check: rescuedStable(n, id, "cdrom", "scsi"),
		}},
	})
}

// A bad value that is only known at apply is refused before the first change.
func TestAccNovaRescue_unknownAtPlanBadValue(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := n.ProviderConfig() + fmt.Sprintf(`
resource "terraform_data" "image" {
  input = "not-a-uuid"
}
resource "rescue_instance" "t" {
  instance_id = %q
  image_id    = terraform_data.image.output
}
`, id)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// Nothing happened to the server.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "ACTIVE"), actionsAre(t, n, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: words(`image_id = terraform_data.image.output "not-a-uuid" is not a Glance image UUID`),
		}},
	})
}

// Several rescues in one provider process at once (terraform's -parallelism, default 10).
func TestAccNovaRescue_concurrent(t *testing.T) {
	n := acctest.StartNovaT(t)
	const count = 6
	var ids []string
	var blocks strings.Builder
	for i := 0; i < count; i++ {
		id := n.CreateServer(t, acctest.ServerOpts{})
		ids = append(ids, id)
		fmt.Fprintf(&blocks, "resource \"rescue_instance\" \"c%d\" {\n  instance_id = %q\n}\n", i, id)
	}
	all := func(status string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			for _, id := range ids {
				if err := n.CheckStatus(id, status); err != nil {
					return err
				}
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             all("ACTIVE"),
		Steps: []resource.TestStep{{
			Config: n.ProviderConfig() + blocks.String(),
			Check:  all("RESCUE"),
		}, {
			Config:   n.ProviderConfig() + blocks.String(),
			PlanOnly: true,
		}},
	})
}

// shutdown_timeout is refused on Nova also when it is added to an existing rescue, where it
// would otherwise be an in-place update.
func TestAccNovaRescue_shutdownTimeoutAddedLater(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id)),
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			Config:      novaConfig(n, attr("instance_id", id), attr("shutdown_timeout", "30s")),
			ExpectError: words("shutdown_timeout"),
		}},
	})
}

// A rescued server that goes to ERROR stays in state (destroy could still act) and the next
// plan replaces it: the unrescue Nova refuses for ERROR is a warning, then the new rescue
// (which Nova allows from ERROR) converges to RESCUE.
func TestAccNovaRescue_errorWhileRescuedIsReplaced(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(n, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			PreConfig: func() { n.ResetState(t, id, "error") },
			Config:    cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 2, 0)),
		}},
	})
}
