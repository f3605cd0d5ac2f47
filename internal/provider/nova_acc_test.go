package provider_test

// Acceptance tests of rescue_instance on Nova: the real Terraform CLI (terraform-plugin-testing)
// against Nova's own code (internal/acctest starts it). Every test asserts the server's real
// state through the harness client, not only Terraform's state.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

const addr = "rescue_instance.t"

// rescueHCL is a rescue_instance "t" with the given attribute lines.
func rescueHCL(attrs ...string) string {
	return "\nresource \"rescue_instance\" \"t\" {\n  " + strings.Join(attrs, "\n  ") + "\n}\n"
}

func attr(name, value string) string { return fmt.Sprintf("%s = %q", name, value) }

// novaConfig is the noauth2 provider block of n plus a rescue_instance "t".
func novaConfig(n *acctest.Nova, attrs ...string) string {
	return n.ProviderConfig() + rescueHCL(attrs...)
}

// serverIs checks the server's real status in Nova (no task in progress).
func serverIs(n *acctest.Nova, id, status string) resource.TestCheckFunc {
	return func(*terraform.State) error { return n.CheckStatus(id, status) }
}

// actionsAre checks how many rescues and unrescues Nova recorded for the server.
func actionsAre(t *testing.T, n *acctest.Nova, id string, rescues, unrescues int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		r, u := n.CountAction(t, id, "rescue"), n.CountAction(t, id, "unrescue")
		if r != rescues || u != unrescues {
			return fmt.Errorf("server %s: Nova recorded %d rescue(s) and %d unrescue(s), want %d and %d (actions %v)",
				id, r, u, rescues, unrescues, n.InstanceActions(t, id))
		}
		return nil
	}
}

// destroyedTo checks, after the test's destroy, that the server is back in status.
func destroyedTo(n *acctest.Nova, id, status string) resource.TestCheckFunc {
	return func(*terraform.State) error { return n.CheckStatus(id, status) }
}

func notInState(name string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		if _, ok := s.RootModule().Resources[name]; ok {
			return fmt.Errorf("%s is still in state", name)
		}
		return nil
	}
}

func tainted(name string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[name]
		if !ok {
			return fmt.Errorf("%s is not in state", name)
		}
		if !rs.Primary.Tainted {
			return fmt.Errorf("%s is in state but not tainted", name)
		}
		return nil
	}
}

// words matches a phrase of Terraform's output, which wraps long diagnostics at any space.
func words(phrase string) *regexp.Regexp {
	parts := strings.Fields(phrase)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `\s+`))
}

func minLen(n int) resource.CheckResourceAttrWithFunc {
	return func(v string) error {
		if len(v) < n {
			return fmt.Errorf("length %d, want at least %d", len(v), n)
		}
		return nil
	}
}

func TestAccNovaRescue_defaultImage(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id)),
			Check: resource.ComposeAggregateTestCheckFunc(
				serverIs(n, id, "RESCUE"),
				actionsAre(t, n, id, 1, 0),
				resource.TestCheckResourceAttr(addr, "id", id),
				resource.TestCheckResourceAttr(addr, "instance_id", id),
				resource.TestCheckResourceAttr(addr, "mode", "legacy"),
				resource.TestCheckNoResourceAttr(addr, "image_id"),
				// admin_pass omitted: generated (on our side or by Nova) and kept in state.
				resource.TestCheckResourceAttrWith(addr, "admin_pass", minLen(8)),
			),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectSensitiveValue(addr, tfjsonpath.New("admin_pass")),
			},
		}},
	})
}

func TestAccNovaRescue_imageIDAndAdminPass(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	img := n.CreateImage(t, "acc-plain-rescue", nil)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 2, 2)),
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("admin_pass", "Given-Pass-123")),
			Check: resource.ComposeAggregateTestCheckFunc(
				serverIs(n, id, "RESCUE"),
				actionsAre(t, n, id, 1, 0),
				resource.TestCheckResourceAttr(addr, "image_id", img),
				resource.TestCheckResourceAttr(addr, "admin_pass", "Given-Pass-123"),
				resource.TestCheckResourceAttr(addr, "mode", "legacy"),
			),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectSensitiveValue(addr, tfjsonpath.New("admin_pass")),
			},
		}, {
			// A new password is a new rescue: unrescue, then rescue.
			Config: novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("admin_pass", "Other-Pass-456")),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				serverIs(n, id, "RESCUE"),
				actionsAre(t, n, id, 2, 1),
				resource.TestCheckResourceAttr(addr, "admin_pass", "Other-Pass-456"),
			),
		}},
	})
}

