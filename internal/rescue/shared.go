package rescue

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"
)

// PollerEnv names the environment variable that picks the poller of NewEngine: "per-instance"
// selects the IntervalPoller (one timer and one read per wait, as before the shared poller),
// anything else the default (a SharedPoller when the backend is a BatchGetter). A debugging and
// benchmarking switch, documented in CONTRIBUTING.md.
const PollerEnv = "RESCUE_POLLER"

// DefaultPoller returns the poller NewEngine gives an engine over b: a SharedPoller when b can
// read many instances in one request (BatchGetter), unless RESCUE_POLLER=per-instance; the
// IntervalPoller otherwise. Both use DefaultBackoff.
func DefaultPoller(b Backend) Poller {
	if os.Getenv(PollerEnv) == "per-instance" {
		return NewPoller(DefaultBackoff)
	}
	if _, ok := b.(BatchGetter); ok {
		return NewSharedPoller(b, DefaultBackoff)
	}
	return NewPoller(DefaultBackoff)
}

// SharedPoller is a Poller whose waits share one goroutine and one read per tick: each tick
// reads every waiting instance with one BatchGetter.GetMany call and hands each waiter its
// instance (an id missing from the result is a NotFoundError for its waiter). Each waiter keeps
// the schedule of an IntervalPoller with the same Backoff, so a single wait is read as often
// as before; the first waiter due triggers the read, and every waiter read restarts its interval
// from that read, so that the waits fall into step and the reads per second do not grow with
// their number. When the backend also is a ChangeNotifier, a change it pushes for a waiting id
// triggers a read at once, and while its changes arrive a new waiter is read at once too (its
// instance may have changed before the wait began, which no change will report any more); when
// its channel closes, the ticks go on alone. Transient read errors (IsUnavailable) are retried
// until each waiter's deadline, not before the backend's Retry-After; a wait that times out says
// what it saw (TimeoutError) as IntervalPoller does.
// Without a BatchGetter, Wait is IntervalPoller.Wait.
type SharedPoller struct {
	// Backoff paces each waiter.
	Backoff Backoff

	batch  BatchGetter
	notify ChangeNotifier

	mu      sync.Mutex
	waiters map[*waiter]struct{}
	running bool
	pushed  bool          // the loop receives the backend's changes
	kick    chan struct{} // a waiter came or went (buffered 1)
	// cancelRead cancels the read under way (nil when none is).
	cancelRead context.CancelFunc
}

// NewSharedPoller returns a SharedPoller over b (which should be a BatchGetter, and may be a
// ChangeNotifier) with the given backoff.
func NewSharedPoller(b any, backoff Backoff) *SharedPoller {
	p := &SharedPoller{Backoff: backoff, waiters: map[*waiter]struct{}{}, kick: make(chan struct{}, 1)}
	p.batch, _ = b.(BatchGetter)
	p.notify, _ = b.(ChangeNotifier)
	return p
}

// waiter is one Wait registered with the shared loop. Its fields other than id, deadline and
// res are guarded by the poller's mu.
type waiter struct {
	id       string
	get      GetFunc   // reads the instance alone (when a batch read fails for good)
	deadline time.Time // zero when the wait has none
	res      chan readResult
	interval time.Duration // the current interval of its backoff
	next     time.Time     // when it wants its next read
	inFlight bool          // a read that includes it is under way
	unread   bool          // no read has answered it yet
}

// readResult is what one read told one waiter.
type readResult struct {
	inst  *Instance
	err   error
	start time.Time // when the read began
}

// deliver hands r to w, replacing a result it has not taken yet (called with mu held).
func (w *waiter) deliver(r readResult) {
	select {
	case <-w.res:
	default:
	}
	w.res <- r
}

// Wait implements Poller.
func (p *SharedPoller) Wait(ctx context.Context, op, instanceID string, get GetFunc, done DoneFunc) (*Instance, error) {
	if p.batch == nil {
		return (&IntervalPoller{Backoff: p.Backoff}).Wait(ctx, op, instanceID, get, done)
	}
	w := &waiter{id: instanceID, get: get, res: make(chan readResult, 1)}
	w.deadline, _ = ctx.Deadline()
	p.add(ctx, w)
	defer p.remove(w)
	var (
		last *Instance
		down outage
	)
	for {
		select {
		case <-ctx.Done():
			if r, ok := p.finalRead(ctx, w); ok {
				if inst, err, end := take(r, &last, &down, done, true); end {
					return inst, err
				}
			}
			return last, waitCtxErr(ctx, op, instanceID, last, &down)
		case r := <-w.res:
			if inst, err, end := take(r, &last, &down, done, false); end {
				return inst, err
			}
		}
	}
}

