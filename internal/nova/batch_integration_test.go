package nova_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// requestLog is a reverse proxy in front of Nova's compute API that keeps the method, path and
// query of every request.
type requestLog struct {
	mu   sync.Mutex
	reqs []*url.URL
	meth []string
}

func (l *requestLog) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.URL)
		l.meth = append(l.meth, r.Method)
		l.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// take returns the requests since the last take.
func (l *requestLog) take() (out []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, u := range l.reqs {
		out = append(out, l.meth[i]+" "+u.RequestURI())
	}
	l.reqs, l.meth = nil, nil
	return out
}

var (
	listingStart = regexp.MustCompile(`^GET /v2\.1/servers/detail\?`)
	serverGet    = regexp.MustCompile(`^GET /v2\.1/servers/[0-9a-f-]{36}$`)
)

// count returns the listings begun (pages without a marker), the listings narrowed by
// changes-since, the pages in all and the GETs of single servers among reqs.
func count(reqs []string) (listings, since, pages, gets int) {
	for _, r := range reqs {
		switch {
		case listingStart.MatchString(r):
			pages++
			if !strings.Contains(r, "marker=") {
				listings++
				if strings.Contains(r, "changes-since=") {
					since++
				}
			}
		case serverGet.MatchString(r):
			gets++
		}
	}
	return
}

// GetMany against Nova's own code, as a member of the project who is not an administrator:
// one listing per call (paged past the page size), narrowed by changes-since once the servers
// are known; a server that is rescued shows the change; a deleted server (DELETED under
// changes-since) and an id Nova never had are left out (not found); a single id is one GET of
// that server.
func TestGetManyListsOncePerCall(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	var log requestLog
	// noauth2: "user:project", an administrator only when the user is admin.
	b, err := nova.New(ctx(t), nova.Config{Token: "member:" + strings.SplitN(n.Token, ":", 2)[1],
		EndpointOverrides: map[string]string{"compute": log.start(t, n.ComputeURL), "image": n.ImageURL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, n.CreateServer(t, acctest.ServerOpts{Name: t.Name() + "-" + string(rune('a'+i)), KeepOnCleanup: i == 2}))
	}
	nova.SetListPageSize(2) // three servers (and those of other tests): several pages
	t.Cleanup(func() { nova.SetListPageSize(1000) })
	never := uuid.NewString()
	c := ctx(t)
	if _, _, err := b.Microversion(c); err != nil {
		t.Fatal(err)
	}
	log.take()

	got, err := b.GetMany(c, append(ids, never))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got[id] == nil || got[id].State != rescue.StateActive || got[id].ID != id {
			t.Fatalf("%s: got %+v, want it active", id, got[id])
		}
	}
	if _, ok := got[never]; ok || len(got) != 3 {
		t.Fatalf("got %d instances, incl. the unknown id: %v", len(got), ok)
	}
	reqs := log.take()
	// The id Nova never had is missing from the full listing, then read once on its own.
	if l, s, p, g := count(reqs); l != 1 || s != 0 || p < 2 || g != 1 {
		t.Fatalf("first call: %d listings (%d with changes-since), %d pages, %d server GETs; want 1, 0, >=2, 1:\n%s",
			l, s, p, g, strings.Join(reqs, "\n"))
	}

	n.RescueOOB(t, ids[0], "")
	n.WaitStatus(t, ids[0], "RESCUE")
	n.DeleteServer(t, ids[2])
	got, err = b.GetMany(c, ids)
	if err != nil {
		t.Fatal(err)
	}
	if got[ids[0]] == nil || got[ids[0]].State != rescue.StateRescued || got[ids[1]] == nil || got[ids[1]].State != rescue.StateActive {
		t.Fatalf("after the rescue: %+v, %+v", got[ids[0]], got[ids[1]])
	}
	if inst, ok := got[ids[2]]; ok {
		t.Fatalf("the deleted server is listed: %+v", inst)
	}
	reqs = log.take()
	if l, s, _, g := count(reqs); l != 1 || s != 1 || g != 0 {
		t.Fatalf("second call: %d listings (%d with changes-since), %d server GETs; want 1, 1, 0:\n%s", l, s, g, strings.Join(reqs, "\n"))
	}

	one, err := b.GetMany(c, ids[:1])
	if err != nil || one[ids[0]] == nil || one[ids[0]].State != rescue.StateRescued {
		t.Fatalf("one id: %+v, %v", one, err)
	}
	if reqs := log.take(); len(reqs) != 1 || !serverGet.MatchString(reqs[0]) {
		t.Fatalf("one id: requests %v, want one GET of the server", reqs)
	}
}

