package provider_test

// Acceptance tests of rescue_instance on libvirt: the real Terraform CLI (terraform-plugin-testing)
// against the test binary's private libvirtd (internal/acctest/libvirtd): test:///default for the
// fast lifecycle tests, QEMU/TCG with boot-sector guests for the tests where a guest really
// boots from the rescue device and really answers (or ignores) ACPI. Every test asserts the real
// domain (its definition, journal, running disks, boot lines) through the harness, not only
// Terraform's state.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// --- test:///default ---------------------------------------------------------------------

// Apply rescues (the persistent definition is the rescue one, the journal is there), the plan
// afterwards is empty, an import of the rescued domain verifies against the state, and destroy
// restores the original definition byte for byte: in legacy mode with an image, in legacy mode
// with the root disk's backing image, and in stable-device mode.
func TestAccLibvirtTD_flow(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-flow-rescue.iso", "raw", "")
	for _, c := range []struct {
		name        string
		backed      bool
		image       string
		device, bus string
		mode        string
	}{
		{"acc-td-legacy", false, img, "", "", "legacy"},
		{"acc-td-legacy-backing", true, "", "", "", "legacy"},
		{"acc-td-stable", false, img, "cdrom", "scsi", "stable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tdDomain(t, s, c.name, "pc", c.backed)
			orig := s.mustXML(t, c.name)
			attrs := []string{attr("instance_id", c.name), attr("shutdown_timeout", "10s")}
			if c.image != "" {
				attrs = append(attrs, attr("image_id", c.image))
			}
			if c.device != "" {
				attrs = append(attrs, attr("device", c.device), attr("bus", c.bus))
			}
			wantImage := c.image
			if wantImage == "" {
				wantImage = "/default-pool/" + c.name + "-base.img"
			}
			cfg := s.config(attrs...)
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProviderFactories,
				CheckDestroy:             check(func() error { return checkRestored(s, c.name, orig) }),
				Steps: []resource.TestStep{{
					Config: cfg,
					ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("mode"), knownvalue.StringExact(c.mode)),
					}},
					Check: resource.ComposeAggregateTestCheckFunc(
						check(func() error {
							return checkRescued(s, c.name, orig, rescueExpect{device: c.device, bus: c.bus, rootTarget: "vda"})
						}),
						resource.TestCheckResourceAttr(addr, "id", c.name),
						resource.TestCheckResourceAttr(addr, "mode", c.mode),
						resource.TestCheckNoResourceAttr(addr, "admin_pass"),
					),
					ConfigStateChecks: []statecheck.StateCheck{
						statecheck.ExpectKnownValue(addr, tfjsonpath.New("device"), strOrNullValue(c.device)),
						statecheck.ExpectKnownValue(addr, tfjsonpath.New("bus"), strOrNullValue(c.bus)),
					},
				}, {
					// Nothing to do while the domain stays in rescue.
					Config: cfg,
					ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
						plancheck.ExpectEmptyPlan(),
					}},
				}, {
					// The journal tells an import everything the state holds.
					Config:                  cfg,
					ResourceName:            addr,
					ImportState:             true,
					ImportStateVerify:       true,
					ImportStateVerifyIgnore: []string{"timeouts", "shutdown_timeout", "image_id"},
					ImportStateCheck: func(is []*terraform.InstanceState) error {
						if len(is) != 1 || is[0].Attributes["image_id"] != wantImage {
							return fmt.Errorf("imported %v, want image_id %s", is, wantImage)
						}
						return nil
					},
				}},
			})
		})
	}
}

func strOrNullValue(s string) knownvalue.Check {
	if s == "" {
		return knownvalue.Null()
	}
	return knownvalue.StringExact(s)
}

