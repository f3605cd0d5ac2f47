package rescue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// scriptedBatch is a BatchGetter whose instances are all in one state until the test changes
// it; it records every GetMany call. errs are returned by the next calls, one each.
type scriptedBatch struct {
	mu      sync.Mutex
	state   rescue.State
	missing map[string]bool // ids left out of every result
	errs    []error
	calls   [][]string
	at      []time.Time // when each call began
	running int         // calls under way
	overlap bool        // two calls were under way at once
	called  chan int    // receives the number of ids of each call, when set
}

func newScripted(s rescue.State) *scriptedBatch {
	return &scriptedBatch{state: s, missing: map[string]bool{}}
}

func (b *scriptedBatch) GetMany(ctx context.Context, ids []string) (map[string]*rescue.Instance, error) {
	b.mu.Lock()
	b.running++
	b.overlap = b.overlap || b.running > 1
	b.calls = append(b.calls, append([]string(nil), ids...))
	b.at = append(b.at, time.Now())
	var err error
	if len(b.errs) > 0 {
		err, b.errs = b.errs[0], b.errs[1:]
	}
	out := map[string]*rescue.Instance{}
	for _, id := range ids {
		if !b.missing[id] {
			out[id] = &rescue.Instance{ID: id, State: b.state, Status: strings.ToUpper(string(b.state))}
		}
	}
	called := b.called
	b.running--
	b.mu.Unlock()
	if called != nil {
		select {
		case called <- len(ids):
		case <-ctx.Done():
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b *scriptedBatch) set(s rescue.State) {
	b.mu.Lock()
	b.state = s
	b.mu.Unlock()
}

func (b *scriptedBatch) nCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// scriptedNotifier is a ChangeNotifier whose channel the test feeds.
type scriptedNotifier struct {
	*scriptedBatch
	ch chan string
}

func (n *scriptedNotifier) Changes(context.Context) (<-chan string, error) { return n.ch, nil }

var fastBackoff = rescue.Backoff{First: time.Millisecond, Factor: 2, Max: 4 * time.Millisecond}

func untilRescued(i *rescue.Instance) (bool, error) {
	if i.State == rescue.StateError {
		return false, &rescue.FailedError{Op: "rescue", InstanceID: i.ID, Reason: "error"}
	}
	return i.State == rescue.StateRescued, nil
}

func noGet(context.Context) (*rescue.Instance, error) {
	return nil, errors.New("the shared poller must not call the per-instance get")
}

// 50 concurrent waits: once all are waiting, every read covers all of them (one request per
// tick), reads never overlap, and one read after the change ends every wait.
func TestSharedPollerOneRequestPerTick(t *testing.T) {
	b := newScripted(rescue.StateRescuing)
	b.called = make(chan int)
	p := rescue.NewSharedPoller(b, fastBackoff)
	const n = 50
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := p.Wait(context.Background(), "rescue", fmt.Sprintf("i%02d", i), noGet, untilRescued)
			errs <- err
		}()
	}
	// Reads go on until one covers all 50 waits.
	for got := 0; got < n; got = <-b.called {
	}
	b.set(rescue.StateRescued)
	go func() {
		for range b.called {
		}
	}()
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.overlap {
		t.Fatal("two reads were under way at once")
	}
	full := 0
	for _, c := range b.calls {
		if len(c) == n {
			full++
		}
	}
	// The read that saw the change ended all 50 waits: after the first full read, at most one
	// more full read (under way when the state changed) and the one that saw it.
	if full < 1 || full > 3 {
		t.Fatalf("%d reads covered all %d waits, want 1 to 3 (calls: %d)", full, n, len(b.calls))
	}
	t.Logf("%d waits took %d reads in all", n, len(b.calls))
}

// Each waiter has its own deadline: one times out with what it saw, the other goes on and
// ends when its instance is rescued.
func TestSharedPollerDeadlinePerWaiter(t *testing.T) {
	b := newScripted(rescue.StateRescuing)
	p := rescue.NewSharedPoller(b, fastBackoff)
	long := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background(), "rescue", "long", noGet, untilRescued)
		long <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Wait(ctx, "rescue", "short", noGet, untilRescued)
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || te.InstanceID != "short" || te.Last != "RESCUING" || te.LastErr != nil {
		t.Fatalf("short wait: %v, want a TimeoutError with last state RESCUING", err)
	}
	select {
	case err := <-long:
		t.Fatalf("the long wait ended with the short one: %v", err)
	default:
	}
	b.set(rescue.StateRescued)
	if err := <-long; err != nil {
		t.Fatal(err)
	}
}

