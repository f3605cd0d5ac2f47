package rescue

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// GetFunc reads the current state of one instance.
type GetFunc func(ctx context.Context) (*Instance, error)

// DoneFunc decides whether a wait is over: done with a nil error on success, or a non-nil
// error to stop at a terminal failure (for example ERROR).
type DoneFunc func(inst *Instance) (done bool, err error)

// Poller waits until DoneFunc says an instance reached a terminal state. It is an interface
// so that many waits of one provider process can later share one poller (one list request
// for many instances) without changing the engine.
type Poller interface {
	// Wait polls get until done reports completion, ctx ends, or get fails.
	Wait(ctx context.Context, op, instanceID string, get GetFunc, done DoneFunc) (*Instance, error)
}

// Backoff describes the intervals of an IntervalPoller: a first poll soon after the action,
// then intervals growing by Factor up to Max, with up to Jitter (a fraction) of randomness.
type Backoff struct {
	First  time.Duration
	Factor float64
	Max    time.Duration
	Jitter float64
}

// DefaultBackoff is used by NewEngine: first poll after 200 ms, x1.5, at most every 2 s.
var DefaultBackoff = Backoff{First: 200 * time.Millisecond, Factor: 1.5, Max: 2 * time.Second, Jitter: 0.1}

// Next returns the interval after prev (zero prev gives the first interval), without jitter.
func (b Backoff) Next(prev time.Duration) time.Duration {
	if prev <= 0 {
		return b.First
	}
	n := time.Duration(float64(prev) * b.Factor)
	if n > b.Max {
		n = b.Max
	}
	if n < prev && prev <= b.Max {
		n = prev
	}
	return n
}

func (b Backoff) jittered(d time.Duration) time.Duration {
	if b.Jitter <= 0 {
		return d
	}
	f := 1 + (rand.Float64()*2-1)*b.Jitter
	return time.Duration(float64(d) * f)
}

// IntervalPoller polls one instance on its own timer with a bounded backoff.
type IntervalPoller struct {
	Backoff Backoff
}

// NewPoller returns an IntervalPoller with the given backoff.
func NewPoller(b Backoff) *IntervalPoller { return &IntervalPoller{Backoff: b} }

// Wait implements Poller. A read that fails with a transient error (IsUnavailable: the
// backend unreachable, HTTP 429 or 5xx, a lost connection) is tried again with the same
// backoff, or after the backend's Retry-After when it is longer, until ctx ends; any other
// read error ends the wait at once. At the deadline the TimeoutError says what the wait saw.
func (p *IntervalPoller) Wait(ctx context.Context, op, instanceID string, get GetFunc, done DoneFunc) (*Instance, error) {
	var (
		interval time.Duration
		last     *Instance
		down     outage
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		interval = p.Backoff.Next(interval)
		timer.Reset(max(p.Backoff.jittered(interval), down.retryAfter))
		select {
		case <-ctx.Done():
			return last, waitCtxErr(ctx, op, instanceID, last, &down)
		case <-timer.C:
		}
		start := time.Now()
		inst, err := get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				if IsUnavailable(err) {
					// The deadline came while the backend was being retried.
					down.saw(err, start)
				}
				return last, waitCtxErr(ctx, op, instanceID, last, &down)
			}
			if !IsUnavailable(err) {
				return last, err
			}
			down.saw(err, start)
			continue
		}
		down = outage{}
		last = inst
		ok, err := done(inst)
		if err != nil {
			return inst, err
		}
		if ok {
			return inst, nil
		}
	}
}

// outage is the current run of failed reads of a wait.
type outage struct {
	since      time.Time     // when the first failed read of the run began
	err        error         // the last failure
	retryAfter time.Duration // the backend's Retry-After of the last failure
}

func (o *outage) saw(err error, at time.Time) {
	if o.since.IsZero() {
		o.since = at
	}
	o.err = err
	o.retryAfter = 0
	var ue *UnavailableError
	if errors.As(err, &ue) {
		o.retryAfter = ue.RetryAfter
	}
}

func waitCtxErr(ctx context.Context, op, id string, last *Instance, down *outage) error {
	status := last.StatusText()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		te := &TimeoutError{Op: op, InstanceID: id, Last: status}
		if down != nil && down.err != nil {
			te.Unreachable, te.LastErr = downUntilDeadline(ctx, down.since), down.err
		}
		return te
	}
	return ctx.Err()
}

// downUntilDeadline is how long the reads had been failing since since when ctx's deadline came
// (not when a busy machine got around to saying so).
func downUntilDeadline(ctx context.Context, since time.Time) time.Duration {
	end := time.Now()
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	return end.Sub(since)
}

// Sleep waits d or until ctx ends (then it returns ctx.Err()); d <= 0 returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
