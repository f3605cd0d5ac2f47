package nova

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// A server the project's listing does not show but GET /servers/{id} finds (another project's,
// for an administrator) is read on its own, then on its own at every call, without listing
// every server again; an id neither shows is left out.
func TestGetManyReadsServersOfOtherProjectsOnTheirOwn(t *testing.T) {
	f := newFakeNova(t)
	var (
		mu       sync.Mutex
		listings []string
	)
	f.set(func(f *fakeNova) {
		f.handler = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2.1/servers/detail" {
				return false
			}
			mu.Lock()
			listings = append(listings, r.URL.RawQuery)
			mu.Unlock()
			w.Header().Set("Date", "Mon, 30 Nov 2026 12:00:00 GMT")
			writeJSON(w, 200, map[string]any{"servers": []any{
				map[string]any{"id": "aaaaaaaa-2222-4333-8444-555555555555", "name": "mine", "status": "ACTIVE"},
			}})
			return true
		}
	})
	b := f.backend(t, 0)
	const mine, missing = "aaaaaaaa-2222-4333-8444-555555555555", "bbbbbbbb-2222-4333-8444-555555555555"
	for call := 0; call < 2; call++ {
		got, err := b.GetMany(context.Background(), []string{mine, fakeServerID, missing})
		if err != nil {
			t.Fatal(err)
		}
		if got[mine] == nil || got[fakeServerID] == nil || got[fakeServerID].Name != "web" || got[missing] != nil {
			t.Fatalf("call %d: %+v", call, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(listings) != 2 || strings.Contains(listings[0], "changes-since") ||
		!strings.Contains(listings[1], "changes-since=2026-11-30T11%3A59%3A55Z") {
		t.Fatalf("listings %q, want a full one, then one since Nova's Date minus the margin", listings)
	}
	// The other project's server is read at each call; the missing id only at the first.
	if gets, _ := f.counts(); gets != 2 {
		t.Fatalf("%d GETs of the other project's server, want 2", gets)
	}
}
