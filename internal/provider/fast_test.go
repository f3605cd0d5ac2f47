package provider_test

// The fast tier: every path of rescue_instance through the real Terraform CLI against a scripted
// in-memory backend (rescuetest.Fake) injected into the provider. No root, no daemons; these run
// in `make unit` (and in `make test`) in seconds.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

const fastAddr = "rescue_instance.t"

// fastFactories serves the provider with the fake as its backend. Terraform is never downloaded:
// without TF_ACC_TERRAFORM_PATH the one on PATH is used, and none fails the test.
func fastFactories(t *testing.T, f *rescuetest.Fake) map[string]func() (tfprotov6.ProviderServer, error) {
	t.Helper()
	p := terraformPath()
	if p == "" {
		t.Fatal("no Terraform CLI: set TF_ACC_TERRAFORM_PATH or put terraform on PATH (scripts/install-deps.sh)")
	}
	// Set for the whole test binary (t.Setenv cannot be used by parallel tests).
	_ = os.Setenv("TF_ACC_TERRAFORM_PATH", p)
	open := func(context.Context) (rescue.Backend, error) { return f, nil }
	return map[string]func() (tfprotov6.ProviderServer, error){
		"rescue": provider.NewServer(provider.NewWithBackend("test", open)),
	}
}

func terraformPath() string {
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, _ := exec.LookPath("terraform")
	return p
}

// fastConfig is a rescue_instance "t" with the given attribute lines.
func fastConfig(attrs ...string) string {
	return "provider \"rescue\" {}\n" + rescueHCL(attrs...)
}

func expectString(attr, want string) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(fastAddr, tfjsonpath.New(attr), knownvalue.StringExact(want))
}

func fakeState(f *rescuetest.Fake, id string, want rescue.State) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := f.State(id); got != want {
			return fmt.Errorf("instance %s is %q, want %q (calls %v)", id, got, want, f.Calls())
		}
		return nil
	}
}

func TestFast_flow(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`),
			ConfigStateChecks: []statecheck.StateCheck{
				expectString("id", "web"),
				expectString("mode", "legacy"),
				expectString("admin_pass", "fake-generated-1"),
				expectString("image_id", rescuetest.DefaultImage),
			},
			Check: fakeState(f, "web", rescue.StateRescued),
		}},
		CheckDestroy: fakeState(f, "web", rescue.StateActive),
	})
	if got := f.Calls(); fmt.Sprint(got) != "[rescue web unrescue web]" {
		t.Fatalf("calls %v", got)
	}
}

func TestFast_stableModeFromImageShownAtPlan(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.Images = map[string][2]string{"iso": {"cdrom", "sata"}}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`, `image_id = "iso"`, `admin_pass = "given"`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(fastAddr, tfjsonpath.New("mode"), knownvalue.StringExact("stable")),
				plancheck.ExpectKnownValue(fastAddr, tfjsonpath.New("device"), knownvalue.StringExact("cdrom")),
				plancheck.ExpectKnownValue(fastAddr, tfjsonpath.New("bus"), knownvalue.StringExact("sata")),
			}},
			ConfigStateChecks: []statecheck.StateCheck{expectString("admin_pass", "given"), expectString("mode", "stable")},
		}},
	})
}

func TestFast_invalidAtPlanChangesNothing(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.OnValidate = func(rescue.Request) error {
		return &rescue.InvalidError{Attribute: "bus", Msg: "this host has no such bus"}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`, `bus = "sata"`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`this host has no such bus`),
		}},
	})
	if n := len(f.Calls()); n != 0 {
		t.Fatalf("a refused plan made backend calls: %v", f.Calls())
	}
}

func TestFast_missingInstanceAtPlan(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "nope"`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`instance "nope" not found`),
		}},
	})
}

// A rescue the backend accepted and then failed is kept in state (tainted) with its password, and
// the next apply replaces it: unrescue, then rescue.
func TestFast_acceptedThenFailedIsKeptAndReplaced(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.RescueFault = "compute host fell over"
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`),
			ExpectError: regexp.MustCompile(`(?s)Rescue did not complete.*compute host fell over`),
		}, {
			PreConfig: func() { f.RescueFault = "" },
			Config:    fastConfig(`instance_id = "web"`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(fastAddr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
			ConfigStateChecks: []statecheck.StateCheck{expectString("admin_pass", "fake-generated-2")},
			Check:             fakeState(f, "web", rescue.StateRescued),
		}},
	})
	if f.Count("rescue web") != 2 || f.Count("unrescue web") != 2 {
		t.Fatalf("calls %v", f.Calls())
	}
}

// A rescue that does not finish within the create timeout fails at the timeout and is kept.
func TestFast_createTimeoutKeepsTheRescue(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.Ticks = -1
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`, `timeouts = { create = "2s" }`),
			ExpectError: regexp.MustCompile(`timed out waiting for rescue of web`),
		}, {
			PreConfig: func() { f.Ticks = 1; f.Set("web", rescue.StateRescued) },
			Config:    fastConfig(`instance_id = "web"`, `timeouts = { create = "2s" }`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(fastAddr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
		}},
	})
}

func TestFast_driftUnrescuedOutOfBandIsRescuedAgain(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	fastAfterOutOfBand(t, f, func() { f.Set("web", rescue.StateActive) }, plancheck.ResourceActionCreate)
}

func TestFast_errorWhileRescuedIsReplaced(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	fastAfterOutOfBand(t, f, func() { f.Fail("web", "host died") }, plancheck.ResourceActionDestroyBeforeCreate)
}