func TestAccNovaRescue_stableDeviceFromImage(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	img := n.CreateImage(t, "acc-disk-virtio", map[string]string{"hw_rescue_device": "disk", "hw_rescue_bus": "virtio"})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id), attr("image_id", img)),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				// device and bus are read from the image and shown in the plan.
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("device"), knownvalue.StringExact("disk")),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("bus"), knownvalue.StringExact("virtio")),
			}},
			Check: rescuedStable(n, id, "disk", "virtio"),
		}, {
			// Writing down what the image says changes nothing.
			Config:   novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio")),
			PlanOnly: true,
		}, {
			Config: novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio")),
			Check:  resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0)),
		}},
	})
}

func TestAccNovaRescue_stableDeviceMismatch(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	img := n.CreateImage(t, "acc-disk-virtio", map[string]string{"hw_rescue_device": "disk", "hw_rescue_bus": "virtio"})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// No rescue happened at all.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("device", "cdrom"), attr("bus", "scsi")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`hw_rescue_(device|bus)`),
		}, {
			// An image without the properties cannot give a stable device: say how to set them.
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", acctest.PlainImageID), attr("device", "disk")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)openstack\s+image\s+set.*hw_rescue_device`),
		}, {
			// The same through apply: the error comes before any change.
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", img), attr("device", "cdrom"), attr("bus", "scsi")),
			ExpectError: regexp.MustCompile(`hw_rescue_(device|bus)`),
		}},
	})
	if st, task := n.Status(t, id); st != "ACTIVE" || task != "" {
		t.Fatalf("server is %s/%s after a refused plan, want ACTIVE", st, task)
	}
}

func TestAccNovaRescue_volumeBacked(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			// 2.86 refuses volume-backed rescue: success proves 2.87 was negotiated.
			Config: novaConfig(n, attr("instance_id", id), attr("image_id", acctest.RescueImageID)),
			Check:  rescuedStable(n, id, "cdrom", "scsi"),
		}},
	})
}

func TestAccNovaRescue_volumeBackedImageWithoutProperties(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", acctest.PlainImageID)),
			ExpectError: words("Cannot rescue a volume-backed instance"),
		}},
	})
}

func TestAccNovaRescue_volumeBackedHostWithoutTrait(t *testing.T) {
	n := acctest.StartNovaT(t)
	// host1 (AZ nova) lacks COMPUTE_RESCUE_BFV.
	id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", acctest.RescueImageID)),
			ExpectError: words("Host unable to rescue a volume-backed instance"),
		}},
	})
}

func TestAccNovaRescue_volumeBackedOlderCloud(t *testing.T) {
	old := acctest.OldNovaT(t)
	id := old.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(old, id, "ACTIVE"), actionsAre(t, old, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(old, attr("instance_id", id), attr("image_id", acctest.RescueImageID)),
			ExpectError: regexp.MustCompile(`2\.87`),
		}},
	})
}

