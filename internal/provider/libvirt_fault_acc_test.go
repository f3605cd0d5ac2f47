package provider_test

// Real network faults between the provider and libvirtd through the real Terraform CLI: a TCP
// proxy (internal/acctest/faultproxy) in front of the private libvirtd's socket, reached as
// test+tcp://, that black-holes the traffic at a precise point of a rescue or an unrescue, or
// from the start. The resource's timeouts hold (within a grace for the rollback and the CLI),
// what the run could not finish stays in state, and the next run converges.

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
)

// faultGrace is what a run may take beyond its timeout: the rollback's own bound (10 s), the
// watchdog's (2 s), and Terraform's plan and start-up on a loaded machine.
const faultGrace = 25 * time.Second

// lvProxied is the test:///default side of lvTD reached through a fault proxy (test+tcp://).
func lvProxied(t *testing.T) (*libvirtd.Env, *lvSide, *faultproxy.TCP) {
	t.Helper()
	lv, s := lvTD(t)
	p, err := faultproxy.NewTCP("unix", lv.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	ps := *s
	ps.uri = "test+tcp://" + p.Addr() + "/default"
	return lv, &ps, p
}

// elapsedWithin fails the test when more than limit passed since start.
func elapsedWithin(t *testing.T, what string, start time.Time, limit time.Duration) {
	t.Helper()
	d := time.Since(start)
	t.Logf("%s took %v", what, d.Round(100*time.Millisecond))
	if d > limit {
		t.Errorf("%s took %v, want at most %v", what, d, limit)
	}
}

// fired fails the test when the proxy's trigger did not fire.
func fired(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Error("the proxy never black-holed: the fault hit nothing")
	}
}

// blackholed is a test-driver domain reached through a fault proxy, and the configuration of
// its rescue, for the black-hole tests.
type blackholed struct {
	s            *lvSide
	p            *faultproxy.TCP
	name, orig   string
	cfg          string
	trigger      <-chan struct{}
	start        time.Time
	checkDestroy resource.TestCheckFunc
	rescued      resource.TestCheckFunc
}

// newBlackholed defines domain name with an image, behind a proxy; timeouts is the resource's
// timeouts line.
func newBlackholed(t *testing.T, name, timeouts string) *blackholed {
	t.Helper()
	_, s, p := lvProxied(t)
	img := tdVolume(t, s, name+"-image.iso", "raw", "")
	tdDomain(t, s, name, "pc", false)
	b := &blackholed{s: s, p: p, name: name, orig: s.mustXML(t, name)}
	b.cfg = s.config(attr("instance_id", name), attr("image_id", img), timeouts)
	b.checkDestroy = check(func() error { return checkRestored(s, name, b.orig) })
	b.rescued = check(func() error { return checkRescued(s, name, b.orig, rescueExpect{rootTarget: "vda"}) })
	return b
}

// holeOn black-holes the connection once needle passes through it, and starts the clock.
func (b *blackholed) holeOn(needle string) {
	b.trigger = b.p.BlackholeOn([]byte(needle))
	b.start = time.Now()
}

// passAgain checks that the black-holed operation (what) ended within limit plus a grace and
// that the hole was hit, then lets the traffic pass again.
func (b *blackholed) passAgain(t *testing.T, what string, limit time.Duration) {
	t.Helper()
	elapsedWithin(t, what, b.start, limit+faultGrace)
	fired(t, b.trigger)
	b.p.Pass()
}

// An apply whose connection is black-holed in the middle of the rescue (right after the
// overlay volume was sent to libvirtd) fails within create = "20s" plus a grace, and keeps the
// resource in state (tainted: the next plan replaces it). Once the network passes again, the
// next apply converges (the interrupted rescue is undone, a new one made) and destroy restores
// the original definition byte for byte with no rescue volume left.
func TestAccLibvirtFault_rescueBlackholed(t *testing.T) {
	const name = "acc-fault-rescue"
	b := newBlackholed(t, name, `timeouts = { create = "20s" }`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             b.checkDestroy,
		Steps: []resource.TestStep{{
			PreConfig:   func() { b.holeOn("<name>" + name + ".rescue-") },
			Config:      b.cfg,
			ExpectError: regexp.MustCompile(`Instance may be in rescue`),
		}, {
			PreConfig: func() { b.passAgain(t, "the black-holed apply", 20*time.Second) },
			Config:    b.cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
			}},
			Check: b.rescued,
		}},
	})
}

// A destroy whose connection is black-holed in the middle of the unrescue (right after the
// original definition was sent back) fails within delete = "20s" plus a grace and keeps the
// resource in state; once the network passes again, the next destroy converges to the
// original definition byte for byte.
func TestAccLibvirtFault_unrescueBlackholed(t *testing.T) {
	b := newBlackholed(t, "acc-fault-unrescue", `timeouts = { delete = "20s" }`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy:             b.checkDestroy,
		Steps: []resource.TestStep{{
			Config: b.cfg,
			Check:  b.rescued,
		}, {
			PreConfig:   func() { b.holeOn("state='restoring'") },
			Config:      b.cfg,
			Destroy:     true,
			ExpectError: regexp.MustCompile(`context deadline exceeded`),
		}, {
			PreConfig: func() { b.passAgain(t, "the black-holed destroy", 20*time.Second) },
			Config:    b.cfg,
			Destroy:   true,
		}},
	})
}

// A plan through a proxy that black-holes from the start gives up within the resource's read
// timeout (read = "10s"), connecting included, not after a fixed 2 minutes.
func TestAccLibvirtFault_planBlackholed(t *testing.T) {
	_, s, p := lvProxied(t)
	p.Blackhole()
	cfg := s.config(attr("instance_id", "acc-fault-plan"), attr("image_id", "/default-pool/none.iso"), `timeouts = { read = "10s" }`)
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      cfg,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`context deadline exceeded`),
		}},
	})
	elapsedWithin(t, "the black-holed plan", start, 10*time.Second+faultGrace)
}