// take applies one read result to a wait; end says the wait is over with (inst, err). expired
// says the wait's context has ended: a read error then only adds to the outage.
func take(r readResult, last **Instance, down *outage, done DoneFunc, expired bool) (*Instance, error, bool) {
	if r.err != nil {
		if IsUnavailable(r.err) {
			down.saw(r.err, r.start)
			return nil, nil, false
		}
		if expired {
			return nil, nil, false
		}
		return *last, r.err, true
	}
	*down = outage{}
	*last = r.inst
	ok, err := done(r.inst)
	if err != nil {
		return r.inst, err, true
	}
	return r.inst, nil, ok
}

// finalRead waits, when ctx ended at its deadline while a read that includes w is under way,
// for that read's result: the read is bounded by the earliest deadline of its waiters, so it
// ends about now, and what it saw (a backend being retried) belongs in the TimeoutError. A
// grace bounds the wait in case the backend ignores its context.
func (p *SharedPoller) finalRead(ctx context.Context, w *waiter) (readResult, bool) {
	select {
	case r := <-w.res:
		return r, true
	default:
	}
	p.mu.Lock()
	inFlight := w.inFlight
	p.mu.Unlock()
	if !inFlight || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return readResult{}, false
	}
	grace := time.NewTimer(finalReadGrace)
	defer grace.Stop()
	select {
	case r := <-w.res:
		return r, true
	case <-grace.C:
		return readResult{}, false
	}
}

// finalReadGrace bounds how long a wait whose deadline came waits for the read under way.
const finalReadGrace = 2 * time.Second

// add registers w, due after the first interval, and starts the loop if it is not running.
func (p *SharedPoller) add(ctx context.Context, w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.interval = p.Backoff.Next(0)
	w.unread = true
	w.next = time.Now()
	if !p.pushed {
		w.next = w.next.Add(p.Backoff.jittered(w.interval))
	}
	p.waiters[w] = struct{}{}
	if !p.running {
		p.running = true
		go p.loop(context.WithoutCancel(ctx))
	}
	p.poke()
}

func (p *SharedPoller) remove(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.waiters, w)
	if len(p.waiters) == 0 && p.cancelRead != nil {
		p.cancelRead() // nobody waits for the read under way
	}
	p.poke()
}

// poke wakes the loop to look at its waiters again.
func (p *SharedPoller) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// idleLinger is how long the loop, and its subscription to the backend's changes, outlive the
// last waiter: the waits of one apply come one after another (a libvirt rescue's wait ends at
// its first read), and each new subscription would cost its round trips before the wait's first
// read, and their RPCs.
const idleLinger = 30 * time.Second

// loop reads for the waiters until there are none left (for idleLinger while it receives the
// backend's changes). base carries the values (loggers) of the context of the wait that
// started it, never its cancellation.
func (p *SharedPoller) loop(base context.Context) {
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	var changes <-chan string
	if p.notify != nil {
		if ch, err := p.notify.Changes(ctx); err == nil {
			changes = ch
			p.push(true)
		}
	}
	var notBefore time.Time // the backend's Retry-After
	for {
		due, ok := p.due(notBefore)
		if !ok {
			if changes != nil && p.idle(&changes) {
				continue
			}
			if p.stop() {
				return
			}
			continue
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.kick:
				t.Stop()
				continue
			case id, open := <-changes:
				t.Stop()
				if !open {
					changes = nil
					p.push(false)
					continue
				}
				ask := p.drainChanges(id, &changes)
				if changes == nil {
					p.push(false)
				}
				if !ask || time.Now().Before(notBefore) {
					continue
				}
			}
		}
		if ra := p.read(ctx); ra > 0 {
			notBefore = time.Now().Add(ra)
		}
	}
}

// push records whether the loop receives the backend's changes. From the moment it does, a
// waiter that has not been read yet is due at once: only its first read can see a change made
// before the subscription or before its wait began.
func (p *SharedPoller) push(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushed = on
	if !on {
		return
	}
	now := time.Now()
	for w := range p.waiters {
		if w.unread && !w.inFlight && w.next.After(now) {
			w.next = now
		}
	}
}

// idle waits, without waiters, for a new one (true) until idleLinger has passed or the changes
// end (false); the changes of the meantime concern nobody.
func (p *SharedPoller) idle(changes *<-chan string) bool {
	t := time.NewTimer(idleLinger)
	defer t.Stop()
	for {
		select {
		case <-p.kick:
			return true
		case <-t.C:
			return false
		case _, open := <-*changes:
			if !open {
				*changes = nil
				p.push(false)
				return false
			}
		}
	}
}

