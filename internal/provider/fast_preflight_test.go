package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// An instance already in rescue without state is refused at plan (and so at apply before any
// change), with a ready-to-paste import block; the resource's own rescue is not taken for
// someone else's when it is replaced (the create half of a replacement is planned without prior
// state).
func TestFast_alreadyInRescueRefused(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web", "db")
	f.Set("web", rescue.StateRescued)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:      fastConfig(`instance_id = "web"`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Instance already in rescue.*import \{\s+to = rescue_instance.<name>\s+id = "web"\s+\}.*Refused at plan: nothing was changed`),
		}, {
			Config:      fastConfig(`instance_id = "web"`),
			ExpectError: regexp.MustCompile(`(?s)Instance already in rescue.*import \{\s+to = rescue_instance.<name>\s+id = "web"\s+\}`),
		}, {
			Config: fastConfig(`instance_id = "db"`, `admin_pass = "one"`),
		}, {
			// A replacement of the resource's own rescue.
			Config: fastConfig(`instance_id = "db"`, `admin_pass = "two"`),
		}},
	})
	if n := f.Count("rescue web") + f.Count("unrescue web"); n != 0 {
		t.Fatalf("web was changed: %v", f.Calls())
	}
	if n := f.Count("rescue db"); n != 2 {
		t.Fatalf("%d rescues of db, want 2: %v", n, f.Calls())
	}
}
