package rescue

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Leftover says what Engine.Rescue does with an instance that a resource without state of it
// asks to rescue while the instance is already in rescue (or in a rescue or unrescue): see
// Recoverer.
type Leftover int

const (
	// Foreign: the rescue is not one a dead run of this provider left (another workspace owns
	// it, or a person rescued it by hand): Engine.Rescue refuses with an AlreadyRescuedError,
	// which tells the user how to import it. Nothing is changed.
	Foreign Leftover = iota
	// Adopt: a dead run of this provider left this rescue, it is complete and matches the
	// request: the engine waits until the instance is in rescue and returns
	// Resumption.Result as its own outcome (AdminPass: the password in effect), without any
	// change to the instance.
	Adopt
	// Replace: a dead run of this provider left this rescue (the backend can prove it) but it
	// cannot be adopted (e.g. its generated password is lost): the engine unrescues it, waits
	// until the instance is out of rescue, then rescues anew.
	Replace
	// Resume: the backend's own Rescue finishes or rolls back the dead run's operation before
	// it rescues (libvirt does so from its journal): the engine calls Backend.Rescue as for an
	// instance not in rescue.
	Resume
)

// String returns the name of the action, for logs and tests.
func (l Leftover) String() string {
	switch l {
	case Foreign:
		return "foreign"
	case Adopt:
		return "adopt"
	case Replace:
		return "replace"
	case Resume:
		return "resume"
	}
	return fmt.Sprintf("leftover(%d)", int(l))
}

// Resumption is a backend's verdict on an instance found in rescue by a resource that has no
// state of it.
type Resumption struct {
	// Action is what the engine does.
	Action Leftover
	// Result is the outcome of an adopted rescue (Adopt only).
	Result Result
	// Warning, when set, is shown to the user: what was found and what is done about it
	// (e.g. "the rescue an interrupted run started at ... is replaced by a new one").
	Warning string
}

// Recoverer is implemented by backends that record which run of the provider owns a rescue
// or unrescue in progress: an operation id and a lease that the live process renews (libvirt:
// in the domain's journal; Nova: from its instance actions). With it, an operation left by a
// dead run (SIGKILL of the provider or of Terraform, a CI runner lost) converges at the next
// plain apply instead of asking for an import, and a live run's operation is never undone.
//
// Engine.Rescue calls Recover before any change when Get reported the instance in rescue or in
// a rescue in progress (StateRescued, StateRescuing); a backend that does not implement it
// gets today's AlreadyRescuedError. Recover must itself change nothing. It returns:
//   - an *InProgressError when a live run of the provider (another process or workspace) holds
//     the operation: the engine returns it as is, and the caller keeps nothing in state;
//   - Foreign for a rescue handed over to Terraform (complete, the lease released) or one the
//     provider did not start;
//   - Adopt, Replace or Resume for an operation a dead run left (its lease expired or its
//     process is gone), with a Warning that says what was found.
//
// Engine.Preflight (at plan) asks too, and also for an instance in StateError: there Foreign
// means "nothing of ours", and Rescue goes ahead as usual.
//
// The backend's Rescue and Unrescue must still check the lease themselves right before they
// change anything (the verdict may be stale by then) and refuse a live lease of another run
// with an *InProgressError.
type Recoverer interface {
	Recover(ctx context.Context, req Request, cur *Instance) (Resumption, error)
}

// InProgressError says a live run of the provider (another process, another workspace) is
// rescuing or unrescuing the instance: nothing was changed. It does not wrap ErrAccepted, so
// the caller keeps nothing in state that could undo the other run's work.
type InProgressError struct {
	// Op is "rescue" or "unrescue".
	Op string
	// InstanceID is the instance concerned.
	InstanceID string
	// Since is when the other run's operation began; zero when unknown.
	Since time.Time
	// Operation is the other run's operation id; empty when unknown.
	Operation string
	// PID and Host identify the other run's process, when known.
	PID  int
	Host string
	// LeaseUntil is when the other run's lease expires unless renewed; zero when unknown.
	LeaseUntil time.Time
}

func (e *InProgressError) Error() string {
	op := e.Op
	if op == "" {
		op = "rescue"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "a%s %s of %s is in progress by another run", article(op), op, e.InstanceID)
	if !e.Since.IsZero() {
		fmt.Fprintf(&b, " since %s", e.Since.UTC().Format(time.RFC3339))
	}
	var who []string
	if e.Operation != "" {
		who = append(who, "operation "+e.Operation)
	}
	switch {
	case e.PID != 0 && e.Host != "":
		who = append(who, fmt.Sprintf("pid %d on %s", e.PID, e.Host))
	case e.PID != 0:
		who = append(who, fmt.Sprintf("pid %d", e.PID))
	case e.Host != "":
		who = append(who, "on "+e.Host)
	}
	if !e.LeaseUntil.IsZero() {
		who = append(who, "lease until "+e.LeaseUntil.UTC().Format(time.RFC3339))
	}
	if len(who) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(who, ", "))
	}
	b.WriteString("; nothing was changed")
	return b.String()
}

func article(op string) string {
	if strings.HasPrefix(op, "u") {
		return "n"
	}
	return ""
}

// Preflight tells, before any change (at plan), what Rescue will find on req.InstanceID: the
// InProgressError or AlreadyRescuedError that Rescue would return, or a warning when Rescue
// will finish, take over or replace an operation a dead run left. It returns neither when the
// instance is not in rescue or cannot be read (Validate and Rescue report that). It changes
// nothing.
func (e *Engine) Preflight(ctx context.Context, req Request) (string, error) {
	cur, err := e.Backend.Get(ctx, req.InstanceID)
	if err != nil {
		return "", nil //nolint:nilerr // reported by Validate or at apply
	}
	if cur.InProgress != nil {
		return "", cur.InProgress
	}
	inRescue := cur.State == StateRescued || cur.State == StateRescuing
	if !inRescue && cur.State != StateError {
		return "", nil
	}
	already := &AlreadyRescuedError{InstanceID: req.InstanceID, Status: cur.Status}
	r, ok := e.Backend.(Recoverer)
	if !ok {
		if inRescue {
			return "", already
		}
		return "", nil
	}
	v, err := r.Recover(ctx, req, cur)
	if err != nil {
		return "", err
	}
	if v.Action == Foreign {
		if inRescue {
			return "", already
		}
		// An instance in error that no dead run of ours left: Rescue goes ahead as usual.
		return "", nil
	}
	w := fmt.Sprintf("Instance %s is %s: a run of this provider that did not finish left its rescue or unrescue there. Apply takes that rescue over when it is complete and what the configuration asks for, else rolls it back (or replaces it) and rescues anew.", req.InstanceID, cur.StatusText())
	if v.Warning != "" {
		w += " " + v.Warning
	}
	return w, nil
}
