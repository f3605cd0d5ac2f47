// Package faultproxy holds fault-injecting proxies for tests: real faults (errors, outages,
// resets, latency) between the provider and the real test components, switchable while a test
// runs. HTTP is a reverse proxy for HTTP APIs (Nova, Glance).
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTPMatch selects requests. Empty fields match everything.
type HTTPMatch struct {
	// Method is the HTTP method ("GET", "POST"), "" for any.
	Method string
	// Path is matched against the request path (e.g. `/servers/[^/]+$`), nil for any.
	Path *regexp.Regexp
	// Body is matched against the request body (e.g. `"rescue"`), nil for any.
	Body *regexp.Regexp
}

// HTTPMatchOf returns the match of a method and a path regexp ("" for any).
func HTTPMatchOf(method, path string) HTTPMatch {
	m := HTTPMatch{Method: method}
	if path != "" {
		m.Path = regexp.MustCompile(path)
	}
	return m
}

// HTTPAny matches every request.
var HTTPAny = HTTPMatch{}

func (m HTTPMatch) matches(r *http.Request, body []byte) bool {
	return (m.Method == "" || strings.EqualFold(m.Method, r.Method)) &&
		(m.Path == nil || m.Path.MatchString(r.URL.Path)) &&
		(m.Body == nil || m.Body.Match(body))
}

// HTTPFaultKind is what a rule does to the requests it matches.
type HTTPFaultKind int

const (
	// HTTPStatus answers with a status (503, 429...) without forwarding the request.
	HTTPStatus HTTPFaultKind = iota
	// HTTPResetAfterForward forwards the request, waits for the upstream's answer, then
	// resets the client's connection: the upstream acted, the client never hears.
	HTTPResetAfterForward
	// HTTPLatency delays the request before forwarding it.
	HTTPLatency
)

// HTTPRule is one fault. A rule applies to the requests it matches while it is active: for
// its next Count requests (Count > 0), or until Until (non-zero), or until removed.
type HTTPRule struct {
	Match HTTPMatch
	Kind  HTTPFaultKind
	// Status is the answer of an HTTPStatus rule (503 when 0).
	Status int
	// RetryAfter, when non-empty, is sent as the Retry-After header of an HTTPStatus answer.
	RetryAfter string
	// Delay is the latency of an HTTPLatency rule.
	Delay time.Duration
	// Count, when positive, is how many more requests the rule applies to.
	Count int
	// Until, when non-zero, ends the rule.
	Until time.Time

	limited bool // Count was positive when the rule was added
}

// HTTPRecord is one request the proxy saw.
type HTTPRecord struct {
	At     time.Time
	Method string
	Path   string
	Body   string
	// Status is what the client got (0 for a reset connection).
	Status int
	// Fault says which fault was applied ("" when forwarded untouched).
	Fault string
}

// Forwarded reports whether the request reached the upstream.
func (r HTTPRecord) Forwarded() bool { return r.Fault == "" || r.Fault == faultReset }

const faultReset = "reset after forward"

// HTTP is a fault-injecting reverse proxy in front of one HTTP upstream on 127.0.0.1. Rules
// are added and removed while it runs; it counts every request.
type HTTP struct {
	// URL is the proxy's base URL (http://127.0.0.1:port), without path.
	URL string

	upstream *url.URL
	rp       *httputil.ReverseProxy
	srv      *http.Server
	ln       net.Listener

	mu        sync.Mutex
	rules     []*HTTPRule
	log       []HTTPRecord
	forwarded []func(HTTPRecord)
}

// NewHTTP starts a proxy to upstream (a URL whose scheme and host are used; paths pass
// through unchanged). Close stops it.
func NewHTTP(upstream string) (*HTTP, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &HTTP{URL: "http://" + ln.Addr().String(), upstream: &url.URL{Scheme: u.Scheme, Host: u.Host}, ln: ln}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.upstream)
			// Keep the proxy's Host: services build their links from it, so links lead back here.
			r.Out.Host = r.In.Host
		},
		ModifyResponse: p.rewriteResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: time.Minute}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and closes every connection.
