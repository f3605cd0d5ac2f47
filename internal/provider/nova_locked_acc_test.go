package provider_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

// A locked server is refused by `terraform plan` for credentials without the admin role (real
// Keystone, real Nova), naming the lock's reason and the command that lifts it; nothing is
// rescued.
func TestAccNovaAuth_lockedServerRefusedAtPlan(t *testing.T) {
	k, id := keystoneServer(t)
	k.Nova.Lock(t, id, "disk forensics")
	cfg := fmt.Sprintf(`
provider "rescue" {
  openstack {
    auth_url            = %q
    user_name           = %q
    password            = %q
    tenant_name         = %q
    user_domain_name    = "Default"
    project_domain_name = "Default"
    region              = %q
  }
}
`, k.AuthURL, acctest.KeystoneDemoUser, acctest.KeystoneDemoPassword, acctest.KeystoneDemoProject,
		acctest.KeystoneRegion) + rescueHCL(attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      cfg,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)instance_id.*is locked.*disk\s+forensics.*openstack\s+server\s+unlock`),
		}},
	})
	if got := k.Nova.CountAction(t, id, "rescue"); got != 0 {
		t.Fatalf("Nova recorded %d rescues of the locked server", got)
	}
	if st, _ := k.Nova.Status(t, id); st != "ACTIVE" {
		t.Fatalf("server is %s after the refused plan, want ACTIVE", st)
	}
}
