package libvirt_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// List on the test driver: every domain with its state, the rescued one with its journal's
// rescue; the filters.
func TestTestDriverList(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "list-rescue.iso", "raw", "")
	td.domain(t, "list-web-1", true, false, "")
	td.domain(t, "list-web-2", false, false, "")
	td.domain(t, "list-db-1", true, false, "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	before := time.Now().Add(-2 * time.Second)
	if _, _, err := rescue.NewEngine(b).Rescue(ctx, rescue.Request{InstanceID: "list-web-1", ImageID: img, Device: "cdrom", Bus: "sata"}); err != nil {
		t.Fatalf("Rescue: %v", err)
	}
	t.Cleanup(func() { _, _, _ = rescue.NewEngine(b).Unrescue(ctx, "list-web-1") })

	all, err := b.List(ctx, rescue.Filter{NameRegex: regexp.MustCompile(`^list-`)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range all {
		names = append(names, l.Name+"="+l.Status)
	}
	if got := len(all); got != 3 || all[0].Name != "list-db-1" || all[1].Name != "list-web-1" || all[2].Name != "list-web-2" {
		t.Fatalf("listed %v", names)
	}
	web := all[1]
	if !web.InRescue || web.ByProvider == nil || !*web.ByProvider || web.Mode != rescue.ModeStable ||
		web.Device != "cdrom" || web.Bus != "sata" || web.ImageID != img || web.RescuedAt.Before(before) || len(web.ID) != 36 {
		t.Fatalf("rescued domain listed as %+v", web)
	}
	if all[0].InRescue || all[0].ByProvider != nil || !all[0].RescuedAt.IsZero() || all[2].Status != "shut off" {
		t.Fatalf("others listed as %v / %+v", names, all[0])
	}
	yes := true
	if got, err := b.List(ctx, rescue.Filter{NameRegex: regexp.MustCompile(`^list-`), InRescue: &yes}); err != nil || len(got) != 1 || got[0].Name != "list-web-1" {
		t.Fatalf("in_rescue filter: %+v, %v", got, err)
	}
	if got, err := b.List(ctx, rescue.Filter{NameRegex: regexp.MustCompile(`^list-`), Statuses: []string{"SHUT OFF"}}); err != nil || len(got) != 1 || got[0].Name != "list-web-2" {
		t.Fatalf("status filter: %+v, %v", got, err)
	}
}
