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

// batchState is what GetMany knows of the project's servers between listings.
type batchState struct {
	mu sync.Mutex
	// known holds the last listed state of every server of the project (the fields the
	// mapping reads), by lower-case id; it is current as of since.
	known map[string]*servers.Server
	// since is Nova's time (its Date header) when the last listing began; zero before the first.
	since time.Time
	// fullAt is when the last full listing was made (local clock).
	fullAt time.Time
	// foreign are ids a listing does not show but GET /servers/{id} finds (another project's
	// servers, for an administrator): read one by one.
	foreign map[string]bool
	// gone are ids listed as DELETED since the last full listing.
	gone map[string]bool
}

// GetMany implements rescue.BatchGetter for the shared poller: one paged GET /servers/detail
// for all ids (narrowed by changes-since to what changed since the previous call; Nova's uuid
// filter is for administrators only and takes one value, so it cannot narrow a batch), mapped as
// Get maps a server. A single id is read with GET /servers/{id}, which costs one request too and
// lists nothing. A server Nova lists as DELETED, or that neither a full listing nor its own GET
// finds, is left out of the result (not found).
func (b *Backend) GetMany(ctx context.Context, ids []string) (map[string]*rescue.Instance, error) {
	out := make(map[string]*rescue.Instance, len(ids))
	if len(ids) == 1 {
		inst, err := b.Get(ctx, ids[0])
		if rescue.IsNotFound(err) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[ids[0]] = inst
		return out, nil
	}
	st := &b.batch
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := b.listChanges(ctx, st.needFull(ids)); err != nil {
		return nil, err
	}
	for _, id := range ids {
		key := strings.ToLower(id)
		if s, ok := st.known[key]; ok {
			out[id] = b.serverInstance(id, s)
			continue
		}
		if st.gone[key] {
			continue
		}
		// Not in the project's listing: another project's server, or gone.
		inst, err := b.Get(ctx, id)
		switch {
		case rescue.IsNotFound(err):
			delete(st.foreign, key)
		case err != nil:
			return nil, err
		default:
			st.foreign[key] = true
			out[id] = inst
		}
	}
	return out, nil
}

// needFull says whether the next listing must list every server: none was made yet, the last
// full one is old, or an id is not known (a server created since, whose updated_at Nova leaves
// empty, never shows under changes-since).
func (st *batchState) needFull(ids []string) bool {
	if st.known == nil || st.since.IsZero() || time.Since(st.fullAt) > batchFullEvery {
		return true
	}
	for _, id := range ids {
		key := strings.ToLower(id)
		if _, ok := st.known[key]; !ok && !st.foreign[key] && !st.gone[key] {
			return true
		}
	}
	return false
}

// listChanges lists the project's servers (all of them when full, else those changed since
// the previous listing) and updates what is known of them.
func (b *Backend) listChanges(ctx context.Context, full bool) error {
	st := &b.batch
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return err
	}
	opts := servers.ListOpts{Limit: listPageSize}
	if !full {
		opts.ChangesSince = st.since.Add(-changesSinceMargin).UTC().Format(time.RFC3339)
	}
	begun := time.Now()
	var (
		date time.Time
		seen = map[string]*servers.Server{}
	)
	err = servers.List(c, opts).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		if date.IsZero() {
			date = pageDate(page, begun)
		}
		list, err := servers.ExtractServers(page)
		if err != nil {
			return false, err
		}
		for i := range list {
			s := &list[i]
			seen[strings.ToLower(s.ID)] = &servers.Server{ID: s.ID, Name: s.Name, Status: s.Status, TaskState: s.TaskState, Fault: s.Fault}
		}
		return true, nil
	})
	if err != nil {
		return triedFor(listError(err), time.Since(begun))
	}
	if full || st.known == nil {
		st.known, st.gone, st.fullAt = map[string]*servers.Server{}, map[string]bool{}, begun
		if st.foreign == nil {
			st.foreign = map[string]bool{}
		}
	}
	for key, s := range seen {
		if s.Status == "DELETED" {
			delete(st.known, key)
			st.gone[key] = true
			continue
		}
		delete(st.gone, key)
		st.known[key] = s
		delete(st.foreign, key)
	}
	st.since = date
	b.debug(ctx, "listed servers for the waits", map[string]any{"full": full, "changes_since": opts.ChangesSince, "servers": len(seen)})
	return nil
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
