package nova_test

import (
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// TestIntegrationCheckedRescueReadsTheServerOnce: against Nova's own code, counted by a proxy
// in front of its compute API, a rescue the engine validated first (Engine.Validate, then
// RescueChecked, as the provider's Create does) sends one GET of the server before the rescue
// POST; the engine's plain Rescue sends two (its read and the backend's validation).
func TestIntegrationCheckedRescueReadsTheServerOnce(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	c := ctx(t)
	p := n.ComputeProxy(t)
	e := rescue.NewEngine(backendFor(t, n, p.URLFor(n.ComputeURL)))
	for _, checked := range []bool{true, false} {
		id := n.CreateServer(t, acctest.ServerOpts{})
		from := len(p.Records())
		req := rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID}
		var (
			inst *rescue.Instance
			err  error
		)
		if checked {
			var ch *rescue.Checked
			if ch, err = e.Validate(c, req); err != nil {
				t.Fatalf("validate: %v", err)
			}
			_, inst, err = e.RescueChecked(c, ch)
		} else {
			_, inst, err = e.Rescue(c, req)
		}
		if err != nil || inst.State != rescue.StateRescued {
			t.Fatalf("rescue (checked %v): %+v %v", checked, inst, err)
		}
		want := 2
		if checked {
			want = 1
		}
		if got := getsBeforeRescue(p.Records()[from:], id); got != want {
			t.Fatalf("checked %v: %d GETs of the server before the rescue POST, want %d", checked, got, want)
		}
	}
}

// getsBeforeRescue counts the GETs of server id among recs before its first rescue POST (-1
// when there is none).
func getsBeforeRescue(recs []faultproxy.HTTPRecord, id string) int {
	get, post := acctest.ServerGets(id), acctest.ServerAction("rescue", id)
	n := 0
	for _, r := range recs {
		switch {
		case r.Method == post.Method && post.Path.MatchString(r.Path) && post.Body.MatchString(r.Body):
			return n
		case r.Method == get.Method && get.Path.MatchString(r.Path):
			n++
		}
	}
	return -1
}
