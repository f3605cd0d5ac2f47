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

func TestValidateBadDevice(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  device      = "tape"
}`, `(?s)Attribute device value must be one of.*"cdrom".*"disk".*"floppy"`)
}

func TestValidateBadBus(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  bus         = "pci"
}`, `(?s)Attribute bus value must be one of`)
}

func TestValidateFloppyNeedsFdc(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  device      = "floppy"
  bus         = "virtio"
}`, `(?s)Device and bus do not fit.*floppy needs bus "fdc"`)
}

func TestValidateCdromNotOnVirtio(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  device      = "cdrom"
  bus         = "virtio"
}`, `(?s)cdrom cannot be attached on bus "virtio"`)
}

func TestValidateBadShutdownTimeout(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id      = "vm1"
  shutdown_timeout = "soon"
}`, `(?s)Invalid duration.*"soon" is not a positive duration`)
}

func TestValidateBadTimeouts(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  timeouts    = { create = "ten minutes" }
}`, `(?s)Invalid Attribute Value Time Duration.*"ten minutes"`)
}

func TestValidateEmptyInstanceID(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = ""
}`, `(?s)instance_id string length must be at least 1`)
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

// A zero or negative timeout is refused at plan (it used to pass and fail at apply with
// "context deadline exceeded"), naming the attribute.
func TestValidateNonPositiveTimeouts(t *testing.T) {
	t.Parallel()
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  timeouts    = { create = "-1m" }
}`, `(?s)Invalid timeout.*timeouts.create = "-1m" is not a positive duration.*rescue`)
	planError(t, nowhere+`resource "rescue_instance" "x" {
  instance_id = "vm1"
  timeouts    = { create = "5m", delete = "0s" }
}`, `(?s)timeouts.delete = "0s" is not a positive duration`)
}