func TestAccNovaRescue_driverFailure(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaRescueFail: "1"}})
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(n, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)cannot\s+be\s+rescued.*Driver\s+Error`),
		}, {
			// The server really is in ERROR; the resource is kept (tainted) in state.
			// Nova allows a rescue from ERROR: repair it out of band, then Terraform's
			// destroy unrescues it.
			PreConfig: func() {
				if st, _ := n.Status(t, id); st != "ERROR" {
					t.Errorf("after the driver failure the server is %s, want ERROR", st)
				}
				// Nova refuses metadata updates in ERROR: reset the state first (admin).
				n.ResetState(t, id, "active")
				n.SetMetadata(t, id, map[string]string{acctest.MetaRescueFail: "0"})
				n.RescueOOB(t, id, "")
			},
			RefreshState:       true,
			ExpectNonEmptyPlan: true,
			Check:              resource.ComposeAggregateTestCheckFunc(tainted(addr), serverIs(n, id, "RESCUE")),
		}},
	})
}

// rescuedStable checks that server id is in rescue in stable-device mode on device and bus.
func rescuedStable(n *acctest.Nova, id, device, bus string) resource.TestCheckFunc {
	return resource.ComposeAggregateTestCheckFunc(
		serverIs(n, id, "RESCUE"),
		resource.TestCheckResourceAttr(addr, "device", device),
		resource.TestCheckResourceAttr(addr, "bus", bus),
		resource.TestCheckResourceAttr(addr, "mode", "stable"),
	)
}

func TestAccNovaRescue_driftUnrescuedOutOfBand(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 2, 2)),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			PreConfig: func() { n.UnrescueOOB(t, id) },
			Config:    cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 2, 1)),
		}},
	})
}

func TestAccNovaRescue_driftServerDeleted(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if n.ServerExists(t, id) {
				return fmt.Errorf("server %s exists again", id)
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id)),
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			// Refresh finds the server gone and drops the resource: nothing is left to destroy.
			PreConfig: func() { n.DeleteServer(t, id) },
			Config:    n.ProviderConfig(),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: notInState(addr),
		}},
	})
}

func TestAccNovaRescue_importThenEmptyPlan(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	n.RescueOOB(t, id, "")
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config:             cfg,
			ResourceName:       addr,
			ImportState:        true,
			ImportStateId:      id,
			ImportStatePersist: true,
			ImportStateCheck: func(is []*terraform.InstanceState) error {
				if len(is) != 1 || is[0].ID != id || is[0].Attributes["instance_id"] != id {
					return fmt.Errorf("imported %v, want one instance %s", is, id)
				}
				return n.CheckStatus(id, "RESCUE")
			},
		}, {
			Config:   cfg,
			PlanOnly: true,
		}, {
			Config: cfg,
			Check:  resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0)),
		}},
	})
}

func TestAccNovaRescue_importAdoptsImage(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	n.RescueOOB(t, id, acctest.RescueImageID)
	cfg := novaConfig(n, attr("instance_id", id), attr("image_id", acctest.RescueImageID))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: cfg, ResourceName: addr, ImportState: true, ImportStateId: id, ImportStatePersist: true,
		}, {
			// Nova cannot report the rescue image: the configured one is adopted, no new rescue.
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0),
				resource.TestCheckResourceAttr(addr, "image_id", acctest.RescueImageID)),
		}, {
			Config:   cfg,
			PlanOnly: true,
		}},
	})
}

func TestAccNovaRescue_importVerify(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			Config:            cfg,
			ResourceName:      addr,
			ImportState:       true,
			ImportStateVerify: true,
			// Nova never reveals a rescue password nor the rescue image, so an import cannot
			// tell the mode; timeouts live only in configuration.
			ImportStateVerifyIgnore: []string{"admin_pass", "timeouts", "mode"},
		}},
	})
}

func TestAccNovaRescue_destroyAlreadyUnrescued(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	cfg := novaConfig(n, attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// Only the out-of-band unrescue happened: the provider did not send another.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  serverIs(n, id, "RESCUE"),
		}, {
			PreConfig: func() { n.UnrescueOOB(t, id) },
			Config:    cfg,
			Destroy:   true,
		}},
	})
}

func TestAccNovaRescue_badInput(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	missing := "7d1a2c3e-0000-4000-8000-000000000001"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 0, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(n, attr("instance_id", id), attr("device", "usbstick")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)device.*(cdrom|disk|floppy)`),
		}, {
			Config:      novaConfig(n, attr("instance_id", id), attr("bus", "pci")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)bus.*(scsi|virtio)`),
		}, {
			Config:      novaConfig(n, attr("instance_id", "not-a-uuid")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?i)uuid`),
		}, {
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", "not-a-uuid")),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?i)uuid`),
		}, {
			Config:      novaConfig(n, attr("instance_id", missing)),
			ExpectError: regexp.MustCompile(`(?s)` + missing + `.*(not found|could not be found)|(not found|could not be found).*` + missing),
		}, {
			Config:      novaConfig(n, attr("instance_id", id), attr("image_id", missing)),
			ExpectError: regexp.MustCompile(missing),
		}, {
			Config:   novaConfig(n, attr("instance_id", id), attr("shutdown_timeout", "90s")),
			PlanOnly: true,
			// Nova's words ("from the request") reach the user as Terraform's.
			ExpectError: regexp.MustCompile(`(?s)shutdown_timeout.*remove\s+shutdown_timeout\s+from\s+this\s+resource`),
		}},
	})
}

func TestAccNovaRescue_alreadyInRescueNotInState(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	n.RescueOOB(t, id, "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// Terraform left the foreign rescue alone.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0)),
		Steps: []resource.TestStep{{
			Config:      novaConfig(n, attr("instance_id", id)),
			ExpectError: words("terraform import"),
		}},
	})
}

