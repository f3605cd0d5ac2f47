package rescue

import (
	"errors"
	"fmt"
	"time"
)

// ErrAccepted marks an error that happened after the backend accepted the rescue action:
// the instance may be in rescue or on its way there, so the caller must keep track of it.
var ErrAccepted = errors.New("rescue accepted by the backend")

// ErrAuth marks an error where the backend refused the credentials (Keystone's 401, a refused
// SSH key): retrying with the same configuration cannot help, so callers do not repeat it.
var ErrAuth = errors.New("credentials refused")

// ErrConfig marks an error in the provider's configuration (a clouds.yaml entry not found,
// an unparsable setting, a region without the service): only fixing the configuration helps.
var ErrConfig = errors.New("invalid provider configuration")

// Misconfigured marks err as a configuration error (errors.Is(err, ErrConfig)), keeping its
// message and chain; nil stays nil.
func Misconfigured(err error) error {
	if err == nil || errors.Is(err, ErrConfig) {
		return err
	}
	return &configError{err: err}
}

type configError struct{ err error }

func (e *configError) Error() string   { return e.err.Error() }
func (e *configError) Unwrap() []error { return []error{e.err, ErrConfig} }

// ErrUnavailable marks a transient failure: the backend could not be reached or said it is
// unavailable for now (a transport error, HTTP 429 or 5xx after the transport's own retries,
// a lost libvirt connection). Waits retry such errors until their deadline; anything else ends
// a wait at once. Backends mark an error with Unavailable (or wrap ErrUnavailable with %w).
var ErrUnavailable = errors.New("backend unavailable")

// UnavailableError is a transient failure (errors.Is(err, ErrUnavailable)) with what is known
// about it; Err is the underlying error, kept in the chain.
type UnavailableError struct {
	// Err is the last failure seen (transport error, HTTP answer, lost connection).
	Err error
	// RetryAfter is the backend's hint of when to try again (HTTP Retry-After), if it gave one.
	RetryAfter time.Duration
	// Tried is how long the caller already kept trying before giving up (0 if unknown).
	Tried time.Duration
}

func (e *UnavailableError) Error() string {
	if e.Tried > 0 {
		return fmt.Sprintf("%v (tried for %s)", e.Err, roundDuration(e.Tried))
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error and ErrUnavailable.
func (e *UnavailableError) Unwrap() []error { return []error{e.Err, ErrUnavailable} }

// Unavailable marks err as transient (see ErrUnavailable); nil stays nil and an error that is
// already marked is returned as is.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &UnavailableError{Err: err}
}

// IsUnavailable reports whether err is marked as a transient failure worth retrying. Callers
// still check their own context: a failure caused by the end of the operation's context is
// never retried, whatever its mark.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// NotFoundError says the instance (or the image) does not exist.
type NotFoundError struct {
	// What is "instance" or "image".
	What string
	// ID is what was looked up.
	ID string
	// Msg is the backend's own message, verbatim.
	Msg string
}

func (e *NotFoundError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s %q not found: %s", e.What, e.ID, e.Msg)
	}
	return fmt.Sprintf("%s %q not found", e.What, e.ID)
}

// ConflictError says the backend refused the action in the instance's current state.
type ConflictError struct {
	// Msg is the backend's own message, verbatim (e.g. Nova's 409 text).
	Msg string
}

func (e *ConflictError) Error() string { return "conflict: " + e.Msg }

// UnsupportedError says the request cannot be done on this backend, host, cloud or image.
type UnsupportedError struct {
	// Msg says what is unsupported and, where there is one, the fix.
	Msg string
}

func (e *UnsupportedError) Error() string { return "unsupported: " + e.Msg }

// InvalidError says an attribute of the request is wrong.
type InvalidError struct {
	// Attribute is the resource attribute at fault ("device", "image_id", ...), if one is.
	Attribute string
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *InvalidError) Error() string {
	if e.Attribute == "" {
		return "invalid request: " + e.Msg
	}
	return fmt.Sprintf("invalid %s: %s", e.Attribute, e.Msg)
}

// FailedError says the backend tried and failed; Reason is its own word (Nova's fault
// message, libvirt's error).
type FailedError struct {
	// Op is "rescue" or "unrescue".
	Op string
	// InstanceID is the instance concerned.
	InstanceID string
	// Reason is the backend's reason, verbatim.
	Reason string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%s of %s failed: %s", e.Op, e.InstanceID, e.Reason)
}

// TimeoutError says a wait ended at its deadline before the instance reached the target.
type TimeoutError struct {
	// Op is what was waited for.
	Op string
	// InstanceID is the instance concerned.
	InstanceID string
	// Last is the last state seen ("unknown" when no read succeeded).
	Last string
	// Unreachable is how long the reads had been failing when the deadline came (0 when the
	// last read succeeded), and LastErr the last of those failures.
	Unreachable time.Duration
	LastErr     error
}

func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("timed out waiting for %s of %s (last state %s)", e.Op, e.InstanceID, e.Last)
	if e.LastErr != nil {
		s += fmt.Sprintf("; the backend was unreachable for the last %s: %v", roundDuration(e.Unreachable), e.LastErr)
	}
	return s
}

// roundDuration rounds d for messages: to the second, or to 100 ms below 10 s.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// IsNotFound reports whether err is or wraps a NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// IsConflict reports whether err is or wraps a ConflictError.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}
