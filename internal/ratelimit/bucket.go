// Package ratelimit is the token bucket shared by every request of one backend connection
// (provider setting max_requests_per_second), with a pause that a backend's "slow down"
// (HTTP 429 with Retry-After) imposes on every caller at once.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// ErrPaused marks the error of a Wait whose context ended during a pause (the backend had asked
// its callers to slow down: it counts as the backend being unavailable).
var ErrPaused = errors.New("paused by the backend's Retry-After")

// Bucket paces the requests of one backend connection. A nil *Bucket does not limit. It is
// safe for concurrent use.
type Bucket struct {
	lim *rate.Limiter // nil: no rate limit, only pauses

	mu          sync.Mutex
	pausedUntil time.Time
}

// New returns a bucket of perSecond requests per second (bursts of up to perSecond, at least 1);
// perSecond <= 0 or +Inf means no rate limit (pauses still apply).
func New(perSecond float64) *Bucket {
	if perSecond <= 0 || math.IsInf(perSecond, 1) {
		return &Bucket{}
	}
	return &Bucket{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, int(math.Ceil(perSecond))))}
}

// Limit returns the requests per second of the bucket, 0 when it does not limit the rate.
func (b *Bucket) Limit() float64 {
	if b == nil || b.lim == nil {
		return 0
	}
	return float64(b.lim.Limit())
}

// Wait blocks until the caller may send one request: after any pause, then for a token. It
// returns early with an error wrapping ctx.Err() when ctx ends first (the token is given back).
// A request whose ctx is marked First takes the next token before every unmarked request that
// waits; unmarked requests take the tokens that are left, in no particular order.
func (b *Bucket) Wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		d := time.Until(b.pausedUntil)
		b.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := rescue.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%w (%s left): %w", ErrPaused, d.Round(time.Millisecond), err)
		}
	}
	if b.lim == nil {
		return nil
	}
	if !IsFirst(ctx) {
		return b.waitLeft(ctx)
	}
	r := b.lim.Reserve()
	if d := r.Delay(); d > 0 {
		if err := rescue.Sleep(ctx, d); err != nil {
			r.Cancel()
			return b.waitErr(err)
		}
	}
	return nil
}

// waitLeft waits for a token that no First request has reserved: it reserves none ahead (so
// that a First request that comes later goes first), and tries again when the next token is due
// (plus a jitter, so that the waiters do not all wake at once).
func (b *Bucket) waitLeft(ctx context.Context) error {
	every := time.Duration(float64(time.Second) / float64(b.lim.Limit()))
	for !b.lim.Allow() {
		d := time.Duration((1 - b.lim.Tokens()) * float64(every))
		d += time.Duration(rand.Int64N(int64(every)/2 + 1))
		if err := rescue.Sleep(ctx, d); err != nil {
			return b.waitErr(err)
		}
	}
	return nil
}

func (b *Bucket) waitErr(err error) error {
	return fmt.Errorf("wait for the request rate limit (%g/s): %w", float64(b.lim.Limit()), err)
}

type firstKey struct{}

// First marks ctx: its requests take the next token before the unmarked ones that wait. For
// reads that answer many waiters at once (the shared poller's), which must not queue behind a
// burst of writes.
func First(ctx context.Context) context.Context { return context.WithValue(ctx, firstKey{}, true) }

// IsFirst reports whether ctx is marked by First.
func IsFirst(ctx context.Context) bool { v, _ := ctx.Value(firstKey{}).(bool); return v }

// PauseUntil holds every caller's next request back until t (a backend's Retry-After); an
// earlier t than a pause in force changes nothing.
func (b *Bucket) PauseUntil(t time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.pausedUntil) {
		b.pausedUntil = t
	}
}

// PausedUntil returns the end of the pause in force (zero or past when there is none).
func (b *Bucket) PausedUntil() time.Time {
	if b == nil {
		return time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pausedUntil
}