func (p *HTTP) Close() error {
	err := p.srv.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// URLFor returns the proxy's URL for an upstream URL (same path and query).
func (p *HTTP) URLFor(upstream string) string {
	u, err := url.Parse(upstream)
	if err != nil {
		return p.URL
	}
	return p.URL + u.RequestURI()
}

// rewriteResponse replaces the upstream's address by the proxy's in Location and in text
// bodies (JSON links), so that a client that follows links keeps going through the proxy.
func (p *HTTP) rewriteResponse(resp *http.Response) error {
	from, to := p.upstream.Scheme+"://"+p.upstream.Host, p.URL
	if loc := resp.Header.Get("Location"); loc != "" {
		resp.Header.Set("Location", strings.Replace(loc, from, to, 1))
	}
	ct := resp.Header.Get("Content-Type")
	if resp.Body == nil || !(strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/")) ||
		resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	body = bytes.ReplaceAll(body, []byte(from), []byte(to))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// Add activates a rule and returns it (for Remove).
func (p *HTTP) Add(r HTTPRule) *HTTPRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	rr := r
	rr.limited = r.Count > 0
	p.rules = append(p.rules, &rr)
	return &rr
}

// Remove deactivates a rule.
func (p *HTTP) Remove(r *HTTPRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.rules {
		if x == r {
			p.rules = append(p.rules[:i], p.rules[i+1:]...)
			return
		}
	}
}

// Clear removes every rule.
func (p *HTTP) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Fail answers the next n matching requests with status (503, 500...), not forwarding them.
func (p *HTTP) Fail(m HTTPMatch, status, n int) *HTTPRule {
	return p.Add(HTTPRule{Match: m, Kind: HTTPStatus, Status: status, Count: n})
}

// Outage answers every matching request with 503 for d from now.
func (p *HTTP) Outage(m HTTPMatch, d time.Duration) *HTTPRule {
	return p.Add(HTTPRule{Match: m, Kind: HTTPStatus, Status: http.StatusServiceUnavailable, Until: time.Now().Add(d)})
}

// TooMany answers the next n matching requests with 429, with Retry-After: retryAfter
// (seconds or an HTTP date) unless it is "".
func (p *HTTP) TooMany(m HTTPMatch, n int, retryAfter string) *HTTPRule {
	return p.Add(HTTPRule{Match: m, Kind: HTTPStatus, Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Count: n})
}

// ResetAfterForward forwards the next n matching requests and resets the client's
// connection once the upstream answered.
func (p *HTTP) ResetAfterForward(m HTTPMatch, n int) *HTTPRule {
	return p.Add(HTTPRule{Match: m, Kind: HTTPResetAfterForward, Count: n})
}

// Latency delays every matching request by d until the rule is removed.
func (p *HTTP) Latency(m HTTPMatch, d time.Duration) *HTTPRule {
	return p.Add(HTTPRule{Match: m, Kind: HTTPLatency, Delay: d})
}

// OnForwarded calls f (in the request's goroutine, without the proxy's lock) after each
// request that the upstream answered, e.g. to start an outage right after an action POST.
func (p *HTTP) OnForwarded(f func(HTTPRecord)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwarded = append(p.forwarded, f)
}

// Count returns how many requests matching m the proxy received (whatever their fate).
func (p *HTTP) Count(m HTTPMatch) int {
	n := 0
	for _, r := range p.Records() {
		req := &http.Request{Method: r.Method, URL: &url.URL{Path: r.Path}}
		if m.matches(req, []byte(r.Body)) {
			n++
		}
	}
	return n
}

// Counts returns the number of requests per "METHOD path".
func (p *HTTP) Counts() map[string]int {
	out := map[string]int{}
	for _, r := range p.Records() {
		out[r.Method+" "+r.Path]++
	}
	return out
}

// Records returns every request seen so far, oldest first.
func (p *HTTP) Records() []HTTPRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]HTTPRecord(nil), p.log...)
}

// take returns the faults that apply to a request, consumes their counts and drops the
// rules that are used up or over. The first status rule wins over a reset; latencies add up.
func (p *HTTP) take(r *http.Request, body []byte) (status *HTTPRule, reset bool, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var keep []*HTTPRule
	for _, rule := range p.rules {
		if !rule.Until.IsZero() && now.After(rule.Until) {
			continue
		}
		if rule.Match.matches(r, body) {
			used := false
			switch {
			case rule.Kind == HTTPLatency:
				delay += rule.Delay
				used = true
			case rule.Kind == HTTPStatus && status == nil:
				status, used = rule, true
			case rule.Kind == HTTPResetAfterForward && status == nil && !reset:
				reset, used = true, true
			}
			if used && rule.limited {
				rule.Count--
				if rule.Count <= 0 {
					continue
				}
			}
		}
		keep = append(keep, rule)
	}
	p.rules = keep
	return status, reset, delay
}

func (p *HTTP) record(rec HTTPRecord) {
	p.mu.Lock()
	p.log = append(p.log, rec)
	hooks := append([]func(HTTPRecord){}, p.forwarded...)
	p.mu.Unlock()
	if rec.Fault == "" {
		for _, f := range hooks {
			f(rec)
		}
	}
}

// ServeHTTP implements http.Handler.
func (p *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "faultproxy: read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := HTTPRecord{At: time.Now(), Method: r.Method, Path: r.URL.Path, Body: string(body)}
	status, reset, delay := p.take(r, body)
	if delay > 0 {
		if !sleep(r.Context(), delay) {
			return
		}
	}
	switch {
	case status != nil:
		rec.Status, rec.Fault = answer(w, status), "status "+strconv.Itoa(status.Status)
	case reset:
		rec.Status, rec.Fault = 0, faultReset
		p.forwardThenReset(w, r)
	default:
		sw := &statusWriter{ResponseWriter: w}
		p.rp.ServeHTTP(sw, r)
		rec.Status = sw.status
	}
	p.record(rec)
}

// answer writes a rule's status with an OpenStack-like (webob) HTML body.
func answer(w http.ResponseWriter, rule *HTTPRule) int {
	code := rule.Status
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if rule.RetryAfter != "" {
		w.Header().Set("Retry-After", rule.RetryAfter)
	}
	text := fmt.Sprintf("%d %s", code, http.StatusText(code))
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "<html>\n <head>\n  <title>%s</title>\n </head>\n <body>\n  <h1>%s</h1>\n  "+
		"The server is currently unavailable. Please try again at a later time.<br /><br />\n\n </body>\n</html>", text, text)
	return code
}

// forwardThenReset forwards r, waits for the whole answer, then resets the client's connection.
func (p *HTTP) forwardThenReset(w http.ResponseWriter, r *http.Request) {
	p.rp.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, as when a load balancer drops the connection
	}
	_ = conn.Close()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