// Transient errors are retried; a wait whose deadline comes during an outage says for how
// long and what the backend answered; a permanent error ends every wait at once.
func TestSharedPollerTransientAndPermanentErrors(t *testing.T) {
	b := newScripted(rescue.StateRescued)
	b.errs = unavailable(20)
	p := rescue.NewSharedPoller(b, fastBackoff)
	if inst, err := p.Wait(context.Background(), "rescue", "i1", noGet, untilRescued); err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("after 20 transient errors: %+v, %v", inst, err)
	}

	b.errs = append([]error{nil}, unavailable(100000)...)
	b.set(rescue.StateRescuing)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Wait(ctx, "rescue", "i1", noGet, untilRescued)
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || te.Last != "RESCUING" || te.LastErr == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("got %v, want a TimeoutError that says the backend answered 503", err)
	}

	// Both waits are in the reads before the permanent error comes.
	perm := errors.New("some error nobody marked")
	b.mu.Lock()
	b.errs, b.called = nil, make(chan int)
	b.mu.Unlock()
	// A batch that fails for good is followed by a read of each instance on its own: one
	// instance the batch cannot read does not end the other's wait ("b" reads fine alone).
	errs := make(chan error, 2)
	for _, id := range []string{"a", "b"} {
		get := func(context.Context) (*rescue.Instance, error) {
			if id == "a" {
				return nil, perm
			}
			return &rescue.Instance{ID: id, State: rescue.StateRescued}, nil
		}
		go func() {
			_, err := p.Wait(context.Background(), "rescue", id, get, untilRescued)
			errs <- err
		}()
	}
	for got := 0; got < 2; got = <-b.called {
	}
	b.mu.Lock()
	b.errs = []error{perm}
	b.mu.Unlock()
	go func() {
		for range b.called {
		}
	}()
	var failed, ok int
	for i := 0; i < 2; i++ {
		switch err := <-errs; {
		case errors.Is(err, perm):
			failed++
		case err == nil:
			ok++
		default:
			t.Fatalf("got %v, want %v or success", err, perm)
		}
	}
	if failed != 1 || ok != 1 {
		t.Fatalf("%d waits failed and %d succeeded, want 1 and 1", failed, ok)
	}
}

// The backend's Retry-After holds the next read back, for every waiter.
func TestSharedPollerHonoursRetryAfter(t *testing.T) {
	b := newScripted(rescue.StateRescued)
	b.errs = []error{&rescue.UnavailableError{Err: errors.New("HTTP 429"), RetryAfter: 150 * time.Millisecond}}
	p := rescue.NewSharedPoller(b, fastBackoff)
	if _, err := p.Wait(context.Background(), "rescue", "i1", noGet, untilRescued); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.at) < 2 {
		t.Fatalf("%d reads", len(b.at))
	}
	// A lower bound only: the backend asked for 150 ms, the backoff alone is a few ms.
	if d := b.at[1].Sub(b.at[0]); d < 150*time.Millisecond {
		t.Fatalf("read again after %v, before the Retry-After of 150ms", d)
	}
}

// An id the backend leaves out of its result does not exist: NotFoundError for its waiter
// only.
func TestSharedPollerNotFound(t *testing.T) {
	b := newScripted(rescue.StateRescuing)
	b.missing["gone"] = true
	p := rescue.NewSharedPoller(b, fastBackoff)
	other := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background(), "rescue", "here", noGet, untilRescued)
		other <- err
	}()
	_, err := p.Wait(context.Background(), "rescue", "gone", noGet, untilRescued)
	var nf *rescue.NotFoundError
	if !errors.As(err, &nf) || nf.ID != "gone" || !rescue.IsNotFound(err) {
		t.Fatalf("got %v, want a NotFoundError for gone", err)
	}
	b.set(rescue.StateRescued)
	if err := <-other; err != nil {
		t.Fatal(err)
	}
}

