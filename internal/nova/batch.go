package nova

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.BatchGetter = (*Backend)(nil)

// The shared poller's listings (GetMany): after a full listing of the project's servers, each
// tick asks only for the servers that changed since the previous listing (changes-since, on
// Nova's own clock, minus changesSinceMargin for the clocks of its other hosts and for updates
// committed late); a full listing again at least every batchFullEvery, or when an id is not
// known yet.
const (
	changesSinceMargin = 5 * time.Second
	batchFullEvery     = time.Minute
)

// batchState is what the batch reads know of the project's servers between listings.
type batchState struct {
	// listMu makes the listings one at a time, so that a listing never overwrites what a later
	// one learned.
	listMu sync.Mutex
	// mu guards the fields below (never held during a request).
	mu sync.Mutex
	// known holds the last listed state of every server of the project (the fields the
	// mappings and the validation read), by lower-case id; it is current as of since.
	known map[string]*knownServer
	// since is Nova's time when the last listing began at the latest (its Date header minus
	// the time the listing took); zero before the first.
	since time.Time
	// fullAt is when the last full listing was made (local clock).
	fullAt time.Time
	// foreign are ids a listing does not show but GET /servers/{id} finds (another project's
	// servers, for an administrator): read one by one.
	foreign map[string]bool
	// gone are ids listed as DELETED, or not found by their own GET, since the last full
	// listing, with their not-found error.
	gone map[string]error
}

// knownServer is one server as a listing showed it.
type knownServer struct {
	s    *servers.Server
	lock lockState
}

// GetMany implements rescue.BatchGetter for the shared poller: the reads of ids join the next
// batch read of servers (reads.go), one paged GET /servers/detail for all ids (narrowed by
// changes-since to what changed since the previous listing; Nova's uuid filter is for
// administrators only and takes one value, so it cannot narrow a batch), mapped as Get maps a
// server. A single id with no read under way is read with GET /servers/{id}, which costs one
// request too and lists nothing. A server that neither the listing nor its own GET finds is left
// out of the result (not found).
func (b *Backend) GetMany(ctx context.Context, ids []string) (map[string]*rescue.Instance, error) {
	out := make(map[string]*rescue.Instance, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// One read answers every waiting instance: it goes before the requests queued for the rate
	// limit (a burst of rescue POSTs would hold it for seconds, and every wait with it).
	reads, err := b.readServers(ratelimit.First(ctx), ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		r := reads[i]
		switch {
		case rescue.IsNotFound(r.err):
			continue
		case r.err != nil:
			return nil, r.err
		}
		out[id] = b.serverInstance(id, r.s)
	}
	return out, nil
}

// listKnown lists the servers (listChanges) and puts each of ids (lower-case) that the project's
// servers include in got; it returns the others.
func (b *Backend) listKnown(ctx context.Context, ids []string, got map[string]serverRead) ([]string, error) {
	st := &b.batch
	st.listMu.Lock()
	defer st.listMu.Unlock()
	if err := b.listChanges(ctx, st.needFull(ids)); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var missing []string
	for _, key := range ids {
		if k, ok := st.known[key]; ok {
			got[key] = serverRead{s: k.s, lock: k.lock}
			continue
		}
		if err := st.gone[key]; err != nil {
			got[key] = serverRead{err: err} // deleted: for good
			continue
		}
		missing = append(missing, key)
	}
	return missing, nil
}

// isForeign reports whether id is known as a server the project's listing does not show.
func (st *batchState) isForeign(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.foreign[strings.ToLower(id)]
}

// sawAlone records what the GET of a server the listing did not show found.
func (st *batchState) sawAlone(key string, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.foreign == nil {
		st.foreign, st.gone = map[string]bool{}, map[string]error{}
	}
	switch {
	case rescue.IsNotFound(err):
		delete(st.foreign, key)
		st.gone[key] = err
	case err == nil:
		st.foreign[key] = true
	}
}

// needFull says whether the next listing must list every server: none was made yet, the last
// full one is old, or an id is not known (a server created since, whose updated_at Nova leaves
// empty, never shows under changes-since).
func (st *batchState) needFull(ids []string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.known == nil || st.since.IsZero() || time.Since(st.fullAt) > batchFullEvery {
		return true
	}
	for _, id := range ids {
		key := strings.ToLower(id)
		if _, ok := st.known[key]; !ok && !st.foreign[key] && st.gone[key] == nil {
			return true
		}
	}
	return false
}

// listChanges lists the project's servers (all of them when full, else those changed since
// the previous listing) and updates what is known of them. The caller holds listMu.
func (b *Backend) listChanges(ctx context.Context, full bool) error {
	st := &b.batch
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return err
	}
	opts := servers.ListOpts{Limit: listPageSize}
	st.mu.Lock()
	if !full {
		opts.ChangesSince = st.since.Add(-changesSinceMargin).UTC().Format(time.RFC3339)
	}
	st.mu.Unlock()
	begun := time.Now()
	var (
		since time.Time
		seen  = map[string]*knownServer{}
	)
	err = servers.List(c, opts).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		if since.IsZero() {
			// Nova read the servers at most the time since begun before its Date (whole
			// seconds of it: the Date header has no fraction, and changesSinceMargin covers
			// more than one).
			since = pageDate(page, begun).Add(-time.Since(begun).Truncate(time.Second))
		}
		return true, listedPage(page, seen)
	})
	if err != nil {
		return triedFor(listError(err), time.Since(begun))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.learn(full, seen, begun)
	st.since = since
	b.debug(ctx, "listed servers", map[string]any{"full": full, "changes_since": opts.ChangesSince, "servers": len(seen)})
	return nil
}