// A rescue that Terraform does not know (another tool, or a provider run that died before it
// saved its state; the journal is on the host): the plan refuses to rescue it again and says
// how to import it; the import and a plan with the matching configuration show no changes;
// destroy restores the original definition byte for byte.
func TestAccLibvirtTD_importRescueNotInState(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-import-rescue.iso", "raw", "")
	const name = "acc-td-import"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	s.rescueOOB(t, rescue.Request{InstanceID: name, ImageID: img, Device: "disk", Bus: "sata"})
	rescued := s.mustXML(t, name)
	cfg := s.config(attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "sata"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkRestored(s, name, orig) }),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)already\s+in\s+rescue.*terraform\s+import\s+[^\n]*` + name),
		}, {
			// The refused apply changed nothing.
			PreConfig: func() {
				if x := s.mustXML(t, name); x != rescued {
					t.Errorf("the refused apply changed the definition:\n%s", x)
				}
			},
			Config:             cfg,
			ResourceName:       addr,
			ImportState:        true,
			ImportStateId:      name,
			ImportStatePersist: true,
			ImportStateCheck: func(is []*terraform.InstanceState) error {
				if len(is) != 1 || is[0].ID != name {
					return fmt.Errorf("imported %v, want one instance %s", is, name)
				}
				a := is[0].Attributes
				if a["image_id"] != img || a["device"] != "disk" || a["bus"] != "sata" || a["mode"] != "stable" {
					return fmt.Errorf("imported attributes %v", a)
				}
				return checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "sata"})
			},
		}, {
			// The configuration matches the imported rescue: nothing to do.
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: check(func() error {
				x, err := s.xml(name, lvSecure)
				if err != nil {
					return err
				}
				if x != rescued {
					return fmt.Errorf("the definition changed after import:\n%s", x)
				}
				return nil
			}),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("mode"), knownvalue.StringExact("stable")),
			},
		}},
	})
}

// Every change is a replacement: a new device/bus unrescues (the original definition comes
// back) and rescues again with the new pair.
func TestAccLibvirtTD_replace(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-replace-rescue.iso", "raw", "")
	const name = "acc-td-replace"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkRestored(s, name, orig) }),
		Steps: []resource.TestStep{{
			Config: s.config(attr("instance_id", name), attr("image_id", img), attr("device", "cdrom"), attr("bus", "scsi")),
			Check:  check(func() error { return checkRescued(s, name, orig, rescueExpect{device: "cdrom", bus: "scsi"}) }),
		}, {
			Config: s.config(attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio")),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
			Check: check(func() error { return checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}) }),
		}},
	})
}

// Importing a domain that is not in rescue is refused with what to do instead.
func TestAccLibvirtTD_importNotInRescue(t *testing.T) {
	_, s := lvTD(t)
	const name = "acc-td-import-plain"
	tdDomain(t, s, name, "pc", true)
	orig := s.mustXML(t, name)
	id := domID(t, s, name)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkUntouched(s, name, orig, id) }),
		Steps: []resource.TestStep{{
			Config:        s.config(attr("instance_id", name)),
			ResourceName:  addr,
			ImportState:   true,
			ImportStateId: name,
			ExpectError:   words("Only an instance in rescue can be imported"),
		}},
	})
}

// Unrescued by hand (another Backend, as another process or a colleague would): the refresh
// drops the resource and the plan proposes to rescue again; applying rescues again.
func TestAccLibvirtTD_driftUnrescuedOutOfBand(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-drift-rescue.iso", "raw", "")
	const name = "acc-td-drift"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	cfg := s.config(attr("instance_id", name), attr("image_id", img))
	rescued := check(func() error { return checkRescued(s, name, orig, rescueExpect{rootTarget: "vda"}) })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkRestored(s, name, orig) }),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  rescued,
		}, {
			PreConfig: func() {
				s.unrescueOOB(t, name)
				if err := checkRestored(s, name, orig); err != nil {
					t.Fatalf("out-of-band unrescue: %v", err)
				}
			},
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
			}},
			Check: rescued,
		}},
	})
}

// The domain undefined out of band: the refresh removes the resource from state and there is
// nothing left to destroy.
func TestAccLibvirtTD_driftDomainUndefined(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-gone-rescue.iso", "raw", "")
	const name = "acc-td-gone"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: check(func() error {
			if _, err := s.conn().DomainLookupByName(name); err == nil {
				return fmt.Errorf("domain %s exists again", name)
			}
			return nil
		}),
		Steps: []resource.TestStep{{
			Config: s.config(attr("instance_id", name), attr("image_id", img)),
			Check:  check(func() error { return checkRescued(s, name, orig, rescueExpect{rootTarget: "vda"}) }),
		}, {
			PreConfig: func() {
				l := s.conn()
				d, err := l.DomainLookupByName(name)
				if err != nil {
					t.Fatal(err)
				}
				_ = l.DomainDestroy(d)
				if err := l.DomainUndefineFlags(d, 0); err != nil {
					t.Fatalf("undefine %s: %v", name, err)
				}
			},
			Config: acctest.LibvirtProviderConfig(s.uri),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: notInState(addr),
		}, {
			// With the resource still configured, the plan says the domain does not exist.
			Config:      s.config(attr("instance_id", name), attr("image_id", img)),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)instance_id.*` + regexp.QuoteMeta(name)),
		}},
	})
}

