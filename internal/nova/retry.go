package nova

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Retry bounds: the first backoff, its cap, and the cap of a server's Retry-After.
const (
	retryBase          = 500 * time.Millisecond
	retryMaxBackoff    = 8 * time.Second
	retryMaxRetryAfter = 60 * time.Second
)

// responseHeaderTimeout bounds the wait for an answer once a request is sent, so that a
// Keystone or Nova that accepts a connection but never answers cannot hang a run.
const responseHeaderTimeout = 2 * time.Minute

// retryTransport retries requests that the server did not act on, up to max times,
// honouring Retry-After (seconds or HTTP-date, bounded) and otherwise backing off
// exponentially with jitter:
//   - idempotent requests (GET, HEAD) on 429, 502, 503 and 504, and on transient transport
//     errors (timeouts, connection reset or refused, EOF), never on TLS, certificate or
//     DNS-not-found errors, which do not heal by themselves;
//   - other requests (the rescue and unrescue POSTs, Keystone's login) on 429 only, which
//     says the request was refused before any action; their body is sent again through
//     Request.GetBody, and one that cannot be sent again is not retried. After any other
//     failure they are never repeated: the caller reads the server to learn what happened.
type retryTransport struct {
	next http.RoundTripper
	max  int
	log  Logger
	// bucket paces every request of the connection, retries included (max_requests_per_second);
	// a 429 with Retry-After pauses it for every caller. nil: no limit.
	bucket *ratelimit.Bucket
	// now and sleep are replaceable in tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newRetryTransport(next http.RoundTripper, retries int, log Logger) *retryTransport {
	return &retryTransport{next: next, max: retries, log: log, now: time.Now, sleep: rescue.Sleep}
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if t.max <= 0 || !resendable {
		return t.send(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req.Clone(ctx)
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("%s %s: send the request again: %w", req.Method, redactURL(req), err)
			}
			r.Body = body
		}
		resp, err := t.send(r)
		if attempt >= t.max || ctx.Err() != nil {
			return resp, err
		}
		var (
			delay  time.Duration
			reason string
		)
		switch {
		case err != nil:
			if !idempotent || !transient(err) {
				return resp, err
			}
			delay, reason = backoff(attempt), err.Error()
		case (idempotent && retryableStatus(resp.StatusCode)) || resp.StatusCode == http.StatusTooManyRequests:
			delay = backoff(attempt)
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				delay = d
			}
			reason = resp.Status
			// Drain so that the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			_ = resp.Body.Close()
		default:
			return resp, nil
		}
		if t.log != nil {
			t.log(ctx, "retrying OpenStack request", map[string]any{
				"method": req.Method, "url": redactURL(req), "reason": reason,
				"attempt": attempt + 1, "max_retries": t.max, "delay": delay.String(),
			})
		}
		if err := t.sleep(ctx, delay); err != nil {
			return nil, &retryWaitError{msg: fmt.Sprintf("%s %s: waiting to retry after %s", req.Method, redactURL(req), reason), err: err}
		}
	}
}

// send sends one request when the connection's bucket allows it (bounded by the request's
// context); a 429 with Retry-After pauses the bucket, so that every caller slows down, not just
// this one.
func (t *retryTransport) send(r *http.Request) (*http.Response, error) {
	if err := t.bucket.Wait(r.Context()); err != nil {
		if errors.Is(err, ratelimit.ErrPaused) {
			// The backend had asked to slow down: as unavailable as a retry's wait.
			return nil, &retryWaitError{msg: fmt.Sprintf("%s %s", r.Method, redactURL(r)), err: err}
		}
		return nil, fmt.Errorf("%s %s: %w", r.Method, redactURL(r), err)
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		now := t.now()
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
			t.bucket.PauseUntil(now.Add(d))
		}
	}
	return resp, err
}

// retryWaitError says the request's context ended while the transport waited to retry a
// transient failure (msg names it): the server was unavailable until then.
type retryWaitError struct {
	msg string
	err error
}

func (e *retryWaitError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *retryWaitError) Unwrap() error { return e.err }

// transient reports whether a transport error may heal by itself: a timeout, a connection
// reset or refused, or a connection closed early (EOF). Certificate, TLS and DNS-not-found
// errors, and a cancelled or expired context, are not.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var (
		dnsErr    *net.DNSError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
	)
	switch {
	case errors.As(err, &dnsErr):
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return false
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// CloseIdleConnections closes the idle connections of the wrapped transport.
func (t *retryTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// backoff is the delay before retry attempt+1: retryBase doubled per attempt, capped at
// retryMaxBackoff, with +-20% jitter.
func backoff(attempt int) time.Duration {
	d := retryBase << min(attempt, 10)
	if d > retryMaxBackoff || d <= 0 {
		d = retryMaxBackoff
	}
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}

// retryAfter parses a Retry-After header (delay-seconds or HTTP-date), bounded by
// retryMaxRetryAfter; ok is false when the header is absent or unparsable.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(retryMaxRetryAfter/time.Second) {
			return retryMaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = at.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	return min(d, retryMaxRetryAfter), true
}

// redactURL returns the request URL without user info or query (no secrets in logs).
func redactURL(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	u := *req.URL
	u.User = nil
	u.RawQuery = ""
	return u.String()
}
