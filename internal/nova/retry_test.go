package nova

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// fakeSleep records the delays asked for instead of sleeping.
type fakeSleep struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays = append(f.delays, d)
	return ctx.Err()
}

func newTestTransport(retries int, now time.Time) (*retryTransport, *fakeSleep) {
	fs := &fakeSleep{}
	t := newRetryTransport(http.DefaultTransport.(*http.Transport).Clone(), retries, nil)
	t.sleep = fs.sleep
	t.now = func() time.Time { return now }
	return t, fs
}

// scripted answers the i-th request with codes[i] (the last code repeats) and headers.
func scripted(t *testing.T, codes []int, header map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		code := codes[min(i, len(codes)-1)]
		if code != http.StatusOK {
			for k, v := range header {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"n":%d}`, i)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func do(t *testing.T, rt http.RoundTripper, method, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, err
}

func TestRetryTransportRetriesGET(t *testing.T) {
	for _, code := range []int{429, 502, 503, 504} {
		srv, n := scripted(t, []int{code, code, 200}, nil)
		rt, fs := newTestTransport(5, time.Now())
		resp, err := do(t, rt, http.MethodGet, srv.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d: %v %v", code, resp, err)
		}
		if n.Load() != 3 || len(fs.delays) != 2 {
			t.Fatalf("%d: %d requests, %d sleeps; want 3 and 2", code, n.Load(), len(fs.delays))
		}
		// Exponential backoff with jitter: about 0.5 s, then about 1 s.
		if fs.delays[0] < 400*time.Millisecond || fs.delays[0] > 600*time.Millisecond ||
			fs.delays[1] < 800*time.Millisecond || fs.delays[1] > 1200*time.Millisecond {
			t.Fatalf("%d: backoff %v", code, fs.delays)
		}
	}
}

func TestRetryTransportHonoursRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv, n := scripted(t, []int{429, 200}, map[string]string{"Retry-After": "7"})
	rt, fs := newTestTransport(3, now)
	if resp, err := do(t, rt, http.MethodGet, srv.URL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if n.Load() != 2 || len(fs.delays) != 1 || fs.delays[0] != 7*time.Second {
		t.Fatalf("%d requests, delays %v; want 2 and [7s]", n.Load(), fs.delays)
	}

	date := now.Add(12 * time.Second).Format(http.TimeFormat)
	srv, _ = scripted(t, []int{503, 200}, map[string]string{"Retry-After": date})
	rt, fs = newTestTransport(3, now)
	if _, err := do(t, rt, http.MethodGet, srv.URL); err != nil {
		t.Fatal(err)
	}
	if len(fs.delays) != 1 || fs.delays[0] != 12*time.Second {
		t.Fatalf("HTTP-date Retry-After: delays %v, want [12s]", fs.delays)
	}

	// A huge Retry-After is bounded.
	srv, _ = scripted(t, []int{429, 200}, map[string]string{"Retry-After": "86400"})
	rt, fs = newTestTransport(3, now)
	if _, err := do(t, rt, http.MethodGet, srv.URL); err != nil {
		t.Fatal(err)
	}
	if len(fs.delays) != 1 || fs.delays[0] != retryMaxRetryAfter {
		t.Fatalf("bounded Retry-After: delays %v", fs.delays)
	}
}

func TestRetryTransportGivesUp(t *testing.T) {
	srv, n := scripted(t, []int{503}, nil)
	rt, fs := newTestTransport(2, time.Now())
	resp, err := do(t, rt, http.MethodGet, srv.URL)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("%v %v", resp, err)
	}
	if n.Load() != 3 || len(fs.delays) != 2 {
		t.Fatalf("%d requests, %d sleeps; want 3 and 2", n.Load(), len(fs.delays))
	}

	// max_retries = 0: one request.
	srv, n = scripted(t, []int{503}, nil)
	rt, _ = newTestTransport(0, time.Now())
	if resp, _ := do(t, rt, http.MethodGet, srv.URL); resp.StatusCode != 503 || n.Load() != 1 {
		t.Fatalf("max 0: %d, %d requests", resp.StatusCode, n.Load())
	}
}

// TestRetryTransportPOST: a POST (the rescue, the unrescue) is repeated only after a 429,
// which says Nova did not act, with the same body and after the Retry-After delay; never
// after a 5xx or a transport error, nor when its body cannot be sent again.
func TestRetryTransportPOST(t *testing.T) {
	for _, code := range []int{500, 502, 503, 504} {
		srv, n := scripted(t, []int{code, 200}, map[string]string{"Retry-After": "1"})
		rt, fs := newTestTransport(5, time.Now())
		resp, err := do(t, rt, http.MethodPost, srv.URL)
		if err != nil || resp.StatusCode != code {
			t.Fatalf("POST %d: %v %v", code, resp, err)
		}
		if n.Load() != 1 || len(fs.delays) != 0 {
			t.Fatalf("POST %d: %d requests, %d sleeps; want 1 and 0", code, n.Load(), len(fs.delays))
		}
	}

	var (
		mu     sync.Mutex
		bodies []string
		n      atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	const body = `{"rescue": {"adminPass": "x"}}`
	rt, fs := newTestTransport(5, time.Now())
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, bytes.NewReader([]byte(body)))
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST after 429: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if len(bodies) != 3 || bodies[0] != body || bodies[1] != body || bodies[2] != body {
		t.Fatalf("bodies sent: %q", bodies)
	}
	if len(fs.delays) != 2 || fs.delays[0] != 7*time.Second || fs.delays[1] != 7*time.Second {
		t.Fatalf("delays %v, want Retry-After twice", fs.delays)
	}

	// Up to max_retries, then the 429 is the answer.
	srv2, n2 := scripted(t, []int{429}, nil)
	rt, _ = newTestTransport(2, time.Now())
	if resp, err := do(t, rt, http.MethodPost, srv2.URL); err != nil || resp.StatusCode != 429 || n2.Load() != 3 {
		t.Fatalf("POST 429 until the end: %v %v after %d requests", resp, err, n2.Load())
	}

	// A body that cannot be sent again: no retry.
	srv3, n3 := scripted(t, []int{429, 200}, nil)
	rt, _ = newTestTransport(5, time.Now())
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, srv3.URL, io.NopCloser(strings.NewReader(body)))
	resp, err = rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 429 || n3.Load() != 1 {
		t.Fatalf("POST with a one-shot body: %v %v after %d requests", resp, err, n3.Load())
	}
	_ = resp.Body.Close()

	// A dropped connection: never repeated.
	var n4 atomic.Int32
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n4.Add(1)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(drop.Close)
	rt, _ = newTestTransport(5, time.Now())
	if _, err := do(t, rt, http.MethodPost, drop.URL); err == nil || n4.Load() != 1 {
		t.Fatalf("dropped POST: %v after %d requests", err, n4.Load())
	}
}

// TestRetryTransportTransportErrors: a GET is retried after a refused connection, not after
// a certificate error or an unknown host.
func TestRetryTransportTransportErrors(t *testing.T) {
	// A port nothing listens on: ECONNREFUSED every time.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	rt, fs := newTestTransport(2, time.Now())
	if _, err := do(t, rt, http.MethodGet, closed); !errors.Is(err, syscall.ECONNREFUSED) || len(fs.delays) != 2 {
		t.Fatalf("refused: %v after %d retries", err, len(fs.delays))
	}

	var n atomic.Int32
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	t.Cleanup(tlsSrv.Close)
	rt, fs = newTestTransport(3, time.Now())
	if _, err := do(t, rt, http.MethodGet, tlsSrv.URL); err == nil || len(fs.delays) != 0 || n.Load() != 0 {
		t.Fatalf("untrusted certificate: %v after %d retries", err, len(fs.delays))
	}

	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.DNSError{Err: "no such host", Name: "keystone.invalid", IsNotFound: true}, false},
		{&net.DNSError{Err: "i/o timeout", Name: "keystone.example", IsTimeout: true}, true},
		{&net.DNSError{Err: "server misbehaving", Name: "keystone.example", IsTemporary: true}, true},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{x509.HostnameError{Host: "nova"}, false},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{errors.New("something else"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestNewSetsResponseHeaderTimeout: a server that accepts but never answers cannot hang a run.
func TestNewSetsResponseHeaderTimeout(t *testing.T) {
	clearEnv(t)
	b, err := New(context.Background(), Config{Token: "t", EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := b.transport.next.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout != responseHeaderTimeout || responseHeaderTimeout <= 0 {
		t.Fatalf("transport %T, response header timeout %v", b.transport.next, tr.ResponseHeaderTimeout)
	}
}

func TestRetryTransportOtherStatusesPassThrough(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 500} {
		srv, n := scripted(t, []int{code, 200}, nil)
		rt, _ := newTestTransport(5, time.Now())
		if resp, _ := do(t, rt, http.MethodGet, srv.URL); resp.StatusCode != code || n.Load() != 1 {
			t.Fatalf("GET %d: got %d after %d requests", code, resp.StatusCode, n.Load())
		}
	}
}

func TestRetryTransportRetriesDroppedConnections(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	rt, fs := newTestTransport(3, time.Now())
	if resp, err := do(t, rt, http.MethodGet, srv.URL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if n.Load() != 2 || len(fs.delays) != 1 {
		t.Fatalf("%d requests, %d sleeps", n.Load(), len(fs.delays))
	}
}

func TestRetryTransportStopsWithContext(t *testing.T) {
	srv, n := scripted(t, []int{503}, map[string]string{"Retry-After": "30"})
	rt := newRetryTransport(http.DefaultTransport, 5, nil)
	sleeping := make(chan struct{})
	rt.sleep = func(ctx context.Context, d time.Duration) error {
		close(sleeping)
		return rescue.Sleep(ctx, d) // the real wait, ended by the cancel below
	}
	c, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(c, http.MethodGet, srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	<-sleeping
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want a cancelled wait naming the 503", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests after cancel", n.Load())
	}
}

func TestRetryTransportLogsWithoutSecrets(t *testing.T) {
	srv, _ := scripted(t, []int{503, 200}, nil)
	var got []map[string]any
	rt, _ := newTestTransport(2, time.Now())
	rt.log = func(_ context.Context, msg string, f map[string]any) { got = append(got, f) }
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet,
		strings.Replace(srv.URL, "http://", "http://user:secretpw@", 1)+"/x?token=secret", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if len(got) != 1 {
		t.Fatalf("%d log events", len(got))
	}
	if u := got[0]["url"].(string); strings.Contains(u, "secret") {
		t.Fatalf("logged url %q", u)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 3 ", 3 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"999999", retryMaxRetryAfter, true},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), retryMaxRetryAfter, true},
	} {
		got, ok := retryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	for attempt := range 70 {
		d := backoff(attempt)
		if d <= 0 || d > retryMaxBackoff*12/10 {
			t.Fatalf("backoff(%d) = %v", attempt, d)
		}
	}
}