// Destroy of a domain that was already unrescued out of band succeeds (with a warning) and
// changes nothing.
func TestAccLibvirtTD_destroyAlreadyUnrescued(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-unresc-rescue.iso", "raw", "")
	const name = "acc-td-unrescued"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	var id int32
	cfg := s.config(attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(func() error { return checkUntouched(s, name, orig, id) }),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  check(func() error { return checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}) }),
		}, {
			PreConfig: func() {
				s.unrescueOOB(t, name)
				id = domID(t, s, name)
			},
			Config:  cfg,
			Destroy: true,
		}},
	})
}

// Bad input is refused at plan time with a message that names the attribute and the fix, and
// nothing happens to the domain (same definition, no journal, no volume, not restarted).
func TestAccLibvirtTD_badInput(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-bad-rescue.iso", "raw", "")
	const name, q35 = "acc-td-bad", "acc-td-bad-q35"
	tdDomain(t, s, name, "pc", false) // root disk without backing image
	tdDomain(t, s, q35, "q35", false)
	orig, origQ35 := s.mustXML(t, name), s.mustXML(t, q35)
	id, idQ35 := domID(t, s, name), domID(t, s, q35)
	untouched := func() error {
		if err := checkUntouched(s, name, orig, id); err != nil {
			return err
		}
		return checkUntouched(s, q35, origQ35, idQ35)
	}
	step := func(re *regexp.Regexp, attrs ...string) resource.TestStep {
		return resource.TestStep{
			// The step before changed nothing.
			PreConfig: func() {
				if err := untouched(); err != nil {
					t.Fatal(err)
				}
			},
			Config:      s.config(attrs...),
			ExpectError: re,
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(untouched),
		Steps: []resource.TestStep{
			step(regexp.MustCompile(`(?s)with\s+rescue_instance\.t,.*instance_id.*no-such-domain`),
				attr("instance_id", "no-such-domain"), attr("image_id", img)),
			step(regexp.MustCompile(`(?s)image_id.*/default-pool/acc-missing\.iso`),
				attr("instance_id", name), attr("image_id", "/default-pool/acc-missing.iso")),
			// No image_id and a root disk without a backing image.
			step(regexp.MustCompile(`(?s)root\s+disk.*has\s+no\s+backing\s+image;\s+set\s+image_id`),
				attr("instance_id", name)),
			// Pairs that cannot work: the schema and the host's rules.
			step(regexp.MustCompile(`(?s)bus.*floppy.*fdc`),
				attr("instance_id", name), attr("image_id", img), attr("device", "floppy"), attr("bus", "scsi")),
			step(regexp.MustCompile(`(?s)bus.*cdrom.*virtio.*(scsi|sata)`),
				attr("instance_id", name), attr("image_id", img), attr("device", "cdrom"), attr("bus", "virtio")),
			step(regexp.MustCompile(`(?s)bus.*usb.*cdrom`),
				attr("instance_id", name), attr("image_id", img), attr("device", "cdrom"), attr("bus", "usb")),
			step(regexp.MustCompile(`(?s)bus.*"ide".*q35.*no\s+IDE`),
				attr("instance_id", q35), attr("image_id", img), attr("device", "disk"), attr("bus", "ide")),
			step(regexp.MustCompile(`(?s)device.*must\s+be\s+one\s+of`),
				attr("instance_id", name), attr("image_id", img), attr("device", "tape")),
			// shutdown_timeout is a positive duration with a unit.
			step(regexp.MustCompile(`(?s)shutdown_timeout.*"90".*is\s+not\s+a\s+positive\s+duration.*"90s"`),
				attr("instance_id", name), attr("image_id", img), attr("shutdown_timeout", "90")),
			step(regexp.MustCompile(`(?s)shutdown_timeout.*"-5s".*is\s+not\s+a\s+positive\s+duration`),
				attr("instance_id", name), attr("image_id", img), attr("shutdown_timeout", "-5s")),
			step(regexp.MustCompile(`(?s)shutdown_timeout.*"0s".*is\s+not\s+a\s+positive\s+duration`),
				attr("instance_id", name), attr("image_id", img), attr("shutdown_timeout", "0s")),
		},
	})
}