// A change pushed for a waiting id is read at once: with a tick of an hour, the wait still
// ends; when the notifier's channel closes, the ticks take over. (The wait's first read comes at
// once too, see TestSharedPollerReadsNewWaiterAtOnce.)
func TestSharedPollerWakesOnChanges(t *testing.T) {
	n := &scriptedNotifier{scriptedBatch: newScripted(rescue.StateRescuing), ch: make(chan string)}
	n.called = make(chan int, 8)
	p := rescue.NewSharedPoller(n, rescue.Backoff{First: time.Hour, Factor: 1, Max: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background(), "rescue", "i1", noGet, untilRescued)
		done <- err
	}()
	<-n.called             // the first read, at once: still rescuing
	n.ch <- "someone-else" // not waited for: no read
	n.ch <- "someone-else" // (taken once the first one was dealt with)
	n.set(rescue.StateRescued)
	n.ch <- "i1"
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := n.nCalls(); c != 2 {
		t.Fatalf("%d reads, want 2 (the wait's first and the one the change of i1 asked for)", c)
	}

	closed := &scriptedNotifier{scriptedBatch: newScripted(rescue.StateRescued), ch: make(chan string)}
	close(closed.ch)
	if _, err := rescue.NewSharedPoller(closed, fastBackoff).Wait(context.Background(), "rescue", "i1", noGet, untilRescued); err != nil {
		t.Fatal(err)
	}
}

// With a backend that pushes changes, a new wait is read at once, not after its first
// interval: its instance may have reached its state before the wait began (a libvirt rescue
// is done when Rescue returns), and no change will say so any more. With a tick of an hour, the
// waits end, the second one while the first still waits; without a notifier, the first read
// waits for the tick (a Nova server is not read before its first interval).
func TestSharedPollerReadsNewWaiterAtOnce(t *testing.T) {
	hour := rescue.Backoff{First: time.Hour, Factor: 1, Max: time.Hour}
	n := &scriptedNotifier{scriptedBatch: newScripted(rescue.StateRescued), ch: make(chan string)}
	p := rescue.NewSharedPoller(n, hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx, "rescue", "i1", noGet, untilRescued); err != nil {
		t.Fatalf("first wait: %v", err)
	}
	stuck := make(chan error, 1)
	go func() {
		_, err := p.Wait(ctx, "rescue", "i2", noGet, func(*rescue.Instance) (bool, error) { return false, nil })
		stuck <- err
	}()
	if _, err := p.Wait(ctx, "rescue", "i3", noGet, untilRescued); err != nil {
		t.Fatalf("a wait beside a running one: %v", err)
	}
	cancel()
	<-stuck

	plain := newScripted(rescue.StateRescued)
	short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	if _, err := rescue.NewSharedPoller(plain, hour).Wait(short, "rescue", "i1", noGet, untilRescued); err == nil {
		t.Fatal("without a notifier the wait was answered before its first interval")
	}
}

// countingNotifier is a scriptedNotifier that counts the subscriptions (Changes calls).
type countingNotifier struct {
	*scriptedNotifier
	subs atomic.Int32
}

func (n *countingNotifier) Changes(ctx context.Context) (<-chan string, error) {
	n.subs.Add(1)
	return n.scriptedNotifier.Changes(ctx)
}

// Waits that come one after another (each libvirt rescue's wait ends at its first read) share
// one subscription to the backend's changes: the loop outlives its last waiter for a while.
func TestSharedPollerKeepsItsSubscription(t *testing.T) {
	n := &countingNotifier{scriptedNotifier: &scriptedNotifier{scriptedBatch: newScripted(rescue.StateRescued), ch: make(chan string)}}
	p := rescue.NewSharedPoller(n, rescue.Backoff{First: time.Hour, Factor: 1, Max: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []string{"i1", "i2", "i3"} {
		if _, err := p.Wait(ctx, "rescue", id, noGet, untilRescued); err != nil {
			t.Fatalf("wait for %s: %v", id, err)
		}
		time.Sleep(100 * time.Millisecond) // a pause between waits, as between rescues
	}
	if s, c := n.subs.Load(), n.nCalls(); s != 1 || c != 3 {
		t.Fatalf("%d subscriptions and %d reads for 3 waits in a row, want 1 and 3", s, c)
	}
}

// getOnly is a Backend that is not a BatchGetter.
type getOnly struct{ *fakeBackend }

// Without a BatchGetter the shared poller reads each instance with its own get.
func TestSharedPollerWithoutBatchGetter(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)}}
	p := rescue.NewSharedPoller(getOnly{f}, fastBackoff)
	get := func(ctx context.Context) (*rescue.Instance, error) { return f.Get(ctx, "i1") }
	if inst, err := p.Wait(context.Background(), "rescue", "i1", get, untilRescued); err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("%+v, %v", inst, err)
	}
	if f.gets != 2 {
		t.Fatalf("%d gets, want 2", f.gets)
	}
}