// stop marks the loop stopped when no waiter is left (true); a waiter that came meanwhile keeps
// it running (false).
func (p *SharedPoller) stop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 {
		return false
	}
	p.running, p.pushed = false, false
	return true
}

// due returns when the next read is due (the earliest waiter's next read, not before
// notBefore); ok is false when no waiter is left.
func (p *SharedPoller) due(notBefore time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) == 0 {
		return time.Time{}, false
	}
	var due time.Time
	for w := range p.waiters {
		if due.IsZero() || w.next.Before(due) {
			due = w.next
		}
	}
	if due.Before(notBefore) {
		due = notBefore
	}
	return due, true
}

// drainChanges takes the changes already queued after id; it reports whether any of them
// names a waiting instance. A closed channel is set to nil (the ticks go on alone).
func (p *SharedPoller) drainChanges(id string, changes *<-chan string) bool {
	ids := []string{id}
	for more := true; more; {
		select {
		case next, open := <-*changes:
			if !open {
				*changes = nil
				more = false
				break
			}
			ids = append(ids, next)
		default:
			more = false
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.waiters {
		for _, c := range ids {
			if w.id == c {
				return true
			}
		}
	}
	return false
}

// read reads every waiting instance with one GetMany and hands each waiter its result. It
// returns the backend's Retry-After when the read failed with one.
func (p *SharedPoller) read(ctx context.Context) time.Duration {
	ws, ids, deadline := p.snapshot()
	if len(ws) == 0 {
		return 0
	}
	var (
		rctx   context.Context
		cancel context.CancelFunc
	)
	if deadline.IsZero() {
		rctx, cancel = context.WithCancel(ctx)
	} else {
		// Bounded by the earliest deadline, so that the read under way when a wait ends says
		// what it saw in that wait's TimeoutError (see finalRead).
		rctx, cancel = context.WithDeadline(ctx, deadline)
	}
	p.mu.Lock()
	p.cancelRead = cancel
	p.mu.Unlock()
	start := time.Now()
	got, err := p.batch.GetMany(rctx, ids)
	var each map[string]readResult
	if err != nil && rctx.Err() == nil && !IsUnavailable(err) && len(ids) > 1 {
		// One instance the batch cannot read (a damaged journal, ...) must not end every
		// wait: this time each is read on its own, and gets its own answer.
		each = readEach(rctx, ws, start)
	}
	cut := err != nil && rctx.Err() != nil && ctx.Err() == nil
	cancel()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelRead = nil
	for _, w := range ws {
		w.inFlight = false
		r := readResult{start: start, err: err}
		if e, ok := each[w.id]; ok {
			r = e
		} else if err == nil {
			r.inst = got[w.id]
			if r.inst == nil {
				r.err = &NotFoundError{What: "instance", ID: w.id}
			}
		}
		expired := !w.deadline.IsZero() && !now.Before(w.deadline)
		if cut && !expired && !IsUnavailable(err) {
			// The read was cut at another wait's deadline: nothing learned for this one.
			w.next = now
			continue
		}
		w.deliver(r)
		w.unread = false
		w.interval = p.Backoff.Next(w.interval)
		w.next = now.Add(p.Backoff.jittered(w.interval))
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.RetryAfter
	}
	return 0
}

// readEach reads the instance of every waiter with its own get, once per id.
func readEach(ctx context.Context, ws []*waiter, start time.Time) map[string]readResult {
	out := make(map[string]readResult, len(ws))
	for _, w := range ws {
		if _, done := out[w.id]; done || w.get == nil {
			continue
		}
		inst, err := w.get(ctx)
		out[w.id] = readResult{inst: inst, err: err, start: start}
	}
	return out
}

// snapshot marks every waiter as part of the read about to begin and returns them, their
// distinct ids and their earliest deadline.
func (p *SharedPoller) snapshot() ([]*waiter, []string, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*waiter, 0, len(p.waiters))
	seen := make(map[string]bool, len(p.waiters))
	var ids []string
	var deadline time.Time
	now := time.Now()
	for w := range p.waiters {
		if !w.deadline.IsZero() && !now.Before(w.deadline) {
			continue // its wait is ending
		}
		ws = append(ws, w)
		w.inFlight = true
		if !seen[w.id] {
			seen[w.id] = true
			ids = append(ids, w.id)
		}
		if !w.deadline.IsZero() && (deadline.IsZero() || w.deadline.Before(deadline)) {
			deadline = w.deadline
		}
	}
	return ws, ids, deadline
}