// --- QEMU/TCG ----------------------------------------------------------------------------

// qemuCase is one rescue_instance of a boot matrix, on a guest of its own.
type qemuCase struct {
	res, guest  string
	device, bus string
	// backing: the guest's root disk is an overlay of the base image and image_id is omitted
	// (legacy mode with the backing image, which boots BootBase).
	backing   bool
	adminPass string
	// boot is what the rescue guest prints.
	boot string
	orig string
}

func (c *qemuCase) hcl(lv *libvirtd.Env) string {
	a := []string{attr("instance_id", c.guest), attr("shutdown_timeout", "20s")}
	if !c.backing {
		img, _ := lv.Images().RescueFor(c.device)
		a = append(a, attr("image_id", img))
	}
	if c.device != "" {
		a = append(a, attr("device", c.device), attr("bus", c.bus))
	}
	if c.adminPass != "" {
		a = append(a, attr("admin_pass", c.adminPass))
	}
	return "\nresource \"rescue_instance\" \"" + c.res + "\" {\n  " + strings.Join(a, "\n  ") + "\n}\n"
}

// testBootMatrix rescues one guest per device/bus pair QEMU boots on a machine type, all in
// one apply (Terraform rescues them concurrently): each guest boots the rescue device with its
// own root disk attached and its definition is the rescue one; destroy boots every guest from
// its own disk again with its definition restored byte for byte. With extra, also legacy mode
// with an image (the rescue disk boots first, the root disk follows) and admin_pass (a
// config-2 drive with the password in the rescue definition, gone after destroy; the other
// guests, without a password, get none).
func testBootMatrix(t *testing.T, machine string, extra bool, pairs [][2]string) {
	lv, s := lvQEMU(t)
	var cases []*qemuCase
	for _, p := range pairs {
		_, boot := lv.Images().RescueFor(p[0])
		cases = append(cases, &qemuCase{res: p[0] + "_" + p[1], guest: "acc-" + machine + "-" + p[0] + "-" + p[1], device: p[0], bus: p[1], boot: boot})
	}
	if extra {
		cases = append(cases,
			&qemuCase{res: "legacy_image", guest: "acc-" + machine + "-legacy", boot: libvirtd.BootRescueDisk},
			&qemuCase{res: "cdrom_sata_pass", guest: "acc-" + machine + "-pass", device: "cdrom", bus: "sata",
				adminPass: "Rescue-Pass-" + machine, boot: libvirtd.BootRescueISO},
		)
	}
	watches := map[string]*bootWatch{}
	cfg := acctest.LibvirtProviderConfig(s.uri)
	start := time.Now()
	for _, c := range cases {
		watches[c.guest] = qemuGuestT(t, lv, c.guest, libvirtd.GuestOptions{Machine: machine, Backing: c.backing, MemoryMiB: 32})
		c.orig = s.mustXML(t, c.guest)
		cfg += c.hcl(lv)
	}
	t.Logf("%d guests defined and booted in %v", len(cases), time.Since(start).Round(time.Millisecond))
	var checks []resource.TestCheckFunc
	var stateChecks []statecheck.StateCheck
	for _, c := range cases {
		c := c
		want := rescueExpect{device: c.device, bus: c.bus, rootTarget: "vda", adminPass: c.adminPass}
		checks = append(checks, check(func() error {
			if err := watches[c.guest].next(c.boot); err != nil {
				return err
			}
			if err := liveHasFile(s, c.guest, lv.RootDisk(c.guest)); err != nil {
				return fmt.Errorf("the original root disk is not attached: %w", err)
			}
			return checkRescued(s, c.guest, c.orig, want)
		}))
		mode := "stable"
		if c.device == "" {
			mode = "legacy"
		}
		a := "rescue_instance." + c.res
		checks = append(checks, resource.TestCheckResourceAttr(a, "mode", mode))
		stateChecks = append(stateChecks,
			statecheck.ExpectKnownValue(a, tfjsonpath.New("device"), strOrNullValue(c.device)),
			statecheck.ExpectKnownValue(a, tfjsonpath.New("bus"), strOrNullValue(c.bus)))
		if c.adminPass != "" {
			stateChecks = append(stateChecks, statecheck.ExpectSensitiveValue(a, tfjsonpath.New("admin_pass")))
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			for _, c := range cases {
				if err := watches[c.guest].next(libvirtd.BootRoot); err != nil {
					return err
				}
				if err := checkRestored(s, c.guest, c.orig); err != nil {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{{
			PreConfig: func() {
				for _, w := range watches {
					w.mark()
				}
			},
			Config:            cfg,
			Check:             resource.ComposeAggregateTestCheckFunc(checks...),
			ConfigStateChecks: stateChecks,
		}},
	})
}

func TestAccLibvirtQEMU_bootMatrixPC(t *testing.T) {
	testBootMatrix(t, "pc", true, [][2]string{
		{"cdrom", "scsi"}, {"cdrom", "sata"}, {"cdrom", "ide"},
		{"disk", "scsi"}, {"disk", "virtio"}, {"disk", "usb"}, {"disk", "sata"}, {"disk", "ide"},
		{"floppy", "fdc"},
	})
}

func TestAccLibvirtQEMU_bootMatrixQ35(t *testing.T) {
	testBootMatrix(t, "q35", true, [][2]string{
		{"cdrom", "scsi"}, {"cdrom", "sata"},
		{"disk", "scsi"}, {"disk", "virtio"}, {"disk", "usb"}, {"disk", "sata"},
		{"floppy", "fdc"},
	})
}

// Legacy mode without image_id: the rescue image is the backing image of the guest's root
// disk (an overlay of the base image), so the rescue guest boots BASE IMAGE with its root disk
// attached after it; destroy boots the root disk again. The plan after the apply must be empty
// (the state must not change when the resource is only refreshed).
func TestAccLibvirtQEMU_legacyBackingImage(t *testing.T) {
	lv, s := lvQEMU(t)
	const name = "acc-legacy-backing"
	w := qemuGuestT(t, lv, name, libvirtd.GuestOptions{Backing: true, MemoryMiB: 32})
	orig := s.mustXML(t, name)
	cfg := s.config(attr("instance_id", name), attr("shutdown_timeout", "20s"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: check(func() error {
			if err := w.next(libvirtd.BootRoot); err != nil {
				return err
			}
			return checkRestored(s, name, orig)
		}),
		Steps: []resource.TestStep{{
			PreConfig: w.mark,
			Config:    cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("mode"), knownvalue.StringExact("legacy")),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				check(func() error { return w.next(libvirtd.BootBase) }),
				check(func() error { return liveHasFile(s, name, lv.RootDisk(name)) }),
				check(func() error { return checkRescued(s, name, orig, rescueExpect{rootTarget: "vda"}) }),
				resource.TestCheckNoResourceAttr(addr, "device"),
			),
		}},
	})
}

