package nova

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// arrivals is a server that records when each request arrived and answers the first one with
// 429 and Retry-After: 1, the others with 200.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		first := len(a.at) == 1
		a.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (a *arrivals) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...)
}

func get(ctx context.Context, rt http.RoundTripper, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

// A 429 with Retry-After that one caller gets pauses the connection's bucket: another caller's
// request, sent while the first waits to retry, reaches the server not before the Retry-After
// instant; so does the retry.
func TestTooManyRequestsPausesEveryCaller(t *testing.T) {
	var a arrivals
	srv := a.start(t)
	rt := newRetryTransport(http.DefaultTransport.(*http.Transport).Clone(), 1, nil)
	rt.bucket = ratelimit.New(math.Inf(1)) // pauses only
	first := make(chan error, 1)
	go func() {
		resp, err := get(context.Background(), rt, srv.URL)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
		first <- err
	}()
	for rt.bucket.PausedUntil().IsZero() {
		time.Sleep(time.Millisecond)
	}
	pause := rt.bucket.PausedUntil()
	resp, err := get(context.Background(), rt, srv.URL)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second caller: %v %v", resp, err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	at := a.times()
	if len(at) != 3 {
		t.Fatalf("%d requests reached the server, want 3 (the 429, the second caller's, the retry)", len(at))
	}
	if d := pause.Sub(at[0]); d < 900*time.Millisecond {
		t.Fatalf("the pause ends %v after the 429, want the Retry-After of 1s", d)
	}
	for i, when := range at[1:] {
		if when.Before(pause) {
			t.Fatalf("request %d reached the server %v before the end of the pause", i+2, pause.Sub(when))
		}
	}
}

// The bucket bounds the requests of all callers together: with one request per 1000 s, the
// second of two concurrent callers never reaches the server, and ends with its context (an
// error the waits do not take for an outage).
func TestRateLimitHoldsConcurrentCallers(t *testing.T) {
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rt := newRetryTransport(http.DefaultTransport.(*http.Transport).Clone(), 5, nil)
	rt.bucket = ratelimit.New(0.001)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := get(ctx, rt, srv.URL)
			errs <- err
		}()
	}
	var failed []error
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 || len(failed) != 1 || !errors.Is(failed[0], context.DeadlineExceeded) {
		t.Fatalf("%d requests reached the server, errors %v; want 1 and one deadline", n, failed)
	}
	if err := markUnavailable(failed[0], failed[0]); rescue.IsUnavailable(err) {
		t.Fatalf("a wait for the rate limit is taken for an outage: %v", err)
	}
}
