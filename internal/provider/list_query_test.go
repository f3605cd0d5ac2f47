package provider_test

// `terraform query` through the real CLI (Terraform 1.14 and later; skipped with older CLIs, and
// named by the line `make test` ends with).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/querycheck"
	"github.com/hashicorp/terraform-plugin-testing/querycheck/queryfilter"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// cliAtLeast skips t when the Terraform CLI of the tests is older than major.minor.
func cliAtLeast(t *testing.T, major, minor int) {
	t.Helper()
	out, err := exec.Command(terraformPath(), "version", "-json").Output()
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil {
		return // the TestCase's version check reports it
	}
	var ma, mi int
	if _, err := fmt.Sscanf(v.Version, "%d.%d", &ma, &mi); err == nil && (ma < major || ma == major && mi < minor) {
		t.Skipf("Terraform CLI version %s is below minimum version %d.%d.0: skipping test", v.Version, major, minor)
	}
}

// ident is the identity check of an instance of the fake.
func ident(id, scope string) map[string]knownvalue.Check {
	return map[string]knownvalue.Check{"instance_id": knownvalue.StringExact(id), "scope": knownvalue.StringExact(scope)}
}

// The fake: the rescue made by the configuration and the one made by hand are listed, the
// instance not in rescue is not; filters and the resource object.
func TestFast_queryListsRescues(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web", "db", "idle")
	f.Set("db", rescue.StateRescued)
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`),
		}, {
			// The query file holds only list blocks: the provider's configuration is the one of the
			// configuration files (the previous step's), which the query runs beside.
			Query: true,
			Config: `list "rescue_instance" "all" {
  provider         = rescue
  include_resource = true
}

list "rescue_instance" "d" {
  provider = rescue
  config {
    name_regex = "^d"
  }
}
`,
			QueryResultChecks: []querycheck.QueryResultCheck{
				querycheck.ExpectLength("rescue_instance.all", 2),
				querycheck.ExpectIdentity("rescue_instance.all", ident("db", "fake:test")),
				querycheck.ExpectIdentity("rescue_instance.all", ident("web", "fake:test")),
				querycheck.ExpectLength("rescue_instance.d", 1),
				querycheck.ExpectIdentity("rescue_instance.d", ident("db", "fake:test")),
				querycheck.ExpectResourceKnownValues("rescue_instance.all", queryfilter.ByResourceIdentity(ident("db", "fake:test")),
					[]querycheck.KnownValueCheck{
						{Path: tfjsonpath.New("instance_id"), KnownValue: knownvalue.StringExact("db")},
						{Path: tfjsonpath.New("admin_pass"), KnownValue: knownvalue.Null()},
					}),
			},
		}},
	})
}

// libvirt: a domain rescued by hand becomes an import block and configuration
// (-generate-config-out), with its rescue image.
func TestAccLibvirtTD_queryGeneratesConfig(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	cliAtLeast(t, 1, 14) // before the fixtures: the TestCase's own check comes after them
	_, s := lvTD(t)
	img := tdVolume(t, s, "qry-rescue.iso", "raw", "")
	tdDomain(t, s, "qry-rescued", "pc", false)
	tdDomain(t, s, "qry-plain", "pc", false)
	s.rescueOOB(t, rescue.Request{InstanceID: "qry-rescued", ImageID: img})
	t.Cleanup(func() { s.unrescueOOB(t, "qry-rescued") })
	uuid, scope := lvIdentity(t, s, "qry-rescued")
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: acctest.LibvirtProviderConfig(s.uri),
		}, {
			Query:          true,
			GenerateConfig: true,
			Config: `list "rescue_instance" "rescues" {
  provider         = rescue
  include_resource = true
  config {
    name_regex = "^qry-"
  }
}
`,
			QueryResultChecks: []querycheck.QueryResultCheck{
				querycheck.ExpectLength("rescue_instance.rescues", 1),
				querycheck.ExpectIdentity("rescue_instance.rescues", ident(uuid, scope)),
				querycheck.ExpectResourceDisplayName("rescue_instance.rescues", queryfilter.ByResourceIdentity(ident(uuid, scope)),
					knownvalue.StringExact("qry-rescued")),
				querycheck.ExpectResourceKnownValues("rescue_instance.rescues", queryfilter.ByResourceIdentity(ident(uuid, scope)),
					[]querycheck.KnownValueCheck{{Path: tfjsonpath.New("image_id"), KnownValue: knownvalue.StringExact(img)}}),
			},
		}},
	})
}
