package nova

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// fleetFake is a compute API of many servers for the coalesced reads: GET /servers/{id}, and
// GET /servers/detail listing them all. A request can be held at its start (hold) until the
// test releases it; listCode and getCode make the listing or every GET fail.
type fleetFake struct {
	t *testing.T

	mu       sync.Mutex
	status   map[string]string // by id: "ACTIVE", "RESCUE", ...
	foreign  map[string]bool   // found by GET, not listed (another project's)
	gets     []string          // ids of GET /servers/{id}, in order
	listings int
	listCode int
	hold     map[string]chan struct{} // "list" or an id: held until closed
	arrived  chan string              // what arrived ("list" or the id), when not nil
}

func newFleetFake(t *testing.T, ids ...string) (*fleetFake, *Backend) {
	f := newFakeNova(t)
	ff := &fleetFake{t: t, status: map[string]string{}, foreign: map[string]bool{}, hold: map[string]chan struct{}{}}
	for _, id := range ids {
		ff.status[id] = "ACTIVE"
	}
	f.set(func(f *fakeNova) { f.handler = ff.serve })
	return ff, f.backend(t, 0)
}

func (ff *fleetFake) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v2.1/servers/") {
		return false
	}
	key := strings.TrimPrefix(r.URL.Path, "/v2.1/servers/")
	if key == "detail" {
		key = "list"
	}
	ff.mu.Lock()
	if key == "list" {
		ff.listings++
	} else {
		ff.gets = append(ff.gets, key)
	}
	hold, arrived := ff.hold[key], ff.arrived
	code, body := ff.answer(key) // as Nova read it when the request came
	ff.mu.Unlock()
	if arrived != nil {
		arrived <- key
	}
	if hold != nil {
		<-hold
	}
	if key == "list" {
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	writeJSON(w, code, body)
	return true
}

// answer is the status and body of a request for key (called with mu held).
func (ff *fleetFake) answer(key string) (int, any) {
	if key == "list" {
		if ff.listCode != 0 {
			return ff.listCode, map[string]any{"computeFault": map[string]any{"code": ff.listCode, "message": "list boom"}}
		}
		var list []any
		for id, st := range ff.status {
			if !ff.foreign[id] {
				list = append(list, map[string]any{"id": id, "name": "n-" + id[:4], "status": st, "locked": false})
			}
		}
		return 200, map[string]any{"servers": list}
	}
	st, ok := ff.status[key]
	if !ok {
		return 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance " + key + " could not be found."}}
	}
	return 200, map[string]any{"server": map[string]any{"id": key, "name": "n-" + key[:4], "status": st, "locked": false}}
}

func (ff *fleetFake) set(fn func(ff *fleetFake)) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	fn(ff)
}

func (ff *fleetFake) counts() (gets, listings int) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return len(ff.gets), ff.listings
}

// holdNext holds the next request for key and returns the function that releases it, after
// waiting until it arrived.
func (ff *fleetFake) holdNext(key string) (arrived func(), release func()) {
	ch := make(chan struct{})
	seen := make(chan string, 64)
	ff.set(func(ff *fleetFake) { ff.hold[key], ff.arrived = ch, seen })
	arrived = func() {
		ff.t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case k := <-seen:
				if k == key {
					return
				}
			case <-timeout:
				ff.t.Fatalf("no request for %s arrived", key)
			}
		}
	}
	release = func() {
		ff.set(func(ff *fleetFake) { delete(ff.hold, key); ff.arrived = nil })
		close(ch)
	}
	return arrived, release
}

func serverIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-2222-4333-8444-555555555555", 0xa0000000+i)
	}
	return ids
}

