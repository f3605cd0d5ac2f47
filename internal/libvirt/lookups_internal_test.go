package libvirt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
)

// Concurrent callers of one key share one read; a caller that receives another caller's
// failure reads again itself; a caller whose context ends stops waiting.
func TestFlightsShareAndRetryOwn(t *testing.T) {
	var f flights
	var runs atomic.Int32
	release := make(chan struct{})
	read := func() (any, error) {
		runs.Add(1)
		<-release
		return "caps", nil
	}
	var wg sync.WaitGroup
	results := make(chan any, 10)
	first := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, _ := f.do(context.Background(), "k", func() (any, error) { close(first); return read() })
		results <- v
	}()
	<-first
	for i := 0; i < 9; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _ := f.do(context.Background(), "k", read)
			results <- v
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the nine join (a late one would run its own read: runs > 1)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != "caps" {
			t.Errorf("result %v", v)
		}
	}
	t.Logf("%d reads for 10 concurrent callers", runs.Load())
	if runs.Load() >= 10 {
		t.Errorf("%d reads for 10 concurrent callers: nothing was shared", runs.Load())
	}

	// The starter's failure (its connection was cut) is not the joiner's: it reads itself.
	started, fail := make(chan struct{}), make(chan struct{})
	errCut := errors.New("connection cut")
	go func() {
		_, _ = f.do(context.Background(), "k2", func() (any, error) { close(started); <-fail; return nil, errCut })
	}()
	<-started
	got := make(chan error, 1)
	go func() {
		_, err := f.do(context.Background(), "k2", func() (any, error) { return "own", nil })
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(fail)
	if err := <-got; err != nil {
		t.Errorf("joiner after the starter's failure: %v, want its own read", err)
	}

	// A caller whose context ends returns at once.
	block := make(chan struct{})
	defer close(block)
	go func() { _, _ = f.do(context.Background(), "k3", func() (any, error) { <-block; return nil, nil }) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.do(ctx, "k3", func() (any, error) { <-block; return nil, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
}

// The capabilities cache hands out copies: a caller that changes its slices does not change
// what the next one gets.
func TestHostCapsCopies(t *testing.T) {
	var c hostCaps
	c.put("k", domxml.HostInfo{Buses: []string{"virtio", "sata"}})
	h, _ := c.get("k")
	h.Buses[0] = "changed"
	if h2, ok := c.get("k"); !ok || h2.Buses[0] != "virtio" {
		t.Errorf("cached %v %v", h2, ok)
	}
}