// batchBackend is the fake backend with a GetMany.
type batchBackend struct {
	*fakeBackend
	*scriptedBatch
}

func TestDefaultPoller(t *testing.T) {
	bb := batchBackend{fakeBackend: &fakeBackend{}, scriptedBatch: newScripted(rescue.StateActive)}
	if _, ok := rescue.DefaultPoller(bb).(*rescue.SharedPoller); !ok {
		t.Fatal("a BatchGetter does not get the shared poller")
	}
	if _, ok := rescue.DefaultPoller(getOnly{&fakeBackend{}}).(*rescue.IntervalPoller); !ok {
		t.Fatal("a backend without GetMany does not get the per-instance poller")
	}
	t.Setenv(rescue.PollerEnv, "per-instance")
	if _, ok := rescue.DefaultPoller(bb).(*rescue.IntervalPoller); !ok {
		t.Fatal("RESCUE_POLLER=per-instance does not select the per-instance poller")
	}
}

// stalledBatch answers its first read, then holds every read until its context ends and fails
// it as a transport that was retrying a 503 would.
type stalledBatch struct{ calls atomic.Int32 }

func (s *stalledBatch) GetMany(ctx context.Context, ids []string) (map[string]*rescue.Instance, error) {
	if s.calls.Add(1) == 1 {
		return map[string]*rescue.Instance{ids[0]: {ID: ids[0], State: rescue.StateRescuing, Status: "ACTIVE/rescuing"}}, nil
	}
	<-ctx.Done()
	return nil, rescue.Unavailable(fmt.Errorf("GET /servers/detail: waiting to retry after 503 Service Unavailable: %w", ctx.Err()))
}

// The read under way when a wait's deadline comes is cut at that deadline, and what it saw is in
// the wait's TimeoutError (as the per-instance poller's read with the wait's own context).
func TestSharedPollerTimeoutDuringARead(t *testing.T) {
	s := &stalledBatch{}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := rescue.NewSharedPoller(s, fastBackoff).Wait(ctx, "rescue", "i1", noGet, untilRescued)
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || te.Last != "ACTIVE/rescuing" || te.LastErr == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want a TimeoutError that says the backend was being retried", err)
	}
}

// batchOf gives a Get-only backend a GetMany that reads each id with Get, the errors included:
// the engine's tests of waits, run through the shared poller.
type batchOf struct{ rescue.Backend }

func (b batchOf) GetMany(ctx context.Context, ids []string) (map[string]*rescue.Instance, error) {
	out := map[string]*rescue.Instance{}
	for _, id := range ids {
		inst, err := b.Get(ctx, id)
		if rescue.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = inst
	}
	return out, nil
}

func sharedEngine(b rescue.Backend) *rescue.Engine {
	return &rescue.Engine{Backend: b, Poller: rescue.NewSharedPoller(batchOf{b}, fastBackoff)}
}

// The engine's rescue and unrescue through the shared poller: transient failures ridden out,
// a revert reported, a gone instance a success of unrescue.
func TestEngineWithSharedPoller(t *testing.T) {
	f := &flakyBackend{fakeBackend: &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)},
		onUnres:  []rescue.Instance{st(rescue.StateUnrescuing), st(rescue.StateActive)},
	}}
	f.errs = append([]error{nil}, unavailable(20)...)
	e := sharedEngine(f)
	if _, inst, err := e.Rescue(context.Background(), rescue.Request{InstanceID: "i1"}); err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("rescue: %+v, %v", inst, err)
	}
	if out, _, err := e.Unrescue(context.Background(), "i1"); err != nil || out != rescue.Unrescued {
		t.Fatalf("unrescue: %v, %v", out, err)
	}

	r := &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateActive)}}
	_, _, err := sharedEngine(r).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
	var fe *rescue.FailedError
	if !errors.As(err, &fe) || !rescue.Accepted(err) {
		t.Fatalf("reverted rescue: %v, want a FailedError after acceptance", err)
	}

	g := &fakeBackend{states: []rescue.Instance{st(rescue.StateRescued)}, onUnres: nil}
	if out, _, err := sharedEngine(g).Unrescue(context.Background(), "i1"); err != nil || out != rescue.Gone {
		t.Fatalf("unrescue of an instance that disappears: %v, %v; want Gone", out, err)
	}
}
