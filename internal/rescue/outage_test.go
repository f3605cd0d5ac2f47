package rescue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// flakyBackend answers Get with a scripted sequence of errors (nil for a success) before
// falling back to the fakeBackend's states.
type flakyBackend struct {
	*fakeBackend
	mu   sync.Mutex
	errs []error
}

func (f *flakyBackend) Get(ctx context.Context, id string) (*rescue.Instance, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			f.mu.Unlock()
			f.fakeBackend.mu.Lock()
			f.fakeBackend.gets++
			f.fakeBackend.mu.Unlock()
			return nil, err
		}
	}
	f.mu.Unlock()
	return f.fakeBackend.Get(ctx, id)
}

func unavailable(n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = rescue.Unavailable(errors.New("HTTP 503 Service Unavailable"))
	}
	return out
}

func TestWaitRidesOutTransientFailures(t *testing.T) {
	// 20 failed reads in a row (more than any fixed retry count) during the rescue wait.
	f := &flakyBackend{fakeBackend: &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)},
	}}
	f.errs = append([]error{nil}, unavailable(20)...)
	_, inst, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
	if err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("got %+v, %v; want rescued", inst, err)
	}
	if f.rescued != 1 {
		t.Fatalf("rescued %d times, want 1", f.rescued)
	}
}

func TestReadsBeforeActionsRideOutTransientFailures(t *testing.T) {
	f := &flakyBackend{fakeBackend: &fakeBackend{states: []rescue.Instance{st(rescue.StateRescued)}}}
	f.errs = unavailable(7)
	inst, err := fastEngine(f).Read(context.Background(), "i1")
	if err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("read: %+v, %v", inst, err)
	}
	f.errs = unavailable(7)
	f.onUnres = []rescue.Instance{st(rescue.StateActive)}
	out, _, err := fastEngine(f).Unrescue(context.Background(), "i1")
	if err != nil || out != rescue.Unrescued || f.unrescued != 1 {
		t.Fatalf("unrescue: %v, %v, %d unrescues", out, err, f.unrescued)
	}
}

func TestWaitStopsAtOnceOnPermanentErrors(t *testing.T) {
	for _, perm := range []error{
		&rescue.NotFoundError{What: "instance", ID: "i1"},
		errors.New("some error nobody marked"),
		rescue.ErrAuth,
	} {
		f := &flakyBackend{fakeBackend: &fakeBackend{
			states:   []rescue.Instance{st(rescue.StateActive)},
			onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)},
		}}
		f.errs = []error{nil, unavailable(1)[0], perm}
		_, _, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
		if !errors.Is(err, perm) || !rescue.Accepted(err) {
			t.Fatalf("%v: got %v, want it wrapped with ErrAccepted", perm, err)
		}
		if f.gets != 3 {
			t.Fatalf("%v: %d reads, want 3 (no retry of a permanent error)", perm, f.gets)
		}
	}
}

func TestWaitTimeoutSaysWhatItSaw(t *testing.T) {
	f := &flakyBackend{fakeBackend: &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{{State: rescue.StateRescuing, Status: "ACTIVE/rescuing"}},
	}}
	f.errs = append([]error{nil, nil}, unavailable(100000)...)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := fastEngine(f).Rescue(ctx, rescue.Request{InstanceID: "i1"})
	var te *rescue.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want a TimeoutError", err)
	}
	if te.Last != "ACTIVE/rescuing" || te.Unreachable <= 0 || te.Unreachable > 300*time.Millisecond {
		t.Fatalf("timeout %+v", te)
	}
	for _, want := range []string{"last state ACTIVE/rescuing", "unreachable for the last", "HTTP 503 Service Unavailable"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not say %q", err, want)
		}
	}
}

func TestWaitTimeoutWithoutOutage(t *testing.T) {
	f := &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{{State: rescue.StateRescuing, Status: "ACTIVE/rescuing"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := fastEngine(f).Rescue(ctx, rescue.Request{InstanceID: "i1"})
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || te.LastErr != nil || strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("got %v, want a plain TimeoutError", err)
	}
}

func TestWaitHonoursRetryAfter(t *testing.T) {
	f := &flakyBackend{fakeBackend: &fakeBackend{states: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)}}}
	f.errs = []error{nil, &rescue.UnavailableError{Err: errors.New("HTTP 429"), RetryAfter: 150 * time.Millisecond}}
	start := time.Now()
	inst, err := fastEngine(f).Read(context.Background(), "i1")
	if err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("read: %+v %v", inst, err)
	}
	// A lower bound only: the backend asked for 150 ms, the backoff alone is a few ms.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("read again after %v, before the Retry-After of 150ms", d)
	}
}

func TestUnavailableMarks(t *testing.T) {
	base := errors.New("connection reset by peer")
	err := rescue.Unavailable(base)
	if !rescue.IsUnavailable(err) || !errors.Is(err, base) || err.Error() != base.Error() {
		t.Fatalf("Unavailable(%v) = %v", base, err)
	}
	if rescue.Unavailable(err) != err || rescue.Unavailable(nil) != nil {
		t.Fatal("Unavailable is not idempotent")
	}
	wrapped := errors.Join(errors.New("ctx"), err)
	if !rescue.IsUnavailable(wrapped) || rescue.IsUnavailable(base) {
		t.Fatal("IsUnavailable does not follow the chain")
	}
	tried := &rescue.UnavailableError{Err: base, Tried: 32 * time.Second}
	if !strings.Contains(tried.Error(), "tried for 32s") {
		t.Fatalf("%q", tried)
	}
}

func TestReadBeforeActionTimesOutWithTheWholeOutage(t *testing.T) {
	f := &flakyBackend{fakeBackend: &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)}}}
	f.errs = unavailable(100000)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := fastEngine(f).Rescue(ctx, rescue.Request{InstanceID: "i1"})
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || rescue.Accepted(err) || f.rescued != 0 {
		t.Fatalf("got %v after %d rescues, want a TimeoutError before any rescue", err, f.rescued)
	}
	if te.Op != "read" || te.LastErr == nil || te.Unreachable < 150*time.Millisecond || te.Unreachable > time.Since(start) {
		t.Fatalf("timeout %+v", te)
	}
}
