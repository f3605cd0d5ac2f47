package libvirt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
)

// pacedBackend opens a Backend through an RPC-counting proxy with max_requests_per_second.
func pacedBackend(t *testing.T, td *testDriver, perSecond float64) (*rlibvirt.Backend, *rpcCounter) {
	t.Helper()
	p := newRPCCounter(t, td.lv.Socket)
	b, err := rlibvirt.New(context.Background(), rlibvirt.Config{URI: "test+tcp://" + p.Addr() + "/default", MaxRequestsPerSecond: perSecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, p
}

func total(m map[uint32]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// max_requests_per_second paces the RPCs of all resources together: 16 concurrent reads send
// their RPCs no faster than the bucket allows (a lower bound on the time, which a slow machine
// cannot break).
func TestRateLimitPacesRPCs(t *testing.T) {
	td := newTestDriver(t)
	td.domain(t, "td-paced", true, false, "")
	const rate = 8.0
	b, p := pacedBackend(t, td, rate)
	time.Sleep(time.Second) // the bucket refills its burst after the handshake
	before := p.Snapshot()
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Get(context.Background(), "td-paced"); err != nil {
				t.Errorf("Get: %v", err)
			}
		}()
	}
	wg.Wait()
	elapsed, calls := time.Since(start), total(p.Since(before))
	// A burst of rate calls, then one call per 1/rate.
	floor := time.Duration(float64(calls-int(rate)-1) / rate * float64(time.Second))
	t.Logf("%d RPCs in %s at %g/s (floor %s)", calls, elapsed.Round(time.Millisecond), rate, floor)
	if calls < 16 {
		t.Fatalf("%d RPCs for 16 reads", calls)
	}
	if elapsed < floor {
		t.Fatalf("%d RPCs took %s, faster than %g/s allows (%s)", calls, elapsed, rate, floor)
	}
}

// A read waiting for the bucket ends with its context (the watchdog cuts the connection), and
// the next read works on a new connection.
func TestRateLimitWaitEndsWithContext(t *testing.T) {
	td := newTestDriver(t)
	td.domain(t, "td-paced-ctx", true, false, "")
	b, _ := pacedBackend(t, td, 0.5)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Get(ctx, "td-paced-ctx")
	if err == nil {
		t.Fatal("Get at 0.5 RPC/s within 1.5 s succeeded")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Get returned %s after its 1.5 s context", d)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	if _, err := b.Get(ctx2, "td-paced-ctx"); err != nil {
		t.Fatalf("Get after the cut: %v", err)
	}
}
