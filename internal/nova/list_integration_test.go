package nova_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/tags"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// List against Nova's own code: paging past the page size, the filters (Nova's tags filter,
// metadata, name, status, in rescue) and when a rescue began from the instance actions.
func TestListServers(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	prefix := "list-" + strings.ToLower(time.Now().Format("150405")) + "-"
	var ids []string
	for i, name := range []string{"web-1", "web-2", "db-1"} {
		tier := map[string]string{"tier": strings.SplitN(name, "-", 2)[0]}
		ids = append(ids, n.CreateServer(t, acctest.ServerOpts{Name: prefix + name, Metadata: tier}))
		if i < 2 {
			c := *n.Compute
			c.Microversion = "2.26"
			if _, err := tags.ReplaceAll(ctx(t), &c, ids[i], tags.ReplaceAllOpts{Tags: []string{"prod"}}).Extract(); err != nil {
				t.Fatalf("tag %s: %v", name, err)
			}
		}
	}
	before := time.Now().Add(-5 * time.Second)
	n.RescueOOB(t, ids[1], "")
	b := backendFor(t, n, "")
	nova.SetListPageSize(2) // three servers (and more of other tests): several pages
	t.Cleanup(func() { nova.SetListPageSize(1000) })

	mine := regexp.MustCompile("^" + regexp.QuoteMeta(prefix))
	all, err := b.List(ctx(t), rescue.Filter{NameRegex: mine})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != ids[2] || all[1].ID != ids[0] || all[2].ID != ids[1] {
		t.Fatalf("listed %+v", all)
	}
	web2 := all[2]
	if !web2.InRescue || web2.Status != "RESCUE" || web2.RescuedAt.Before(before) || web2.ByProvider != nil {
		t.Fatalf("rescued server listed as %+v", web2)
	}
	if all[0].InRescue || !all[0].RescuedAt.IsZero() || all[0].Metadata["tier"] != "db" {
		t.Fatalf("db listed as %+v", all[0])
	}
	yes := true
	for name, c := range map[string]struct {
		f    rescue.Filter
		want []string
	}{
		"tags":      {rescue.Filter{NameRegex: mine, Tags: []string{"prod"}}, []string{ids[0], ids[1]}},
		"metadata":  {rescue.Filter{NameRegex: mine, Metadata: map[string]string{"tier": "db"}}, []string{ids[2]}},
		"in rescue": {rescue.Filter{NameRegex: mine, InRescue: &yes}, []string{ids[1]}},
		"status":    {rescue.Filter{NameRegex: mine, Statuses: []string{"active"}}, []string{ids[2], ids[0]}},
	} {
		got, err := b.List(ctx(t), c.f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var gotIDs []string
		for _, l := range got {
			gotIDs = append(gotIDs, l.ID)
		}
		if strings.Join(gotIDs, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %v, want %v", name, gotIDs, c.want)
		}
	}
}