// Every pair QEMU cannot boot is refused at plan time with its reason, before any change: the
// guest keeps running (not restarted), its definition is unchanged, nothing is journalled.
func TestAccLibvirtQEMU_refusedPairs(t *testing.T) {
	lv, s := lvQEMU(t)
	const pc, q35 = "acc-refuse-pc", "acc-refuse-q35"
	qemuGuestT(t, lv, pc, libvirtd.GuestOptions{Machine: "pc", MemoryMiB: 32})
	qemuGuestT(t, lv, q35, libvirtd.GuestOptions{Machine: "q35", MemoryMiB: 32})
	origPC, origQ35 := s.mustXML(t, pc), s.mustXML(t, q35)
	idPC, idQ35 := domID(t, s, pc), domID(t, s, q35)
	untouched := func() error {
		if err := checkUntouched(s, pc, origPC, idPC); err != nil {
			return err
		}
		return checkUntouched(s, q35, origQ35, idQ35)
	}
	var steps []resource.TestStep
	for _, c := range []struct {
		guest, device, bus, why string
	}{
		{pc, "cdrom", "virtio", `cdrom.*virtio`},
		{pc, "cdrom", "fdc", `fdc.*floppy`},
		{pc, "disk", "fdc", `fdc.*floppy`},
		{pc, "floppy", "scsi", `floppy.*fdc`},
		{pc, "floppy", "virtio", `floppy.*fdc`},
		{pc, "floppy", "sata", `floppy.*fdc`},
		{pc, "cdrom", "usb", `"cdrom"\s+on\s+bus\s+"usb".*El\s+Torito`},
		{q35, "cdrom", "ide", `"cdrom"\s+on\s+bus\s+"ide"\s+is\s+not\s+possible.*(q35|no\s+ide\s+bus).*supports:.*cdrom\s+on\s+scsi,\s+sata`},
		{q35, "disk", "ide", `"disk"\s+on\s+bus\s+"ide"\s+is\s+not\s+possible.*(q35|no\s+ide\s+bus).*supports:.*disk\s+on\s+virtio`},
	} {
		img, _ := lv.Images().RescueFor(c.device)
		steps = append(steps, resource.TestStep{
			PreConfig: func() {
				if err := untouched(); err != nil {
					t.Fatal(err)
				}
			},
			Config: s.config(attr("instance_id", c.guest), attr("image_id", img),
				attr("device", c.device), attr("bus", c.bus), attr("shutdown_timeout", "3s")),
			// The message names the pair and the reason (or the fix).
			ExpectError: regexp.MustCompile(`(?s)` + c.why),
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             check(untouched),
		Steps:                    steps,
	})
}

// A guest that answers ACPI is shut down cleanly (stopped event "shutdown"); one that ignores
// it is forced off after shutdown_timeout (stopped event "destroyed"); both then boot the
// rescue image. The rescue survives a libvirtd restart (the journal is on the host), and
// destroy after the restart boots both guests from their own disks with the original
// definitions.
func TestAccLibvirtQEMU_shutdownAndRestart(t *testing.T) {
	lv, s := lvQEMU(t)
	const answers, ignores = "acc-acpi-answers", "acc-acpi-ignores"
	wa := qemuGuestT(t, lv, answers, libvirtd.GuestOptions{MemoryMiB: 32})
	wi := qemuGuestT(t, lv, ignores, libvirtd.GuestOptions{IgnoreACPI: true, MemoryMiB: 32})
	origA, origI := s.mustXML(t, answers), s.mustXML(t, ignores)
	ev := watchStops(t, lv)
	img := lv.Images().RescueDisk
	cfg := acctest.LibvirtProviderConfig(s.uri) +
		strings.ReplaceAll(rescueHCL(attr("instance_id", answers), attr("image_id", img), attr("shutdown_timeout", "3s")), `"t"`, `"answers"`) +
		strings.ReplaceAll(rescueHCL(attr("instance_id", ignores), attr("image_id", img), attr("shutdown_timeout", "3s")), `"t"`, `"ignores"`)
	stoppedBy := func(name string, want golibvirt.DomainEventStoppedDetailType) resource.TestCheckFunc {
		return check(func() error {
			got, err := ev.first(name)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("domain %s stopped with detail %d, want %d (0 shutdown, 1 destroyed)", name, got, want)
			}
			return nil
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: check(func() error {
			for _, g := range []struct {
				w    *bootWatch
				orig string
			}{{wa, origA}, {wi, origI}} {
				if err := g.w.next(libvirtd.BootRoot); err != nil {
					return err
				}
				if err := checkRestored(s, g.w.name, g.orig); err != nil {
					return err
				}
			}
			return nil
		}),
		Steps: []resource.TestStep{{
			PreConfig: func() { wa.mark(); wi.mark() },
			Config:    cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				stoppedBy(answers, golibvirt.DomainEventStoppedShutdown),
				stoppedBy(ignores, golibvirt.DomainEventStoppedDestroyed),
				check(func() error { return wa.next(libvirtd.BootRescueDisk) }),
				check(func() error { return wi.next(libvirtd.BootRescueDisk) }),
				check(func() error { return checkRescued(s, answers, origA, rescueExpect{rootTarget: "vda"}) }),
				check(func() error { return checkRescued(s, ignores, origI, rescueExpect{rootTarget: "vda"}) }),
			),
		}, {
			// libvirtd restarts (the guests keep running): the rescue is still seen.
			PreConfig: func() { lv.Restart(t); wa.mark(); wi.mark() },
			Config:    cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				check(func() error { return checkRescued(s, answers, origA, rescueExpect{rootTarget: "vda"}) }),
				check(func() error { return checkRescued(s, ignores, origI, rescueExpect{rootTarget: "vda"}) }),
			),
		}},
	})
}

