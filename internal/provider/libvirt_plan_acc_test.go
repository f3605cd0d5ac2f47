package provider_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

// On libvirt too, instance_id and image_id may come from resources created in the same apply:
// the plan works with them unknown, and the rescue happens at apply.
func TestAccLibvirtTD_unknownAtPlan(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-unknown-rescue.iso", "raw", "")
	const name = "acc-td-unknown"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	cfg := acctest.LibvirtProviderConfig(s.uri) + fmt.Sprintf(`
resource "terraform_data" "domain" {
  input = %q
}
resource "terraform_data" "image" {
  input = %q
}
resource "rescue_instance" "t" {
  instance_id = terraform_data.domain.output
  image_id    = terraform_data.image.output
  device      = "cdrom"
  bus         = "sata"
}
`, name, img)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkRestored(s, name, orig) }),
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("instance_id")),
			}},
			Check: check(func() error { return checkRescued(s, name, orig, rescueExpect{device: "cdrom", bus: "sata"}) }),
		}},
	})
}
