package rescue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Engine runs rescue operations on one Backend and waits for their outcome.
type Engine struct {
	Backend Backend
	Poller  Poller
}

// NewEngine returns an engine over b with the default poller (DefaultPoller).
func NewEngine(b Backend) *Engine {
	return &Engine{Backend: b, Poller: DefaultPoller(b)}
}

// AlreadyRescuedError says the instance is in rescue although this resource did not rescue it.
type AlreadyRescuedError struct {
	InstanceID string
	Status     string
}

func (e *AlreadyRescuedError) Error() string {
	return fmt.Sprintf("instance %s is already in rescue (%s)", e.InstanceID, e.Status)
}

// Outcome says how an unrescue ended.
type Outcome int

const (
	// Unrescued means the instance was in rescue and now runs from its own disks.
	Unrescued Outcome = iota
	// AlreadyUnrescued means the instance was not in rescue: nothing was done.
	AlreadyUnrescued
	// Gone means the instance no longer exists: nothing was done.
	Gone
	// LeftInError means the instance is in an error state and the backend refused to unrescue
	// it (Nova answers 409 for an ERROR server): nothing was done, the reason is returned.
	LeftInError
)

// Rescue rescues req.InstanceID and waits until it is really in rescue. The context's
// deadline bounds the whole operation. An error wrapping ErrAccepted means the backend had
// accepted the rescue, so the instance may be in rescue: the caller must keep track of it.
func (e *Engine) Rescue(ctx context.Context, req Request) (Result, *Instance, error) {
	cur, err := e.read(ctx, req.InstanceID)
	if err != nil {
		return Result{}, nil, err
	}
	return e.rescue(ctx, req, cur, nil)
}

// rescue rescues an instance read as cur. checked, when not nil, is the validation that read
// it: a Preparer backend acts on that read while cur is still what the instance is.
func (e *Engine) rescue(ctx context.Context, req Request, cur *Instance, checked *Checked) (Result, *Instance, error) {
	if cur.InProgress != nil {
		return Result{}, cur, cur.InProgress
	}
	var warnings []string
	switch cur.State {
	case StateRescued, StateRescuing:
		res, inst, done, err := e.leftover(ctx, req, cur)
		if done || err != nil {
			return res, inst, err
		}
		warnings = res.Warnings
		checked = nil // the instance changed since it was read
	case StateUnrescuing:
		// Someone else is unrescuing it: let that finish first.
		if _, err := e.waitUnrescued(ctx, req.InstanceID); err != nil {
			return Result{}, nil, err
		}
		checked = nil
	default:
		// Active, stopped, in error or other: the backend's Rescue decides.
	}
	var (
		res Result
		err error
	)
	if p, ok := e.Backend.(Preparer); ok && checked != nil {
		res, err = p.RescuePrepared(ctx, req, checked.note)
	} else {
		res, err = e.Backend.Rescue(ctx, req)
	}
	res.Warnings = append(warnings, res.Warnings...)
	if err != nil {
		return res, nil, err
	}
	inst, err := e.waitRescued(ctx, req.InstanceID)
	if err != nil {
		return res, inst, fmt.Errorf("%w: %w", ErrAccepted, err)
	}
	return res, inst, nil
}

// waitRescued waits until the instance is in rescue after an accepted rescue.
func (e *Engine) waitRescued(ctx context.Context, id string) (*Instance, error) {
	return e.Poller.Wait(ctx, "rescue", id, e.get(id), func(i *Instance) (bool, error) {
		switch i.State {
		case StateRescued:
			return true, nil
		case StateError:
			return false, &FailedError{Op: "rescue", InstanceID: id, Reason: i.Fault}
		case StateRescuing:
			return false, nil
		case StateActive, StateStopped:
			// The backend recorded the rescue in progress before it accepted it, so an
			// instance out of rescue with no task means the rescue was undone.
			return false, e.reverted(ctx, "rescue", id, i)
		default:
			// Unrescuing or other: not settled yet.
			return false, nil
		}
	})
}

// leftover deals with an instance found in rescue by a rescue request (see Recoverer). done
// says the outcome is final (adopted, refused); otherwise the caller rescues, with the
// warnings of res.
func (e *Engine) leftover(ctx context.Context, req Request, cur *Instance) (Result, *Instance, bool, error) {
	already := &AlreadyRescuedError{InstanceID: req.InstanceID, Status: cur.Status}
	r, ok := e.Backend.(Recoverer)
	if !ok {
		return Result{}, cur, true, already
	}
	v, err := r.Recover(ctx, req, cur)
	if err != nil {
		return Result{}, cur, true, err
	}
	var warnings []string
	if v.Warning != "" {
		warnings = []string{v.Warning}
	}
	switch v.Action {
	case Adopt:
		res := v.Result
		res.Warnings = append(warnings, res.Warnings...)
		inst, err := e.waitRescued(ctx, req.InstanceID)
		if err != nil {
			return res, inst, true, fmt.Errorf("%w: %w", ErrAccepted, err)
		}
		return res, inst, true, nil
	case Replace:
		if _, inst, err := e.Unrescue(ctx, req.InstanceID); err != nil {
			return Result{Warnings: warnings}, inst, true, fmt.Errorf("unrescue the rescue an interrupted run left on %s before rescuing anew: %w", req.InstanceID, err)
		}
		return Result{Warnings: warnings}, nil, false, nil
	case Resume:
		return Result{Warnings: warnings}, nil, false, nil
	default: // Foreign
		return Result{}, cur, true, already
	}
}

