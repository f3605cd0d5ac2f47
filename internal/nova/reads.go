package nova

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
)

// Coalesced reads of servers. Terraform walks its graph in parallel, so one plan, apply, refresh
// or destroy of N resources reads N servers at about the same moment (the validation of each
// plan, the read before a rescue or an unrescue, the refresh, the waits). Those reads share
// requests: a read of one server that finds no read of servers under way is one
// GET /servers/{id}, as a lone read always was; the reads asked while one is under way join the
// next batch, which starts as soon as nothing is under way and answers all of them with one
// listing (paged GET /servers/detail, changes-since and the known states: batch.go). A read joins
// only a batch whose request has not begun, so that what it returns is never older than the
// moment it was asked. An id the listing does not show (another project's server, for an
// administrator; a server that is gone) is read on its own, and its caller gets that GET's
// answer or error, as a lone read would.

// readsAlone bounds the GETs of single servers one batch makes at the same time (the ids its
// listing does not show).
const readsAlone = 4

// readGroup coalesces the concurrent reads of servers of one backend.
type readGroup struct {
	// alone turns the coalescing off: every read is its own GET (RESCUE_POLLER=per-instance).
	alone bool

	mu   sync.Mutex
	busy bool       // a read of servers (a lone GET or a batch) is under way
	next *readBatch // the reads waiting for the next batch; nil when none
}

// readBatch is one batch of reads: the ids asked before its request began, and its answers.
type readBatch struct {
	ids    []string        // lower-case, distinct
	asked  map[string]bool // the same, as a set
	ctx    context.Context // the batch's own: cancelled when none of its callers waits any more
	cancel context.CancelFunc
	// waiting counts the callers waiting for the batch, and first says one of them reads for
	// the shared poller (ratelimit.First); both guarded by readGroup.mu until the batch begins.
	waiting int
	first   bool
	done    chan struct{}
	// got (by lower-case id) and err are set before done is closed; err, the listing's, is
	// every caller's.
	got map[string]serverRead
	err error
}

// serverRead is one server as a read found it, or the error of reading it on its own.
type serverRead struct {
	s    *servers.Server
	lock lockState
	err  error
}

// readServer reads one server: alone when no read of servers is under way (or it is known to be
// another project's), else with the next batch.
func (b *Backend) readServer(ctx context.Context, id string) (*servers.Server, lockState, error) {
	r, err := b.readServers(ctx, []string{id})
	if err != nil {
		return nil, lockState{}, fmt.Errorf("read instance %s: %w", id, err)
	}
	return r[0].s, r[0].lock, r[0].err
}

// readServers reads the servers ids (in their order). The error is the batch's listing's, or the
// end of ctx; the error of a server read on its own is in its serverRead.
func (b *Backend) readServers(ctx context.Context, ids []string) ([]serverRead, error) {
	if b.reads.alone || (len(ids) == 1 && b.batch.isForeign(ids[0])) {
		out := make([]serverRead, len(ids))
		for i, id := range ids {
			out[i] = b.getServer(ctx, id)
		}
		return out, nil
	}
	g := &b.reads
	g.mu.Lock()
	if len(ids) == 1 && !g.busy {
		g.busy = true
		g.mu.Unlock()
		r := b.getServer(ctx, ids[0])
		b.readDone()
		return []serverRead{r}, nil
	}
	rb := g.next
	if rb == nil {
		rb = newReadBatch(ctx)
		g.next = rb
	}
	rb.add(ids)
	rb.waiting++
	rb.first = rb.first || ratelimit.IsFirst(ctx)
	start := !g.busy
	if start {
		g.busy, g.next = true, nil
	}
	g.mu.Unlock()
	if start {
		go b.runBatch(rb)
	}
	return b.waitBatch(ctx, rb, ids)
}

func newReadBatch(ctx context.Context) *readBatch {
	// Detached from the caller that opened it (its values, the loggers, stay): the batch answers
	// every caller that joins it, and ends when none of them waits any more.
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &readBatch{asked: map[string]bool{}, ctx: bctx, cancel: cancel, done: make(chan struct{})}
}

func (rb *readBatch) add(ids []string) {
	for _, id := range ids {
		key := strings.ToLower(id)
		if !rb.asked[key] {
			rb.asked[key] = true
			rb.ids = append(rb.ids, key)
		}
	}
}

// readDone ends the read under way and starts the next batch, if reads wait for one.
func (b *Backend) readDone() {
	g := &b.reads
	g.mu.Lock()
	rb := g.next
	g.busy, g.next = rb != nil, nil
	g.mu.Unlock()
	if rb != nil {
		go b.runBatch(rb)
	}
}

// waitBatch waits for the answers of rb to ids, or until ctx ends (a batch that none of its
// callers waits for any more is cancelled, or dropped before it began).
func (b *Backend) waitBatch(ctx context.Context, rb *readBatch, ids []string) ([]serverRead, error) {
	select {
	case <-rb.done:
	case <-ctx.Done():
		g := &b.reads
		g.mu.Lock()
		rb.waiting--
		if rb.waiting == 0 {
			if g.next == rb {
				g.next = nil
			}
			rb.cancel()
		}
		g.mu.Unlock()
		return nil, fmt.Errorf("wait for the read of the servers: %w", ctx.Err())
	}
	if rb.err != nil {
		return nil, rb.err
	}
	out := make([]serverRead, len(ids))
	for i, id := range ids {
		out[i] = rb.got[strings.ToLower(id)]
	}
	return out, nil
}

// runBatch makes the request(s) of one batch: one GET for a single id, else one listing, then
// a GET of each id it does not show.
func (b *Backend) runBatch(rb *readBatch) {
	defer b.readDone()
	defer rb.cancel()
	defer close(rb.done)
	rb.got = make(map[string]serverRead, len(rb.ids))
	ctx := rb.ctx
	if rb.first {
		ctx = ratelimit.First(ctx)
	}
	if len(rb.ids) == 1 {
		rb.got[rb.ids[0]] = b.getServer(ctx, rb.ids[0])
		return
	}
	missing, err := b.listKnown(ctx, rb.ids, rb.got)
	if err != nil {
		rb.err = err
		return
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		sem = make(chan struct{}, readsAlone)
	)
	for _, id := range missing {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := b.getServer(ctx, id)
			b.batch.sawAlone(id, r.err)
			mu.Lock()
			rb.got[id] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// getServer is one GET /servers/{id}.
func (b *Backend) getServer(ctx context.Context, id string) serverRead {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return serverRead{err: err}
	}
	start := time.Now()
	r := servers.Get(ctx, c, id)
	s, err := r.Extract()
	if err != nil {
		return serverRead{err: triedFor(getError(id, err), time.Since(start))}
	}
	return serverRead{s: s, lock: lockOf(r, s)}
}
