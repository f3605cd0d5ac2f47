package nova

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// maxMessage bounds a server message quoted from a non-JSON body.
const maxMessage = 500

// httpStatus returns the HTTP status and body of a gophercloud error, if it is one.
func httpStatus(err error) (int, []byte, bool) {
	var v gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &v) {
		return v.Actual, v.Body, true
	}
	var p *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &p) && p != nil {
		return p.Actual, p.Body, true
	}
	return 0, nil, false
}

// serverMessage extracts the human message of an OpenStack error body: Nova's
// {"conflictingRequest": {"code": 409, "message": "..."}}, Keystone's {"error": {"message": ...}},
// a top-level {"message": ...}, or else the body text itself (bounded).
func serverMessage(body []byte) string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err == nil {
		var direct struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &direct) == nil && direct.Message != "" {
			return stripHTML(direct.Message)
		}
		for _, raw := range top {
			var inner struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &inner) == nil && inner.Message != "" {
				return stripHTML(inner.Message)
			}
		}
	}
	s := strings.Join(strings.Fields(stripHTML(string(body))), " ")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return s
}

// HTML that OpenStack services (webob error pages: Glance, Nova's 404 for unknown paths) put
// in their messages: the head of a page, and the tags of simple markup. Only these tag names
// are removed, so that a message quoting "<class 'str'>" keeps it.
var (
	htmlHeadRE = regexp.MustCompile(`(?is)<(head|title|script|style)\b[^>]*>.*?</(head|title|script|style)\s*>`)
	htmlTagRE  = regexp.MustCompile(`(?i)</?(html|head|body|title|h[1-6]|p|br|hr|pre|div|span|a|b|i|em|strong|code|ul|ol|li)\b[^>]*>`)
)

// stripHTML returns the text of a message without its HTML markup (entities decoded, white
// space collapsed); a message without markup is returned as it is.
func stripHTML(s string) string {
	if !htmlTagRE.MatchString(s) {
		return s
	}
	s = htmlHeadRE.ReplaceAllString(s, " ")
	s = html.UnescapeString(htmlTagRE.ReplaceAllString(s, " "))
	return strings.Join(strings.Fields(s), " ")
}

// authRefused marks an error as a refusal of the credentials (errors.Is(err, rescue.ErrAuth))
// and keeps its message and chain.
type authRefused struct{ err error }

func (e *authRefused) Error() string   { return e.err.Error() }
func (e *authRefused) Unwrap() []error { return []error{e.err, rescue.ErrAuth} }

// markAuth returns err marked with rescue.ErrAuth when cause is an HTTP answer with one of
// codes (401 from Nova or Glance: the token was refused; 401 or 403 from Keystone at login),
// or a token renewal that Keystone refused (401, 403).
func markAuth(err, cause error, codes ...int) error {
	if err == nil {
		return nil
	}
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(cause, &reauth) && reauth != nil {
		if code, _, ok := httpStatus(reauth.ErrReauth); ok && (code == http.StatusUnauthorized || code == http.StatusForbidden) {
			return &authRefused{err: err}
		}
	}
	if code, _, ok := httpStatus(cause); ok {
		for _, c := range codes {
			if code == c {
				return &authRefused{err: err}
			}
		}
	}
	return err
}

// unavailableStatus reports whether an HTTP status says the service is unavailable for now:
// 429 and the 5xx that heal (500, 502, 503, 504), as opposed to 501 or 505.
func unavailableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// markUnavailable returns err marked as transient (rescue.ErrUnavailable) when cause, the
// failure of a read it describes, may heal by itself: HTTP 429 or 5xx (after the transport's
// own retries; the answer's Retry-After is kept), a transient transport error, or a request
// whose context ended while the transport waited to retry one. Anything else is returned as is.
func markUnavailable(err, cause error) error {
	if err == nil || rescue.IsUnavailable(err) {
		return err
	}
	var v gophercloud.ErrUnexpectedResponseCode
	if code, _, ok := httpStatus(cause); ok {
		if !unavailableStatus(code) {
			return err
		}
		ue := &rescue.UnavailableError{Err: err}
		if errors.As(cause, &v) && v.ResponseHeader != nil {
			if d, ok := retryAfter(v.ResponseHeader.Get("Retry-After"), time.Now()); ok {
				ue.RetryAfter = d
			}
		}
		return ue
	}
	var rw *retryWaitError
	if transient(cause) || errors.As(cause, &rw) {
		return &rescue.UnavailableError{Err: err}
	}
	return err
}

// triedFor records on a transient error how long the read was tried (with the transport's
// retries); other errors are returned as they are.
func triedFor(err error, d time.Duration) error {
	var ue *rescue.UnavailableError
	if errors.As(err, &ue) && ue.Tried == 0 {
		ue.Tried = d
	}
	return err
}

// describe returns "HTTP 409 Conflict: <server message>" for an HTTP error, else err's text.
func describe(err error) string {
	code, body, ok := httpStatus(err)
	if !ok {
		return err.Error()
	}
	msg := serverMessage(body)
	s := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// ambiguous reports whether a failed POST may still have been carried out by Nova: no
// HTTP answer at all (connection reset, timeout), or a 5xx (which a proxy may send while
// Nova goes on).
func ambiguous(err error) bool {
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) && reauth != nil {
		// Nova answered 401 (it did not act), and renewing the token failed.
		err = reauth.ErrOriginal
	}
	code, _, ok := httpStatus(err)
	return !ok || code >= 500
}

// actionError maps the error of a server action (rescue, unrescue) to the engine's typed
// errors, keeping Nova's message verbatim except for secrets (Nova's schema errors echo
// the request body), which are replaced by "***".
func actionError(op, id string, err error, secrets ...string) error {
	code, body, ok := httpStatus(err)
	if !ok {
		return markAuth(fmt.Errorf("%s of instance %s: %w", op, id, err), err)
	}
	msg := redact(serverMessage(body), secrets...)
	switch code {
	case http.StatusUnauthorized:
		return &authRefused{err: fmt.Errorf("%s of instance %s: Nova answered %s", op, id, redact(describe(err), secrets...))}
	case http.StatusNotFound:
		return &rescue.NotFoundError{What: "instance", ID: id, Msg: msg}
	case http.StatusConflict:
		return &rescue.ConflictError{Msg: msg}
	case http.StatusBadRequest:
		return badRequest(msg)
	}
	return fmt.Errorf("%s of instance %s: Nova answered %s", op, id, redact(describe(err), secrets...))
}

// redact replaces every secret in s by "***".
func redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "***")
		}
	}
	return s
}

// badRequest maps Nova's 400 text to InvalidError or UnsupportedError, verbatim.
func badRequest(msg string) error {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "volume-backed"), strings.Contains(lower, "not supported"):
		if strings.Contains(lower, "rescue image") {
			return &rescue.InvalidError{Attribute: "image_id", Msg: msg}
		}
		return &rescue.UnsupportedError{Msg: msg}
	case strings.Contains(lower, "rescue_image_ref"), strings.Contains(lower, "rescue image"):
		return &rescue.InvalidError{Attribute: "image_id", Msg: msg}
	case strings.Contains(lower, "adminpass"):
		return &rescue.InvalidError{Attribute: "admin_pass", Msg: msg}
	}
	return &rescue.InvalidError{Msg: msg}
}
