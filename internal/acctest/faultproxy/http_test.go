package faultproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
)

// upstream answers every request with its own URL in a JSON body and counts what reached it.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"href": "`+srv.URL+r.URL.Path+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func start(t *testing.T, up string) *faultproxy.HTTP {
	p, err := faultproxy.NewHTTP(up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func get(t *testing.T, method, url string) (int, http.Header, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"rescue": {}}`))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

func TestHTTPFaults(t *testing.T) {
	up, hits := upstream(t)
	p := start(t, up.URL)
	servers := faultproxy.HTTPMatchOf("GET", `^/v2\.1/servers/`)

	// Forwarded untouched, links rewritten to the proxy.
	code, _, body, err := get(t, "GET", p.URL+"/v2.1/servers/a")
	if err != nil || code != 200 || !strings.Contains(body, p.URL+"/v2.1/servers/a") || strings.Contains(body, up.URL) {
		t.Fatalf("plain: %d %q %v", code, body, err)
	}

	// A burst of two 503s, then through again; the other paths are not touched.
	p.Fail(servers, 503, 2)
	for i := 0; i < 2; i++ {
		if code, _, body, _ := get(t, "GET", p.URL+"/v2.1/servers/a"); code != 503 || !strings.Contains(body, "<br />") {
			t.Fatalf("burst %d: %d %q", i, code, body)
		}
	}
	if code, _, _, _ := get(t, "GET", p.URL+"/v2.1/flavors"); code != 200 {
		t.Fatalf("unmatched path: %d", code)
	}
	if code, _, _, _ := get(t, "GET", p.URL+"/v2.1/servers/a"); code != 200 {
		t.Fatalf("after the burst: %d", code)
	}

	// 429 with and without Retry-After.
	p.TooMany(servers, 1, "3")
	p.TooMany(servers, 1, "")
	if code, h, _, _ := get(t, "GET", p.URL+"/v2.1/servers/a"); code != 429 || h.Get("Retry-After") != "3" {
		t.Fatalf("429 with Retry-After: %d %v", code, h)
	}
	if code, h, _, _ := get(t, "GET", p.URL+"/v2.1/servers/a"); code != 429 || h.Get("Retry-After") != "" {
		t.Fatalf("429 without Retry-After: %d %v", code, h)
	}

	// An outage window.
	p.Outage(faultproxy.HTTPAny, 300*time.Millisecond)
	if code, _, _, _ := get(t, "GET", p.URL+"/anything"); code != 503 {
		t.Fatalf("in the outage: %d", code)
	}
	time.Sleep(350 * time.Millisecond)
	if code, _, _, _ := get(t, "GET", p.URL+"/anything"); code != 200 {
		t.Fatalf("after the outage: %d", code)
	}

	// Reset after forwarding: the upstream got it, the client did not get an answer.
	action := faultproxy.HTTPMatch{Method: "POST", Path: regexp.MustCompile(`/action$`), Body: regexp.MustCompile(`"rescue"`)}
	p.ResetAfterForward(action, 1)
	before := hits.Load()
	if _, _, _, err := get(t, "POST", p.URL+"/v2.1/servers/a/action"); err == nil {
		t.Fatal("reset after forward: the client got an answer")
	}
	if hits.Load() != before+1 {
		t.Fatalf("reset after forward: upstream saw %d requests, want 1", hits.Load()-before)
	}

	// Latency.
	lat := p.Latency(servers, 200*time.Millisecond)
	t0 := time.Now()
	if code, _, _, _ := get(t, "GET", p.URL+"/v2.1/servers/a"); code != 200 || time.Since(t0) < 200*time.Millisecond {
		t.Fatalf("latency: %d after %v", code, time.Since(t0))
	}
	p.Remove(lat)

	// Hooks and counters.
	var posts atomic.Int32
	p.OnForwarded(func(r faultproxy.HTTPRecord) {
		if r.Method == "POST" {
			posts.Add(1)
		}
	})
	if code, _, _, _ := get(t, "POST", p.URL+"/v2.1/servers/b/action"); code != 200 || posts.Load() != 1 {
		t.Fatalf("hook: %d, %d posts", code, posts.Load())
	}
	if n := p.Count(action); n != 2 {
		t.Fatalf("Count(rescue POSTs) = %d, want 2", n)
	}
	if n := p.Counts()["GET /v2.1/servers/a"]; n != 7 {
		t.Fatalf("Counts = %v", p.Counts())
	}
}
