package provider_test

// A fleet rescue on Nova through the real CLI: for_each over 20 servers in one apply with
// -parallelism=20, a counting proxy in front of the compute API.

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
)

var (
	serverGetPath  = regexp.MustCompile(`/servers/[0-9a-f-]{36}$`)
	serverListPath = regexp.MustCompile(`/servers/detail$`)
)

// serverGETs is what the proxy saw of server reads: GET /servers/{id} of a server before its
// own rescue POST and after it (the reads of its wait, when a wait reads its server alone),
// GET /servers/detail (a page of a listing: the shared poller's reads), and the span from the
// first rescue POST to the last server read.
type serverGETs struct {
	before, after, lists int
	// listsBefore are the listings before the first rescue POST (the reads of plan and
	// validation that joined one).
	listsBefore int
	waitSpan    time.Duration
	// seq is what one server saw, in order: G a GET of it, P an action POST, L a listing.
	seq string
}

func (g serverGETs) String() string {
	return fmt.Sprintf("GET /servers/{id}: %d before the server's rescue POST, %d after it; %d GET /servers/detail "+
		"(%d before the first rescue POST); %v from the first rescue POST to the last read; one server saw %s",
		g.before, g.after, g.lists, g.listsBefore, g.waitSpan.Round(time.Millisecond), g.seq)
}

func countServerGETs(recs []faultproxy.HTTPRecord) serverGETs {
	var (
		g           serverGETs
		first, last time.Time
	)
	posted := map[string]bool{}
	post := acctest.ServerAction("", "")
	lastPart := func(p string) string { return strings.ToLower(p[strings.LastIndex(p, "/")+1:]) }
	one := ""
	for _, r := range recs {
		switch {
		case r.Method == http.MethodGet && serverGetPath.MatchString(r.Path):
			id := lastPart(r.Path)
			if posted[id] {
				g.after++
			} else {
				g.before++
			}
			if one == "" {
				one = id
			}
			if id == one {
				g.seq += "G"
			}
			last = r.At
		case r.Method == http.MethodGet && serverListPath.MatchString(r.Path):
			g.lists++
			if first.IsZero() {
				g.listsBefore++
			}
			g.seq += "L"
			last = r.At
		case r.Method == http.MethodPost && post.Path.MatchString(r.Path):
			id := lastPart(strings.TrimSuffix(r.Path, "/action"))
			posted[id] = true
			if id == one {
				g.seq += "P"
			}
			if first.IsZero() {
				first = r.At
			}
		}
	}
	if !first.IsZero() && last.After(first) {
		g.waitSpan = last.Sub(first)
	}
	return g
}

// fleetHCL is one rescue_instance per id with for_each.
func fleetHCL(ids []string) string {
	return fmt.Sprintf(`
locals {
  ids = ["%s"]
}

resource "rescue_instance" "fleet" {
  for_each    = toset(local.ids)
  instance_id = each.key
  timeouts    = { create = "5m", delete = "5m" }
}
`, strings.Join(ids, `", "`))
}

// fleetPollTick is the shortest interval of the shared poller's ticks (rescue.DefaultBackoff's
// first interval): the bound of the listing GETs a wait span can hold.
const fleetPollTick = 200 * time.Millisecond

// 20 servers whose rescue takes 6 s on Nova's side, rescued by one apply with
// -parallelism=20: each reaches RESCUE with one rescue action, and the apply's server reads
// are c1 + c2*ticks: a constant number before the rescue POSTs (plan, preflight, validation:
// concurrent reads share listings), and for all the waits together at most one read per poll
// tick. The destroy brings every server back to ACTIVE with one unrescue each.
func TestAccNovaFleet_forEach20SharedPoller(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	const count = 20
	n := acctest.StartNovaT(t)
	ids := n.CreateServers(t, count, acctest.ServerOpts{Name: "fleet",
		Metadata: map[string]string{acctest.MetaRescueDelay: "6"}})
	p := n.ComputeProxy(t)
	w := tfcli.NewWorkspace(t)
	w.Write(n.ProviderConfigVia(p) + fleetHCL(ids))
	r := w.Apply("-parallelism=20")
	t.Cleanup(func() {
		if r := w.Destroy("-parallelism=20"); !r.OK() {
			t.Errorf("destroy:\n%s", r)
		}
	})
	if !r.OK() {
		t.Fatalf("apply:\n%s", r)
	}
	g := countServerGETs(p.Records())
	t.Logf("apply of %d rescues took %v: %s", count, r.Took.Round(time.Millisecond), g)
	for _, id := range ids {
		if err := n.CheckStatus(id, "RESCUE"); err != nil {
			t.Error(err)
		}
		if c := n.CountAction(t, id, "rescue"); c != 1 {
			t.Errorf("server %s: %d rescue actions, want 1", id, c)
		}
	}
	// The reads before the rescue POSTs (plan's validation and preflight, the apply's re-plan
	// and the create's check) are made together: a read that finds one under way joins the next
	// listing, so that each of these steps costs a few requests for all servers, not one per
	// server (the code of before read each server on its own: 5 GETs per server, 100 here). The
	// waits' reads are one listing per poll tick of the shared poller. The bound: a constant for
	// the steps before the POSTs, one read per tick of the waits, and a constant.
	const beforePOSTs, overall = 30, 40
	if g.before+g.listsBefore > beforePOSTs {
		t.Errorf("%d server reads before the rescue POSTs of %d servers, want at most %d (not one per server): %s",
			g.before+g.listsBefore, count, beforePOSTs, g)
	}
	if bound := int(g.waitSpan/fleetPollTick) + overall; g.before+g.after+g.lists > bound {
		t.Errorf("%d server reads in all, want at most %d (one per poll tick of %v in the %v of the waits + %d): %s",
			g.before+g.after+g.lists, bound, fleetPollTick, g.waitSpan.Round(time.Millisecond), overall, g)
	}

	before := len(p.Records())
	if r := w.Destroy("-parallelism=20"); !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	t.Logf("destroy: %s", countServerGETs(p.Records()[before:]))
	for _, id := range ids {
		if err := n.CheckStatus(id, "ACTIVE"); err != nil {
			t.Error(err)
		}
		if c := n.CountAction(t, id, "unrescue"); c != 1 {
			t.Errorf("server %s: %d unrescue actions, want 1", id, c)
		}
	}
}
