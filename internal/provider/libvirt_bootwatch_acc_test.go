package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
)

// An ISO that is not bootable (no El Torito boot record) as the rescue cdrom: the firmware
// finds nothing to boot, so apply fails with what it saw, and the rescue is rolled back:
// nothing is kept in state (removing the resource plans nothing), the guest boots its own root
// disk again on its original definition, byte for byte, without journal or volumes.
func TestAccLibvirtQEMU_unbootableRescueFails(t *testing.T) {
	lv, s := lvQEMU(t)
	const name = "acc-unbootable"
	w := qemuGuestT(t, lv, name, libvirtd.GuestOptions{MemoryMiB: 32})
	orig := s.mustXML(t, name)
	cfg := s.config(attr("instance_id", name), attr("image_id", lv.Images().ConfigISO),
		attr("device", "cdrom"), attr("bus", "sata"), attr("shutdown_timeout", "20s"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkRestored(s, name, orig) }),
		Steps: []resource.TestStep{{
			PreConfig:   w.mark,
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)found\s+nothing\s+bootable\s+on\s+the\s+rescue\s+device\s+\(cdrom\s+on\s+bus\s+sata.*reset\s+it.*El\s+Torito`),
		}, {
			// Nothing in state: without the resource in the configuration there is nothing to destroy.
			Config: acctest.LibvirtProviderConfig(s.uri),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				notInState(addr),
				check(func() error { return w.next(libvirtd.BootRoot) }),
				check(func() error { return checkRestored(s, name, orig) }),
			),
		}},
	})
}