// fastAfterOutOfBand rescues "web", makes an out-of-band change, and checks that the next plan
// has action for the resource and that its apply leaves web in rescue.
func fastAfterOutOfBand(t *testing.T, f *rescuetest.Fake, change func(), action plancheck.ResourceActionType) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`),
		}, {
			PreConfig: change,
			Config:    fastConfig(`instance_id = "web"`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(fastAddr, action),
			}},
			Check: fakeState(f, "web", rescue.StateRescued),
		}},
	})
}

func TestFast_importOnlyInRescue(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web", "db")
	f.Set("web", rescue.StateRescued)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:        fastConfig(`instance_id = "db"`),
			ResourceName:  fastAddr,
			ImportState:   true,
			ImportStateId: "db",
			ExpectError:   regexp.MustCompile(`Instance is not in rescue`),
		}, {
			Config:             fastConfig(`instance_id = "web"`),
			ResourceName:       fastAddr,
			ImportState:        true,
			ImportStateId:      "web",
			ImportStatePersist: true,
		}, {
			Config:   fastConfig(`instance_id = "web"`),
			PlanOnly: true,
		}},
	})
}

// An instance in error whose unrescue the backend refuses is removed from state with a warning
// at destroy, instead of failing it forever.
func TestFast_destroyOfRefusedErrorInstance(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.OnUnrescue = func(string) error {
		if f.State("web") == rescue.StateError {
			return &rescue.ConflictError{Msg: "Cannot 'unrescue' instance while it is in vm_state error"}
		}
		return nil
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`),
		}, {
			PreConfig: func() { f.Fail("web", "host died") },
			Config:    fastConfig(`instance_id = "web"`),
			Destroy:   true,
		}},
		CheckDestroy: fakeState(f, "web", rescue.StateError),
	})
}

func TestFast_backendRefusalIsVerbatim(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.OnRescue = func(rescue.Request) (error, bool) {
		return &rescue.ConflictError{Msg: "Instance web is locked by its owner"}, false
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`),
			ExpectError: regexp.MustCompile(`(?s)Refused by the backend.*Instance web is locked by its owner`),
		}},
	})
	if f.State("web") != rescue.StateActive {
		t.Fatalf("instance %s after a refused rescue", f.State("web"))
	}
}

// noSecretInState fails when any attribute of any resource in state holds secret.
func noSecretInState(secret string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for addr, r := range s.RootModule().Resources {
			for k, v := range r.Primary.Attributes {
				if strings.Contains(v, secret) {
					return fmt.Errorf("%s.%s holds the write-only password", addr, k)
				}
			}
		}
		return nil
	}
}

func lastPass(f *rescuetest.Fake, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := f.LastRescue().AdminPass; got != want {
			return fmt.Errorf("the backend got password %q, want %q", got, want)
		}
		return nil
	}
}

// admin_pass_wo reaches the backend and never the plan or the state; a new version replaces.
func TestFast_writeOnlyPassword(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	nullAt := func(attr string) plancheck.PlanCheck {
		return plancheck.ExpectKnownValue(fastAddr, tfjsonpath.New(attr), knownvalue.Null())
	}
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`, `admin_pass_wo = "s3cret-one"`, `admin_pass_wo_version = 1`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				nullAt("admin_pass"), nullAt("admin_pass_wo"),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(fastAddr, tfjsonpath.New("admin_pass"), knownvalue.Null()),
				statecheck.ExpectKnownValue(fastAddr, tfjsonpath.New("admin_pass_wo"), knownvalue.Null()),
			},
			Check: resource.ComposeTestCheckFunc(lastPass(f, "s3cret-one"), noSecretInState("s3cret")),
		}, {
			Config: fastConfig(`instance_id = "web"`, `admin_pass_wo = "s3cret-two"`, `admin_pass_wo_version = 2`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(fastAddr, plancheck.ResourceActionDestroyBeforeCreate),
				nullAt("admin_pass"),
			}},
			Check: resource.ComposeTestCheckFunc(lastPass(f, "s3cret-two"), noSecretInState("s3cret")),
		}, {
			// A new value without a new version is not seen (write-only values cannot be compared).
			Config:   fastConfig(`instance_id = "web"`, `admin_pass_wo = "s3cret-three"`, `admin_pass_wo_version = 2`),
			PlanOnly: true,
		}},
	})
	if n := f.Count("rescue web"); n != 2 {
		t.Fatalf("%d rescues, want 2: %v", n, f.Calls())
	}
}

func TestFast_writeOnlyPasswordConflicts(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`, `admin_pass = "a"`, `admin_pass_wo = "b"`, `admin_pass_wo_version = 1`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)admin_pass.*cannot be specified when`),
		}, {
			Config:      fastConfig(`instance_id = "web"`, `admin_pass_wo = "b"`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)admin_pass_wo_version.*must be specified`),
		}},
	})
}

// A change that needs no new rescue (shutdown_timeout) is an in-place update, no backend action.
func TestFast_inPlaceUpdate(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: fastConfig(`instance_id = "web"`),
		}, {
			Config: fastConfig(`instance_id = "web"`, `shutdown_timeout = "30s"`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(fastAddr, plancheck.ResourceActionUpdate),
			}},
			ConfigStateChecks: []statecheck.StateCheck{expectString("shutdown_timeout", "30s")},
		}},
	})
	if f.Count("rescue web") != 1 {
		t.Fatalf("calls %v", f.Calls())
	}
}
