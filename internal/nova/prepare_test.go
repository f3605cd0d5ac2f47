package nova

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// TestPreparedRescueReadsTheServerOnce: a rescue validated by the engine (Engine.Validate, as
// the provider's Create does) reads the server once before the POST; the engine's plain Rescue
// reads it twice (its own read, and the backend's validation).
func TestPreparedRescueReadsTheServerOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		checked bool
		want    int
	}{{"Validate then RescueChecked", true, 1}, {"Rescue", false, 2}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeNova(t)
			getsAtPOST := -1
			f.set(func(f *fakeNova) {
				f.statuses, f.action = []string{"ACTIVE", "ACTIVE", "RESCUE"}, `200 {"adminPass": "GivenRescuePass7"}`
				f.handler = func(_ http.ResponseWriter, r *http.Request) bool {
					if r.Method == http.MethodPost && getsAtPOST < 0 {
						f.mu.Lock()
						getsAtPOST = f.gets
						f.statuses = []string{"RESCUE"}
						f.gets = 0
						f.mu.Unlock()
					}
					return false
				}
			})
			e := &rescue.Engine{Backend: f.backend(t, 0),
				Poller: rescue.NewPoller(rescue.Backoff{First: time.Millisecond, Factor: 2, Max: 4 * time.Millisecond})}
			ctx := context.Background()
			req := rescue.Request{InstanceID: fakeServerID, AdminPass: "GivenRescuePass7"}
			var (
				inst *rescue.Instance
				err  error
			)
			if c.checked {
				var ch *rescue.Checked
				if ch, err = e.Validate(ctx, req); err != nil {
					t.Fatal(err)
				}
				if ch.Instance == nil || ch.Instance.State != rescue.StateActive || ch.Plan.Mode != rescue.ModeLegacy {
					t.Fatalf("checked %+v", ch)
				}
				_, inst, err = e.RescueChecked(ctx, ch)
			} else {
				_, inst, err = e.Rescue(ctx, req)
			}
			if err != nil || inst.State != rescue.StateRescued {
				t.Fatalf("rescue: %+v %v", inst, err)
			}
			if _, posts := f.counts(); posts != 1 || getsAtPOST != c.want {
				t.Fatalf("%d POSTs, %d GETs of the server before it; want 1 and %d", posts, getsAtPOST, c.want)
			}
		})
	}
}