// joined waits until the next batch holds n ids.
func joined(t *testing.T, b *Backend, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.reads.mu.Lock()
		got := 0
		if b.reads.next != nil {
			got = len(b.reads.next.ids)
		}
		b.reads.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ids joined the next batch, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// behindLoneGet holds a lone Get of ids[0] at the fake Nova, lets the Gets of ids[1:] join the
// next batch behind it, then releases the lone Get; it returns both sets of results.
func behindLoneGet(t *testing.T, ff *fleetFake, b *Backend, ids []string) (first, rest <-chan getResult) {
	t.Helper()
	arrived, release := ff.holdNext(ids[0])
	first = getAll(context.Background(), b, ids[:1])
	arrived()
	rest = getAll(context.Background(), b, ids[1:])
	joined(t, b, len(ids)-1)
	release()
	return first, rest
}

type getResult struct {
	id   string
	inst *rescue.Instance
	err  error
}

// getAll calls Get for each id concurrently; the results arrive on the returned channel.
func getAll(ctx context.Context, b *Backend, ids []string) <-chan getResult {
	out := make(chan getResult, len(ids))
	for _, id := range ids {
		go func() {
			inst, err := b.Get(ctx, id)
			out <- getResult{id, inst, err}
		}()
	}
	return out
}

// A lone Get is one GET /servers/{id} and lists nothing.
func TestLoneGetIsOneServerGET(t *testing.T) {
	ids := serverIDs(3)
	ff, b := newFleetFake(t, ids...)
	for i := 0; i < 2; i++ {
		inst, err := b.Get(context.Background(), ids[1])
		if err != nil || inst.State != rescue.StateActive {
			t.Fatalf("Get: %+v, %v", inst, err)
		}
	}
	if gets, listings := ff.counts(); gets != 2 || listings != 0 {
		t.Fatalf("%d GETs and %d listings for two Gets one after the other, want 2 and 0", gets, listings)
	}
}

// K Gets asked while a read is under way cost one listing together, and each gets its server.
func TestConcurrentGetsShareOneListing(t *testing.T) {
	const k = 12
	ids := serverIDs(k + 1)
	ff, b := newFleetFake(t, ids...)
	ff.set(func(ff *fleetFake) { ff.status[ids[3]] = "RESCUE" })
	arrived, release := ff.holdNext(ids[0])
	first := getAll(context.Background(), b, ids[:1])
	arrived()
	rest := getAll(context.Background(), b, ids[1:])
	joined(t, b, k)
	release()
	for i := 0; i < k+1; i++ {
		var r getResult
		if i == 0 {
			r = <-first
		} else {
			r = <-rest
		}
		want := rescue.StateActive
		if r.id == ids[3] {
			want = rescue.StateRescued
		}
		if r.err != nil || r.inst.State != want || !strings.EqualFold(r.inst.ID, r.id) {
			t.Fatalf("Get(%s): %+v, %v; want it %s", r.id, r.inst, r.err, want)
		}
	}
	if gets, listings := ff.counts(); gets != 1 || listings != 1 {
		t.Fatalf("%d GETs and %d listings for %d concurrent Gets, want 1 (the lone one) and 1", gets, listings, k+1)
	}
}

// A read never joins a batch whose request has begun: a change made before a Get was asked is
// seen, even while a listing that began before it is under way.
func TestGetSeesChangesMadeBeforeItWasAsked(t *testing.T) {
	ids := serverIDs(4)
	ff, b := newFleetFake(t, ids...)
	ctx := context.Background()
	if _, err := b.GetMany(ctx, ids); err != nil { // a first listing: later ones use changes-since
		t.Fatal(err)
	}
	arrived, release := ff.holdNext("list")
	old := make(chan map[string]*rescue.Instance, 1)
	go func() {
		got, err := b.GetMany(ctx, ids)
		if err != nil {
			t.Error(err)
		}
		old <- got
	}()
	arrived() // the listing has begun (Nova read the servers as they were)
	ff.set(func(ff *fleetFake) { ff.status[ids[2]] = "RESCUE" })
	res := getAll(ctx, b, ids[1:3])
	joined(t, b, 2)
	release()
	if got := <-old; got[ids[2]] == nil || got[ids[2]].State != rescue.StateActive {
		t.Fatalf("the listing begun before the change: %+v", got[ids[2]])
	}
	for i := 0; i < 2; i++ {
		r := <-res
		want := rescue.StateActive
		if r.id == ids[2] {
			want = rescue.StateRescued
		}
		if r.err != nil || r.inst.State != want {
			t.Fatalf("Get(%s) asked after the change: %+v, %v; want %s", r.id, r.inst, r.err, want)
		}
	}
	if gets, listings := ff.counts(); gets != 0 || listings != 3 {
		t.Fatalf("%d GETs, %d listings; want 0 and 3", gets, listings)
	}
}

// Errors of a batch reach every caller classified as a lone Get's would be: a failed listing
// (503: unavailable; 401: refused credentials) is every caller's error; an id the listing does
// not show is read on its own: not found (Nova's message kept) for that caller only, and another
// project's server is found.
func TestBatchErrorsReachEveryCaller(t *testing.T) {
	for _, c := range []struct {
		code int
		is   error
	}{{http.StatusServiceUnavailable, rescue.ErrUnavailable}, {http.StatusUnauthorized, rescue.ErrAuth}} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			ids := serverIDs(5)
			ff, b := newFleetFake(t, ids...)
			ff.set(func(ff *fleetFake) { ff.listCode = c.code })
			first, res := behindLoneGet(t, ff, b, ids)
			if r := <-first; r.err != nil {
				t.Fatalf("the lone Get: %v", r.err)
			}
			for i := 0; i < 4; i++ {
				r := <-res
				if !errors.Is(r.err, c.is) || !strings.Contains(r.err.Error(), "read instance "+r.id) ||
					!strings.Contains(r.err.Error(), fmt.Sprint(c.code)) {
					t.Fatalf("Get(%s): %v; want an error that is %v, names the instance and the status", r.id, r.err, c.is)
				}
			}
		})
	}
	t.Run("alone", func(t *testing.T) {
		ids := serverIDs(5)
		ff, b := newFleetFake(t, ids[:4]...)
		ff.set(func(ff *fleetFake) { ff.foreign[ids[2]] = true })
		first, res := behindLoneGet(t, ff, b, ids)
		<-first
		for i := 0; i < 4; i++ {
			r := <-res
			switch r.id {
			case ids[4]:
				var nf *rescue.NotFoundError
				if !errors.As(r.err, &nf) || !strings.Contains(nf.Msg, "could not be found") {
					t.Fatalf("Get of an unknown id: %v; want not found with Nova's message", r.err)
				}
			default:
				if r.err != nil || r.inst.State != rescue.StateActive {
					t.Fatalf("Get(%s): %+v, %v", r.id, r.inst, r.err)
				}
			}
		}
		// The lone GET, one listing, then the two ids it does not show on their own.
		if gets, listings := ff.counts(); gets != 3 || listings != 1 {
			t.Fatalf("%d GETs, %d listings; want 3 and 1", gets, listings)
		}
		// Another project's server is read on its own from now on, lone or not.
		if _, err := b.Get(context.Background(), ids[2]); err != nil {
			t.Fatal(err)
		}
		if gets, listings := ff.counts(); gets != 4 || listings != 1 {
			t.Fatalf("after a Get of the other project's server: %d GETs, %d listings; want 4 and 1", gets, listings)
		}
	})
}

