package provider_test

// Fault tests of rescue_instance on Nova: the real Terraform CLI against Nova's own code, with
// a fault-injecting reverse proxy (internal/acctest/faultproxy) between the provider and the
// compute API. Each asserts with the proxy's counters (what reached Nova) and Nova's real
// server state.

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
)

// rescuesHCL is one rescue_instance "s<i>" per server id, with the given attribute lines.
func rescuesHCL(ids []string, attrs ...string) string {
	var b strings.Builder
	for i, id := range ids {
		fmt.Fprintf(&b, "\nresource \"rescue_instance\" \"s%d\" {\n  %s\n}\n", i,
			strings.Join(append([]string{attr("instance_id", id)}, attrs...), "\n  "))
	}
	return b.String()
}

// proxyPOSTs checks that the proxy forwarded exactly want POSTs of action to each server.
func proxyPOSTs(p *faultproxy.HTTP, action string, want int, ids ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, id := range ids {
			n := 0
			for _, r := range p.Records() {
				m := acctest.ServerAction(action, id)
				if r.Forwarded() && r.Method == http.MethodPost && m.Path.MatchString(r.Path) && m.Body.MatchString(r.Body) {
					n++
				}
			}
			if n != want {
				return fmt.Errorf("server %s: the proxy forwarded %d %s POST(s), want %d", id, n, action, want)
			}
		}
		return nil
	}
}

// passwordIsNovas checks that the admin_pass in state is the one the rescue POST gave Nova.
func passwordIsNovas(p *faultproxy.HTTP, name, id string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[name]
		if !ok {
			return fmt.Errorf("%s is not in state", name)
		}
		sent := acctest.RescuePasswords(p, id)
		if len(sent) != 1 || sent[0] == "" || rs.Primary.Attributes["admin_pass"] != sent[0] {
			return fmt.Errorf("%s: admin_pass in state is not the one password Nova got (%d rescue POSTs)", name, len(sent))
		}
		return nil
	}
}

func notTainted(name string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[name]
		if !ok {
			return fmt.Errorf("%s is not in state", name)
		}
		if rs.Primary.Tainted {
			return fmt.Errorf("%s is tainted", name)
		}
		return nil
	}
}

// faults counts the requests the proxy answered with status instead of forwarding them.
func faults(p *faultproxy.HTTP, status int) int {
	n := 0
	for _, r := range p.Records() {
		if r.Fault == fmt.Sprintf("status %d", status) {
			n++
		}
	}
	return n
}

// afterRescuePOSTs calls f once, right after the proxy forwarded the n-th rescue POST.
func afterRescuePOSTs(p *faultproxy.HTTP, n int, f func()) {
	var once sync.Once
	m := acctest.ServerAction("rescue", "")
	p.OnForwarded(func(r faultproxy.HTTPRecord) {
		if r.Method == http.MethodPost && m.Path.MatchString(r.Path) && m.Body.MatchString(r.Body) &&
			proxyCount(p, m) >= n {
			once.Do(f)
		}
	})
}

func proxyCount(p *faultproxy.HTTP, m faultproxy.HTTPMatch) int {
	n := 0
	for _, r := range p.Records() {
		if r.Forwarded() && r.Method == m.Method && m.Path.MatchString(r.Path) && (m.Body == nil || m.Body.MatchString(r.Body)) {
			n++
		}
	}
	return n
}

