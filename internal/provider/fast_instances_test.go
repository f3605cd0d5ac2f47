package provider_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// fakeIs is a state check of the fake backend (a state check, unlike a Check function, works
// with for_each).
type fakeIs struct {
	f     *rescuetest.Fake
	id    string
	state rescue.State
}

func (c fakeIs) CheckState(_ context.Context, _ statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if got := c.f.State(c.id); got != c.state {
		resp.Error = fmt.Errorf("instance %s is %q, want %q (calls %v)", c.id, got, c.state, c.f.Calls())
	}
}

// ids is a state check that the data source found exactly these instance ids, in this order.
func ids(addr string, want ...string) statecheck.StateCheck {
	vals := make([]knownvalue.Check, len(want))
	for i, w := range want {
		vals[i] = knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact(w)})
	}
	return statecheck.ExpectKnownValue(addr, tfjsonpath.New("instances"), knownvalue.ListExact(vals))
}

// The data source's filters, and for_each over it rescuing what it found.
func TestFast_instancesFiltersAndForEach(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web-1", "web-2", "db-1")
	f.Set("web-2", rescue.StateError)
	f.Set("db-1", rescue.StateError)
	f.Label("web-1", map[string]string{"tier": "web"}, []string{"prod"}, time.Time{})
	f.Label("web-2", map[string]string{"tier": "web"}, []string{"prod", "eu"}, time.Time{})
	filters := `provider "rescue" {}
data "rescue_instances" "all" {}
data "rescue_instances" "web" { name_regex = "^web-" }
data "rescue_instances" "broken" { status = ["error"] }
data "rescue_instances" "tagged" {
  metadata = { tier = "web" }
  tags     = ["eu"]
}
`
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config: filters,
			ConfigStateChecks: []statecheck.StateCheck{
				ids("data.rescue_instances.all", "db-1", "web-1", "web-2"),
				ids("data.rescue_instances.web", "web-1", "web-2"),
				ids("data.rescue_instances.broken", "db-1", "web-2"),
				ids("data.rescue_instances.tagged", "web-2"),
			},
		}, {
			// Mass rescue: every broken web instance, in one apply. The filter keeps the rescued
			// ones too (their status changes with the rescue), so the next plan is empty.
			Config: `provider "rescue" {}
data "rescue_instances" "broken" {
  name_regex = "^web-"
  status     = ["ERROR", "rescued"]
}
resource "rescue_instance" "web" {
  for_each    = { for i in data.rescue_instances.broken.instances : i.id => i }
  instance_id = each.key
}
`,
			ConfigStateChecks: []statecheck.StateCheck{fakeIs{f, "web-2", rescue.StateRescued}},
		}, {
			Config: `provider "rescue" {}
data "rescue_instances" "rescued" { in_rescue = true }
`,
			ConfigStateChecks: []statecheck.StateCheck{
				ids("data.rescue_instances.rescued", "web-2"),
				statecheck.ExpectKnownValue("data.rescue_instances.rescued", tfjsonpath.New("instances").AtSliceIndex(0),
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"in_rescue": knownvalue.Bool(true), "by_provider": knownvalue.Bool(true),
						"rescued_at": knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)),
					})),
			},
		}},
	})
	if f.State("web-1") != rescue.StateActive || f.State("db-1") != rescue.StateError {
		t.Fatalf("rescued more than the filter found: %v", f.Calls())
	}
}

func TestFast_instancesBadRegex(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      `data "rescue_instances" "x" { name_regex = "web-(" }`,
			ExpectError: regexp.MustCompile(`(?s)Invalid regular expression.*missing closing \)`),
		}},
	})
}
