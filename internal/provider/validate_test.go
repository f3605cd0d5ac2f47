package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

// These run the real Terraform CLI but no backend: the errors come from the schema and from
// the provider's own checks, before any connection is made.

const nowhere = `
provider "rescue" {
  libvirt { uri = "test+unix:///default?socket=/nonexistent/rescue-test.sock" }
}
`

func planError(t *testing.T, config string, want string) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      config,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}},
	})
}

// planErrors are the resource's own checks at plan: each case is one plan-only step of one test
// case (a test case costs its own terraform init and version calls), and each step must fail
// with its error.
var planErrors = []struct{ name, attrs, want string }{
	{"bad device", `device = "tape"`, `(?s)Attribute device value must be one of.*"cdrom".*"disk".*"floppy"`},
	{"bad bus", `bus = "pci"`, `(?s)Attribute bus value must be one of`},
	{"floppy needs fdc", "device = \"floppy\"\n  bus = \"virtio\"", `(?s)Device and bus do not fit.*floppy needs bus "fdc"`},
	{"cdrom not on virtio", "device = \"cdrom\"\n  bus = \"virtio\"", `(?s)cdrom cannot be attached on bus "virtio"`},
	{"bad shutdown_timeout", `shutdown_timeout = "soon"`, `(?s)Invalid duration.*"soon" is not a positive duration`},
	{"bad timeouts", `timeouts = { create = "ten minutes" }`, `(?s)Invalid Attribute Value Time Duration.*"ten minutes"`},
	// A zero or negative timeout is refused at plan (it used to pass and fail at apply with
	// "context deadline exceeded"), naming the attribute.
	{"negative create timeout", `timeouts = { create = "-1m" }`, `(?s)Invalid timeout.*timeouts.create = "-1m" is not a positive duration.*rescue`},
	{"zero delete timeout", `timeouts = { create = "5m", delete = "0s" }`, `(?s)timeouts.delete = "0s" is not a positive duration`},
}

func TestValidateAtPlan(t *testing.T) {
	t.Parallel()
	steps := make([]resource.TestStep, 0, len(planErrors)+1)
	for _, c := range planErrors {
		steps = append(steps, resource.TestStep{
			Config:      "# " + c.name + "\n" + nowhere + "resource \"rescue_instance\" \"x\" {\n  instance_id = \"vm1\"\n  " + c.attrs + "\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(c.want),
		})
	}
	steps = append(steps, resource.TestStep{
		Config:      nowhere + `resource "rescue_instance" "x" { instance_id = "" }`,
		PlanOnly:    true,
		ExpectError: regexp.MustCompile(`(?s)instance_id string length must be at least 1`),
	})
	resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: acctest.ProviderFactories, Steps: steps})
}

func TestValidateTwoBackendBlocks(t *testing.T) {
	t.Parallel()
	planError(t, `
provider "rescue" {
  libvirt { uri = "test:///default" }
  openstack { cloud = "prod" }
}
resource "rescue_instance" "x" { instance_id = "vm1" }
`, `(?s)Two backend blocks.*exactly one backend block`)
}

func TestValidateNoBackend(t *testing.T) {
	for _, v := range []string{"OS_CLOUD", "OS_AUTH_URL", "LIBVIRT_DEFAULT_URI"} {
		t.Setenv(v, "")
	}
	planError(t, `resource "rescue_instance" "x" { instance_id = "vm1" }`,
		`(?s)No backend configured.*openstack.*libvirt`)
}

func TestValidateAmbiguousEnvironment(t *testing.T) {
	t.Setenv("OS_CLOUD", "prod")
	t.Setenv("LIBVIRT_DEFAULT_URI", "test:///default")
	planError(t, `resource "rescue_instance" "x" { instance_id = "vm1" }`, `(?s)Backend is ambiguous`)
}