// Servers in states Nova does not rescue from (PAUSED, SUSPENDED, SHELVED_OFFLOADED) are refused
// at plan, naming the state and the fix; Nova records no action and the servers keep their
// state. (A PAUSED server used to pass plan and fail at apply with Nova's 409.)
func TestAccNovaRescue_pausedServerRefused(t *testing.T) {
	n := acctest.StartNovaT(t)
	paused := n.CreateServer(t, acctest.ServerOpts{Name: t.Name() + "-paused"})
	suspended := n.CreateServer(t, acctest.ServerOpts{Name: t.Name() + "-suspended"})
	shelved := n.CreateServer(t, acctest.ServerOpts{Name: t.Name() + "-shelved"})
	n.Pause(t, paused)
	n.Suspend(t, suspended)
	n.Shelve(t, shelved)
	unchanged := func() error {
		for id, status := range map[string]string{paused: "PAUSED", suspended: "SUSPENDED", shelved: "SHELVED_OFFLOADED"} {
			if err := n.CheckStatus(id, status); err != nil {
				return err
			}
			if err := actionsAre(t, n, id, 0, 0)(nil); err != nil {
				return err
			}
		}
		return nil
	}
	step := func(id, words0 string) resource.TestStep {
		return resource.TestStep{
			Config:      novaConfig(n, attr("instance_id", id)),
			PlanOnly:    true,
			ExpectError: words(words0),
			PreConfig: func() {
				if err := unchanged(); err != nil {
					t.Fatal(err)
				}
			},
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(unchanged),
		Steps: []resource.TestStep{
			step(paused, "instance "+paused+" is PAUSED, and Nova rescues only ACTIVE, SHUTOFF or ERROR servers: unpause it"),
			step(suspended, "instance "+suspended+" is SUSPENDED, and Nova rescues only ACTIVE, SHUTOFF or ERROR servers: resume it"),
			step(shelved, "instance "+shelved+" is SHELVED_OFFLOADED, and Nova rescues only ACTIVE, SHUTOFF or ERROR servers: unshelve it"),
		},
	})
}

func TestAccNovaRescue_stoppedServer(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	n.StopServer(t, id)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// Nova's unrescue always returns the server to ACTIVE.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config: novaConfig(n, attr("instance_id", id)),
			Check:  serverIs(n, id, "RESCUE"),
		}},
	})
}

func TestAccNovaRescue_createTimeoutKeepsTaintedRescue(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaRescueDelay: "6"}})
	cfg := novaConfig(n, attr("instance_id", id), `timeouts = { create = "2s" }`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		// The destroy after the timed-out create still unrescued the server.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1)),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?i)timed\s+out|timeout`),
		}, {
			PreConfig: func() {
				// Nova goes on with the rescue after Terraform gave up.
				if _, err := n.WaitStatusE(id, "RESCUE", time.Minute); err != nil {
					t.Error(err)
				}
			},
			RefreshState:       true,
			ExpectNonEmptyPlan: true,
			Check: resource.ComposeAggregateTestCheckFunc(
				tainted(addr),
				resource.TestCheckResourceAttrWith(addr, "admin_pass", minLen(8)),
				serverIs(n, id, "RESCUE"),
			),
		}},
	})
}

// keystoneServer creates a server in the demo project of the Keystone-backed Nova.
func keystoneServer(t *testing.T) (*acctest.KeystoneEnv, string) {
	k := acctest.Keystone(t)
	return k, k.Nova.CreateServer(t, acctest.ServerOpts{})
}

func TestAccNovaAuth_cloudsYAML(t *testing.T) {
	k, id := keystoneServer(t)
	t.Setenv("OS_CLIENT_CONFIG_FILE", k.CloudsYAML(t, t.TempDir(), "acc", ""))
	cfg := `
provider "rescue" {
  openstack {
    cloud = "acc"
  }
}
` + rescueHCL(attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(k.Nova, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  serverIs(k.Nova, id, "RESCUE"),
		}},
	})
}

func TestAccNovaAuth_environment(t *testing.T) {
	k, id := keystoneServer(t)
	for key, v := range map[string]string{
		"OS_AUTH_URL": k.AuthURL, "OS_USERNAME": acctest.KeystoneDemoUser, "OS_PASSWORD": acctest.KeystoneDemoPassword,
		"OS_PROJECT_NAME": acctest.KeystoneDemoProject, "OS_USER_DOMAIN_NAME": "Default",
		"OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": acctest.KeystoneRegion,
	} {
		t.Setenv(key, v)
	}
	// No backend block: OS_AUTH_URL selects OpenStack.
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(k.Nova, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config: rescueHCL(attr("instance_id", id)),
			Check:  serverIs(k.Nova, id, "RESCUE"),
		}},
	})
}

func TestAccNovaAuth_wrongPassword(t *testing.T) {
	k, id := keystoneServer(t)
	cfg := fmt.Sprintf(`
provider "rescue" {
  openstack {
    auth_url            = %q
    user_name           = %q
    password            = "not-the-password"
    tenant_name         = %q
    user_domain_name    = "Default"
    project_domain_name = "Default"
    region              = %q
  }
}
`, k.AuthURL, acctest.KeystoneDemoUser, acctest.KeystoneDemoProject, acctest.KeystoneRegion) +
		rescueHCL(attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             destroyedTo(k.Nova, id, "ACTIVE"),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?i)401|requires\s+authentication|unauthorized`),
		}},
	})
	if st, _ := k.Nova.Status(t, id); st != "ACTIVE" {
		t.Fatalf("server is %s after a failed authentication, want ACTIVE", st)
	}
}
