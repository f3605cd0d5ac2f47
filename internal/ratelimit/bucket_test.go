package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
)

func TestUnlimitedBucketsDoNotWait(t *testing.T) {
	for _, b := range []*ratelimit.Bucket{nil, ratelimit.New(0), ratelimit.New(math.Inf(1))} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // any wait would fail
		for i := 0; i < 1000; i++ {
			if err := b.Wait(ctx); err != nil {
				t.Fatalf("%v: wait %d: %v", b.Limit(), i, err)
			}
		}
	}
}

// A bucket of one request per 1000 s lets the first request go at once and holds the next one
// until its context ends, with an error that says why and is not a pause.
func TestBucketHoldsRequestsOverTheRate(t *testing.T) {
	b := ratelimit.New(0.001)
	if b.Limit() != 0.001 {
		t.Fatalf("limit %v", b.Limit())
	}
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ratelimit.ErrPaused) {
		t.Fatalf("got %v, want the context's end, not a pause", err)
	}
}

// A pause holds every caller back until its end, even with no rate limit; a caller whose
// context ends during the pause says so.
func TestPauseHoldsEveryCaller(t *testing.T) {
	b := ratelimit.New(0)
	until := time.Now().Add(150 * time.Millisecond)
	b.PauseUntil(until)
	b.PauseUntil(until.Add(-time.Hour)) // an earlier pause changes nothing
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, ratelimit.ErrPaused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a pause cut by the deadline", err)
	}
	done := make(chan time.Time, 3)
	for i := 0; i < 3; i++ {
		go func() {
			if err := b.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			done <- time.Now()
		}()
	}
	for i := 0; i < 3; i++ {
		if at := <-done; at.Before(until) {
			t.Fatalf("a caller went %v before the end of the pause", until.Sub(at))
		}
	}
}

// A request marked First takes the next token before the unmarked requests already waiting (a
// shared poller's read must not queue behind a burst of rescue POSTs); every request still
// waits for a token.
func TestFirstGoesBeforeWaitingRequests(t *testing.T) {
	b := ratelimit.New(5)
	for i := 0; i < 5; i++ { // the burst
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	wait := func(ctx context.Context, name string) {
		defer wg.Done()
		if err := b.Wait(ctx); err != nil {
			t.Error(err)
		}
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go wait(context.Background(), "plain")
	}
	time.Sleep(20 * time.Millisecond) // they wait: no token before 200 ms
	wg.Add(1)
	go wait(ratelimit.First(context.Background()), "first")
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	at := -1
	for i, n := range order {
		if n == "first" {
			at = i
		}
	}
	// It gets the next token, or the one after when a waiter took the next one just before it
	// came (a slow machine).
	if at < 0 || at > 1 {
		t.Fatalf("order %v: the First request came at %d, want 0 (or 1)", order, at)
	}
}