// The case: every GET answered 503 for 30 s right after the rescue POSTs of three
// servers whose rescue takes a few seconds on Nova's side. The waits ride it out: one rescue
// POST per server, nothing tainted, the passwords Nova got are in state, the next plan is empty.
func TestAccNovaFault_outageDuringWait(t *testing.T) {
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, n.CreateServer(t, acctest.ServerOpts{Name: fmt.Sprintf("%s-%d", t.Name(), i),
			Metadata: map[string]string{acctest.MetaRescueDelay: "4"}}))
	}
	var outageAt time.Time
	afterRescuePOSTs(p, len(ids), func() {
		outageAt = time.Now()
		p.Outage(faultproxy.HTTPMatchOf(http.MethodGet, ""), 30*time.Second)
	})
	cfg := n.ProviderConfigVia(p) + rescuesHCL(ids)
	checks := []resource.TestCheckFunc{
		proxyPOSTs(p, "rescue", 1, ids...),
		func(*terraform.State) error {
			if outageAt.IsZero() || faults(p, http.StatusServiceUnavailable) == 0 {
				return fmt.Errorf("no outage happened (%d 503s)", faults(p, http.StatusServiceUnavailable))
			}
			if d := time.Since(outageAt); d < 30*time.Second {
				return fmt.Errorf("the apply ended %v after the outage began, before its end", d)
			}
			return nil
		},
	}
	for i, id := range ids {
		name := fmt.Sprintf("rescue_instance.s%d", i)
		checks = append(checks, serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0), notTainted(name), passwordIsNovas(p, name, id))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			for _, id := range ids {
				if err := n.CheckStatus(id, "ACTIVE"); err != nil {
					return err
				}
				if err := actionsAre(t, n, id, 1, 1)(s); err != nil {
					return err
				}
			}
			return proxyPOSTs(p, "unrescue", 1, ids...)(s)
		},
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  resource.ComposeAggregateTestCheckFunc(checks...),
		}, {
			Config:   cfg,
			PlanOnly: true,
		}},
	})
	t.Logf("503s answered during the outage: %d", faults(p, http.StatusServiceUnavailable))
}

// 503 bursts longer than the transport's own retries, and 429 with and without Retry-After,
// in the rescue wait and in the unrescue wait. max_retries = 1 so that the engine's wait, not
// the transport, has to ride them out (and the test stays short).
func TestAccNovaFault_burstsAnd429DuringWaits(t *testing.T) {
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{
		acctest.MetaRescueDelay: "3", acctest.MetaUnrescueDelay: "3"}})
	gets := acctest.ServerGets(id)
	inject := func() {
		p.Fail(gets, http.StatusServiceUnavailable, 6)
		p.TooMany(gets, 3, "1")
		p.TooMany(gets, 3, "")
	}
	afterRescuePOSTs(p, 1, inject)
	var once sync.Once
	unrescue := acctest.ServerAction("unrescue", id)
	p.OnForwarded(func(r faultproxy.HTTPRecord) {
		if r.Method == http.MethodPost && unrescue.Path.MatchString(r.Path) && unrescue.Body.MatchString(r.Body) {
			once.Do(inject)
		}
	})
	cfg := n.ProviderConfigVia(p, "max_retries = 1") + rescueHCL(attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1),
			proxyPOSTs(p, "unrescue", 1, id),
			func(*terraform.State) error {
				// Both waits went through every injected fault.
				if a, b := faults(p, http.StatusServiceUnavailable), faults(p, http.StatusTooManyRequests); a != 12 || b != 12 {
					return fmt.Errorf("the proxy answered %d 503s and %d 429s, want 12 and 12", a, b)
				}
				return nil
			}),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0),
				proxyPOSTs(p, "rescue", 1, id), notTainted(addr), passwordIsNovas(p, addr, id),
				func(*terraform.State) error {
					if a, b := faults(p, http.StatusServiceUnavailable), faults(p, http.StatusTooManyRequests); a != 6 || b != 6 {
						return fmt.Errorf("the proxy answered %d 503s and %d 429s in the rescue wait, want 6 and 6", a, b)
					}
					return nil
				}),
		}},
	})
}