// The provider's process dies halfway through a rescue: the rescue's connection is lost while
// the guest (which ignores ACPI) is being taken down, either as soon as the journal is on the
// host or once the rescue definition is defined (the guest still runs its original
// definition). Nothing is in Terraform's state; the domain is "rescue-incomplete". The next
// apply rolls the interrupted rescue back and rescues (the guest boots the rescue disk), and
// destroy restores the original definition byte for byte.
func TestAccLibvirtQEMU_interruptedRescueThenApply(t *testing.T) {
	lv, s := lvQEMU(t)
	img := lv.Images().RescueDisk
	for _, c := range []struct {
		name string
		// reached says the rescue got far enough to be interrupted.
		reached func(name string) (bool, error)
	}{
		{"acc-interrupted-journal", func(name string) (bool, error) { return s.journal(name) }},
		{"acc-interrupted-define", func(name string) (bool, error) {
			x, err := s.xml(name, lvSecure)
			if err != nil {
				return false, err
			}
			disks, err := disksOf(x)
			if err != nil {
				return false, err
			}
			_, ok := rescueDisk(disks, name)
			return ok, nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := c.name
			w := qemuGuestT(t, lv, name, libvirtd.GuestOptions{IgnoreACPI: true, MemoryMiB: 32})
			orig := s.mustXML(t, name)
			interruptRescue(t, s, rescue.Request{InstanceID: name, ImageID: img, Device: "disk", Bus: "virtio",
				ShutdownTimeout: 10 * time.Minute}, c.reached)
			if ok, err := s.journal(name); err != nil || !ok {
				t.Fatalf("no journal after the interrupted rescue (%v)", err)
			}
			if inst, err := s.get(name); err != nil || inst.State != rescue.StateError || inst.Status != rlibvirt.StatusIncomplete {
				t.Fatalf("after the interrupted rescue: %+v %v, want %s", inst, err, rlibvirt.StatusIncomplete)
			}
			cfg := s.config(attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio"),
				attr("shutdown_timeout", "3s"))
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProviderFactories,
				CheckDestroy: check(func() error {
					if err := w.next(libvirtd.BootRoot); err != nil {
						return err
					}
					return checkRestored(s, name, orig)
				}),
				Steps: []resource.TestStep{{
					PreConfig: w.mark,
					Config:    cfg,
					ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
					}},
					Check: resource.ComposeAggregateTestCheckFunc(
						check(func() error { return w.next(libvirtd.BootRescueDisk) }),
						check(func() error { return liveHasFile(s, name, lv.RootDisk(name)) }),
						check(func() error { return checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}) }),
					),
				}},
			})
		})
	}
}

// interruptRescue starts a rescue through a Backend of its own and drops that Backend's
// connection (as a dying process would) once reached says so.
func interruptRescue(t *testing.T, s *lvSide, req rescue.Request, reached func(string) (bool, error)) {
	t.Helper()
	ctx := context.Background()
	b, err := rlibvirt.New(ctx, rlibvirt.Config{URI: s.uri})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Rescue(ctx, req)
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := reached(req.InstanceID)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rescue did not get far enough within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = b.Close()
	select {
	case err := <-done:
		t.Logf("interrupted rescue returned: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the interrupted rescue did not return")
	}
}