// A Get waiting for a batch returns when its context ends; the batch still answers the others,
// and a batch none of whose callers waits any more is cancelled.
func TestBatchWaitEndsWithContext(t *testing.T) {
	ids := serverIDs(4)
	ff, b := newFleetFake(t, ids...)
	arrived, release := ff.holdNext(ids[0])
	first := getAll(context.Background(), b, ids[:1])
	arrived()
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	gone := getAll(short, b, ids[1:2])
	rest := getAll(context.Background(), b, ids[2:])
	r := <-gone
	if !errors.Is(r.err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Get with a context that ended: %v after %s", r.err, time.Since(start))
	}
	release()
	<-first
	for i := 0; i < 2; i++ {
		if r := <-rest; r.err != nil || r.inst.State != rescue.StateActive {
			t.Fatalf("Get(%s): %+v, %v", r.id, r.inst, r.err)
		}
	}
	// Nobody waits: the batch is dropped before its request, and the next Get is lone again.
	arrived, release = ff.holdNext(ids[0])
	gets0, listings0 := ff.counts()
	first = getAll(context.Background(), b, ids[:1])
	arrived()
	short2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if r := <-getAll(short2, b, ids[1:2]); r.err == nil {
		t.Fatal("Get with a context that ended succeeded")
	}
	release()
	<-first
	if _, err := b.Get(context.Background(), ids[3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if gets, listings := ff.counts(); gets != gets0+2 || listings != listings0 {
		t.Fatalf("%d GETs, %d listings more; want 2 (the held one, the Get after) and 0", gets-gets0, listings-listings0)
	}
}