// The rescue POST reaches Nova, but the client's connection is reset before the answer: the
// provider finds the rescue under way, keeps the password it sent, and never repeats the POST.
// Every compute request is also 300 ms late (latency), which changes nothing but the time.
func TestAccNovaFault_resetAfterRescuePOSTAndLatency(t *testing.T) {
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	p.ResetAfterForward(acctest.ServerAction("rescue", id), 1)
	p.Latency(faultproxy.HTTPAny, 300*time.Millisecond)
	cfg := n.ProviderConfigVia(p) + rescueHCL(attr("instance_id", id))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1),
			proxyPOSTs(p, "unrescue", 1, id)),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0),
				proxyPOSTs(p, "rescue", 1, id), notTainted(addr), passwordIsNovas(p, addr, id),
				func(*terraform.State) error {
					for _, r := range p.Records() {
						if r.Fault == "reset after forward" {
							return nil
						}
					}
					return fmt.Errorf("no connection was reset")
				}),
		}, {
			Config:   cfg,
			PlanOnly: true,
		}},
	})
}

// An outage longer than the create timeout: the apply fails within the timeout plus a grace,
// says that the API was unreachable and for how long, and keeps the accepted rescue in state
// with the password Nova got; Nova finished the rescue all the same.
func TestAccNovaFault_outageLongerThanTimeout(t *testing.T) {
	const timeout, grace = 12 * time.Second, 25 * time.Second
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	var outage *faultproxy.HTTPRule
	afterRescuePOSTs(p, 1, func() { outage = p.Outage(faultproxy.HTTPMatchOf(http.MethodGet, ""), 5*time.Minute) })
	cfg := n.ProviderConfigVia(p) + rescueHCL(attr("instance_id", id), fmt.Sprintf(`timeouts = { create = "%s" }`, timeout))
	var start time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(destroyedTo(n, id, "ACTIVE"), actionsAre(t, n, id, 1, 1),
			proxyPOSTs(p, "rescue", 1, id)),
		Steps: []resource.TestStep{{
			PreConfig:   func() { start = time.Now() },
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)unreachable\s+for\s+the\s+last\s+[\d.]+s.*503`),
		}, {
			PreConfig: func() {
				if d := time.Since(start); d > timeout+grace {
					t.Errorf("plan and apply took %v, want at most the create timeout %v plus %v", d, timeout, grace)
				}
				t.Logf("plan and apply with a %v create timeout ended after %v", timeout, time.Since(start).Round(100*time.Millisecond))
				if outage == nil {
					t.Fatal("no outage happened")
				}
				p.Remove(outage)
				if _, err := n.WaitStatusE(id, "RESCUE", time.Minute); err != nil {
					t.Error(err)
				}
			},
			RefreshState:       true,
			ExpectNonEmptyPlan: true,
			Check: resource.ComposeAggregateTestCheckFunc(
				tainted(addr), passwordIsNovas(p, addr, id), serverIs(n, id, "RESCUE"), actionsAre(t, n, id, 1, 0)),
		}},
	})
}

// Plan-time errors say their class: a compute API that answers 503 is "Cannot reach the
// backend" with how long it was tried (not "Invalid rescue"), and a clouds.yaml entry that
// does not exist is a configuration error that names the file and its entries (not "Cannot
// reach the backend").
func TestAccNovaFault_planTimeErrorsByClass(t *testing.T) {
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	p.Outage(faultproxy.HTTPAny, time.Hour)
	clouds := t.TempDir() + "/clouds.yaml"
	if err := os.WriteFile(clouds, []byte("clouds:\n  acc:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
	const server = "7d1a2c3e-0000-4000-8000-0000000000f1"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      n.ProviderConfigVia(p, "max_retries = 1") + rescueHCL(attr("instance_id", server)),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Error: Cannot reach the backend.*HTTP\s+503\s+Service\s+Unavailable.*tried\s+for\s+[\d.]+m?s`),
		}, {
			Config: `
provider "rescue" {
  openstack {
    cloud = "acx"
  }
}
` + rescueHCL(attr("instance_id", server)),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Error: Invalid provider configuration.*` + regexp.QuoteMeta(clouds) + `.*entries\s+are\s+"acc"`),
		}},
	})
	for _, r := range p.Records() {
		if r.Method != http.MethodGet {
			t.Fatalf("a plan sent %s %s", r.Method, r.Path)
		}
	}
}