// Unrescue unrescues an instance and waits until it runs from its own disks again. An
// instance that is not in rescue or is gone is a success with the matching Outcome.
func (e *Engine) Unrescue(ctx context.Context, id string) (Outcome, *Instance, error) {
	cur, err := e.read(ctx, id)
	if IsNotFound(err) {
		return Gone, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if cur.InProgress != nil {
		// Another live run's operation: never waited out and undone.
		return 0, cur, cur.InProgress
	}
	if cur.State == StateRescuing {
		if cur, err = e.waitRescueSettled(ctx, id); err != nil {
			if IsNotFound(err) {
				return Gone, nil, nil
			}
			return 0, cur, err
		}
	}
	switch cur.State {
	case StateRescued, StateError:
		// Nova answers 409 for unrescue of an ERROR server; the backend says so verbatim.
	case StateUnrescuing:
		inst, err := e.waitUnrescued(ctx, id)
		return Unrescued, inst, err
	default:
		return AlreadyUnrescued, cur, nil
	}
	if err := e.Backend.Unrescue(ctx, id); err != nil {
		if IsNotFound(err) {
			return Gone, nil, nil
		}
		if cur.State == StateError && IsConflict(err) {
			return LeftInError, cur, err
		}
		return 0, cur, err
	}
	inst, err := e.waitUnrescued(ctx, id)
	if IsNotFound(err) {
		return Gone, nil, nil
	}
	return Unrescued, inst, err
}

// Read returns the instance, waiting out a rescue or unrescue in progress.
func (e *Engine) Read(ctx context.Context, id string) (*Instance, error) {
	cur, err := e.read(ctx, id)
	if err != nil || !cur.State.Transient() {
		return cur, err
	}
	return e.Poller.Wait(ctx, "read", id, e.get(id), func(i *Instance) (bool, error) {
		return !i.State.Transient(), nil
	})
}

func (e *Engine) waitUnrescued(ctx context.Context, id string) (*Instance, error) {
	return e.Poller.Wait(ctx, "unrescue", id, e.get(id), func(i *Instance) (bool, error) {
		switch i.State {
		case StateActive, StateStopped:
			return true, nil
		case StateError:
			return false, &FailedError{Op: "unrescue", InstanceID: id, Reason: i.Fault}
		case StateRescued:
			// Back in rescue with no task: the unrescue was undone.
			return false, e.reverted(ctx, "unrescue", id, i)
		default:
			// Unrescuing, rescuing or other: not settled yet.
			return false, nil
		}
	})
}

// reverted describes an accepted action that the backend undid without a fault, with the
// backend's reason when it can tell one.
func (e *Engine) reverted(ctx context.Context, op, id string, i *Instance) error {
	reason := fmt.Sprintf("the instance is %s again without a fault", i.StatusText())
	if r, ok := e.Backend.(ActionReasoner); ok {
		if why, err := r.LastActionError(ctx, id, op); err == nil && why != "" {
			reason += ": " + why
		}
	}
	return &FailedError{Op: op, InstanceID: id, Reason: reason}
}

func (e *Engine) waitRescueSettled(ctx context.Context, id string) (*Instance, error) {
	return e.Poller.Wait(ctx, "rescue", id, e.get(id), func(i *Instance) (bool, error) {
		return i.State != StateRescuing, nil
	})
}

// read is Backend.Get, riding out transient failures (IsUnavailable) until ctx ends, as the
// waits do: a read before an action is as safe to repeat as the reads of a wait.
// A read that times out this way is a TimeoutError of op "read" that counts the outage from
// the first read.
func (e *Engine) read(ctx context.Context, id string) (*Instance, error) {
	start := time.Now()
	inst, first := e.Backend.Get(ctx, id)
	if !IsUnavailable(first) || ctx.Err() != nil {
		return inst, first
	}
	inst, err := e.Poller.Wait(ctx, "read", id, e.get(id), func(*Instance) (bool, error) { return true, nil })
	var te *TimeoutError
	if errors.As(err, &te) {
		// No read succeeded since the first one failed.
		te.Unreachable = downUntilDeadline(ctx, start)
		if te.LastErr == nil {
			te.LastErr = first
		}
	}
	return inst, err
}

func (e *Engine) get(id string) GetFunc {
	return func(ctx context.Context) (*Instance, error) { return e.Backend.Get(ctx, id) }
}

// Accepted reports whether err says the backend accepted a rescue before the error.
func Accepted(err error) bool { return errors.Is(err, ErrAccepted) }