// Waits through the shared poller end as they do through the per-instance one, reading all
// their servers in one listing per tick.
func TestGetManySharedWaits(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	var log requestLog
	b := backendFor(t, n, log.start(t, n.ComputeURL))
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, n.CreateServer(t, acctest.ServerOpts{Name: t.Name(), Metadata: map[string]string{acctest.MetaRescueDelay: "3"}}))
	}
	e := rescue.NewEngine(b)
	if _, ok := e.Poller.(*rescue.SharedPoller); !ok {
		t.Fatalf("the engine over Nova polls with %T, want the shared poller", e.Poller)
	}
	log.take()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.Rescue(ctx(t), rescue.Request{InstanceID: id})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if s, _ := n.Status(t, id); s != "RESCUE" {
			t.Fatalf("%s is %s", id, s)
		}
	}
	reqs := log.take()
	l, s, p, g := count(reqs)
	// Each Rescue reads its server (validate, then the engine's read) before the POST; every
	// read of the waits is a listing.
	if g > 2*len(ids) || l == 0 || s == 0 {
		t.Fatalf("%d server GETs (want at most %d, the reads before the POSTs), %d listings (%d with changes-since), %d pages:\n%s",
			g, 2*len(ids), l, s, p, strings.Join(reqs, "\n"))
	}
	t.Logf("%d rescues of 3 s: %d listings (%d with changes-since), %d server GETs", len(ids), l, s, g)
}

// Validations of several servers at once (a plan of many resources) against Nova's own code:
// the first is one GET of its server; those asked while it is under way share one listing of
// /servers/detail, which gives them what a GET gives (state, image, lock and its reason at the
// negotiated microversion): the locked server's warning names its reason, each plan its mode.
func TestValidationsTogetherShareOneListing(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	b := backendFor(t, n, p.URLFor(n.ComputeURL))
	ids := n.CreateServers(t, 4, acctest.ServerOpts{})
	n.Lock(t, ids[2], "disk forensics")
	c := ctx(t)
	if _, _, err := b.Microversion(c); err != nil {
		t.Fatal(err)
	}
	// The first GET is slow, so that the others are asked while it is under way.
	slow := p.Latency(faultproxy.HTTPMatchOf(http.MethodGet, `/servers/`+ids[0]+`$`), 2*time.Second)
	before := len(p.Records())
	var wg sync.WaitGroup
	plans := make([]rescue.Plan, len(ids))
	errs := make([]error, len(ids))
	for i, id := range ids {
		if i == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			plans[i], errs[i] = b.Validate(c, rescue.Request{InstanceID: id})
		}()
	}
	wg.Wait()
	p.Remove(slow)
	for i := range ids {
		if errs[i] != nil || plans[i].Mode != rescue.ModeLegacy {
			t.Fatalf("validate %s: %+v, %v", ids[i], plans[i], errs[i])
		}
	}
	if w := strings.Join(plans[2].Warnings, " "); !strings.Contains(w, "is locked") || !strings.Contains(w, `"disk forensics"`) {
		t.Fatalf("the locked server's plan warns %q, want its lock and reason", w)
	}
	gets, lists := 0, 0
	for _, r := range p.Records()[before:] {
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/servers/detail"):
			lists++
		case r.Method == http.MethodGet && serverGet.MatchString("GET "+r.Path):
			gets++
		}
	}
	if gets != 1 || lists != 1 {
		t.Fatalf("%d GET /servers/{id} and %d listings for %d validations, want 1 and 1", gets, lists, len(ids))
	}
}
