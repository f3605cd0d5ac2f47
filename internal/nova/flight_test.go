package nova

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// gatedCounter counts the requests of one route and holds each until the gate opens.
type gatedCounter struct {
	mu   sync.Mutex
	n    int
	gate chan struct{}
}

func (g *gatedCounter) hit() {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	<-g.gate
}

func (g *gatedCounter) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// concurrently runs fn n times at once and returns the errors.
func concurrently(n int, fn func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errs
}

// 20 resources validating with one rescue image at once: one GET of the image from Glance.
func TestImagePropsConcurrentMissesShareOneRequest(t *testing.T) {
	f := newFakeNova(t)
	g := &gatedCounter{gate: make(chan struct{})}
	f.set(func(f *fakeNova) {
		f.handler = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/image/v2/images/"+fakeImageID {
				return false
			}
			g.hit()
			writeJSON(w, 200, map[string]any{"id": fakeImageID, "status": "active", "hw_rescue_device": "cdrom", "disk_format": "iso"})
			return true
		}
	})
	b := f.backend(t, 0)
	go func() {
		for g.count() == 0 {
			runtimeYield()
		}
		close(g.gate)
	}()
	for _, err := range concurrently(20, func() error {
		p, err := b.imageProps(context.Background(), fakeImageID)
		if err == nil && p.device != "cdrom" {
			err = errors.New("wrong properties: " + p.device)
		}
		return err
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := g.count(); n != 1 {
		t.Fatalf("%d GETs of the image, want 1", n)
	}
}

// Concurrent first uses of the compute API negotiate the microversion once. The caller that
// started the negotiation gives up (its context ends) while the others wait for it: it returns
// at once, and the others negotiate again rather than take its cancellation for an answer.
func TestMicroversionConcurrentFirstCallsShareOneNegotiation(t *testing.T) {
	f := newFakeNova(t)
	g := &gatedCounter{gate: make(chan struct{})}
	f.set(func(f *fakeNova) {
		f.handler = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2.1" && r.URL.Path != "/v2.1/" {
				return false
			}
			g.hit()
			writeJSON(w, 200, map[string]any{"version": map[string]any{"id": "v2.1", "status": "CURRENT",
				"version": "2.90", "min_version": "2.1", "links": []any{}}})
			return true
		}
	})
	b := f.backend(t, 0)
	b.mv = nil
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := b.negotiate(first)
		firstErr <- err
	}()
	for g.count() == 0 {
		runtimeYield()
	}
	others := make(chan []error, 1)
	go func() {
		others <- concurrently(20, func() error {
			n, err := b.negotiate(context.Background())
			if err == nil && n.use != MicroversionBFVRescue {
				err = errors.New("negotiated " + n.use)
			}
			return err
		})
	}()
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(g.gate)
	for _, err := range <-others {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The abandoned read, then one negotiation (which reads the version document twice, see
	// negotiateOnce).
	if n := g.count(); n > 3 {
		t.Fatalf("%d reads of the version document, want at most 3", n)
	}
}

func runtimeYield() { runtime.Gosched() }