// listedPage adds the servers of one listing page to seen, by lower-case id.
func listedPage(page pagination.Page, seen map[string]*knownServer) error {
	list, err := servers.ExtractServers(page)
	if err != nil {
		return err
	}
	// locked_reason (microversion 2.73) is not a field of servers.Server.
	var reasons []struct {
		ID           string  `json:"id"`
		LockedReason *string `json:"locked_reason"`
	}
	if err := servers.ExtractServersInto(page, &reasons); err != nil {
		return err
	}
	why := make(map[string]string, len(reasons))
	for _, r := range reasons {
		if r.LockedReason != nil {
			why[r.ID] = *r.LockedReason
		}
	}
	for i := range list {
		s := &list[i]
		k := &knownServer{s: &servers.Server{ID: s.ID, Name: s.Name, Status: s.Status, TaskState: s.TaskState,
			Fault: s.Fault, Image: s.Image, Locked: s.Locked}}
		if s.Locked != nil {
			k.lock = lockState{Locked: *s.Locked, Reason: why[s.ID]}
		}
		seen[strings.ToLower(s.ID)] = k
	}
	return nil
}

// learn updates what is known with the servers a listing begun at begun saw (all of them when
// full). The caller holds mu.
func (st *batchState) learn(full bool, seen map[string]*knownServer, begun time.Time) {
	if full || st.known == nil {
		st.known, st.gone, st.fullAt = map[string]*knownServer{}, map[string]error{}, begun
		if st.foreign == nil {
			st.foreign = map[string]bool{}
		}
	}
	for key, k := range seen {
		if k.s.Status == "DELETED" {
			delete(st.known, key)
			st.gone[key] = &rescue.NotFoundError{What: "instance", ID: k.s.ID} // Nova lists it as DELETED
			continue
		}
		delete(st.gone, key)
		st.known[key] = k
		delete(st.foreign, key)
	}
}

// pageDate is Nova's time of a listing page (its Date header), or the local time the listing
// began when it has none.
func pageDate(page pagination.Page, begun time.Time) time.Time {
	if sp, ok := page.(servers.ServerPage); ok && sp.Header != nil {
		if t, err := http.ParseTime(sp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return begun
}

// listError maps the error of GET /servers/detail. 429, 5xx and transient transport errors are
// marked rescue.ErrUnavailable (the waits retry them).
func listError(err error) error {
	if _, _, ok := httpStatus(err); ok {
		return markUnavailable(markAuth(fmt.Errorf("list servers: Nova answered %s", describe(err)), err, http.StatusUnauthorized), err)
	}
	return markUnavailable(markAuth(fmt.Errorf("list servers: %w", err), err), err)
}

// serverInstance maps a server read from Nova (GET /servers/{id} or a listing) to the engine's
// Instance, as id was asked for: the state, what this process learns from it about its own
// operations (observe), and a live operation of another run (InProgress).
func (b *Backend) serverInstance(id string, s *servers.Server) *rescue.Instance {
	inst := instanceOf(s)
	b.observe(id, inst.State)
	if ip := b.liveOther(id); ip != nil {
		inst.InProgress = ip
	}
	return inst
}
