package nova

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Ownership of operations on Nova.
//
// Nova keeps, for every action on a server, who asked for it and when (os-instance-actions:
// action, request_id, user_id, project_id, start_time), and the provider writes nothing to the
// server (metadata or tags would be drift for terraform-provider-openstack). What Nova cannot
// tell is which run of which working directory sent a rescue, nor whether that run is still
// alive. So each rescue or unrescue also keeps a local record (package oprecord) in the
// Terraform data directory of the run: written before the POST, held with an flock(2) while
// the operation runs (the live process's lease, dropped by the kernel when it dies), and
// completed with Nova's request id once Nova answered.
//
// A rescue this provider can prove it started and lost (the run died before Terraform kept
// it in state) is one where all of these hold:
//   - the instance's record is not held (its run is dead or over), was written by a rescue in
//     this working directory's workspace against this compute endpoint;
//   - the credentials are the same: our user and project are the record's, and the action's;
//   - Nova's newest action on the server is that rescue: its request id is the record's,
//     or, when the run died before Nova's answer reached it, a rescue by our user and project
//     that started within the record's operation time (its timeout), clock skew allowed.
//
// Such a rescue's generated password is lost, so it is replaced: unrescued and rescued again
// with a password that is kept, with a warning. A held record is a live run: nothing is done
// and the caller gets an InProgressError. Anything else is a rescue someone else owns.

// clockSkew is how far Nova's clock (start_time) may be from ours.
const clockSkew = 2 * time.Minute

// defaultWindow bounds a record's operation time when its context had no deadline.
const defaultWindow = 30 * time.Minute

// identity is the Keystone user and project of the backend's credentials; empty when they
// cannot be told.
type identity struct {
	UserID, ProjectID string
}

func (i identity) known() bool { return i.UserID != "" && i.ProjectID != "" }

// ownership is the Backend's part for operation records.
type ownership struct {
	// store is nil when records are off (no usable directory).
	store     *oprecord.Store
	workspace string
	// noauthToken is the token sent without Keystone (Nova's noauth2 "user:project").
	noauthToken string

	mu sync.Mutex
	// held are records an adoption has taken for the unrescue and rescue that replace a lost
	// rescue: Unrescue uses them, Rescue takes them over.
	held map[string]*oprecord.Lock
	// mine counts the records this backend holds per instance: its own reads do not take
	// them for another run's.
	mine map[string]int
	// active are this backend's operations in flight, by instance.
	active map[string]*activeOp
}

// hold counts a record held by this backend until release is called.
func (o *ownership) hold(id string) (release func()) {
	o.mu.Lock()
	if o.mine == nil {
		o.mine = map[string]int{}
	}
	o.mine[id]++
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			if o.mine[id]--; o.mine[id] <= 0 {
				delete(o.mine, id)
			}
			o.mu.Unlock()
		})
	}
}

// liveOther returns the InProgressError of another live run's operation on the instance, or
// nil (none, or the record is this backend's own). Get reports it in Instance.InProgress.
func (b *Backend) liveOther(id string) *rescue.InProgressError {
	if b.own.store == nil {
		return nil
	}
	b.own.mu.Lock()
	mine := b.own.mine[id] > 0
	b.own.mu.Unlock()
	if mine {
		return nil
	}
	rec, live := b.own.store.Peek(id)
	if !live {
		return nil
	}
	return inProgressOf(&oprecord.InProgressError{InstanceID: id, Other: rec, Path: b.own.store.Path(id)})
}

// initOwnership sets where the records are kept, from the environment of the provider process
// (see oprecord.Dir); New calls it.
func (b *Backend) initOwnership(noauthToken string) {
	b.own.store = oprecord.Open(oprecord.Dir(os.Getenv))
	b.own.workspace = oprecord.Workspace(os.Getenv)
	b.own.noauthToken = noauthToken
}

// identity returns the user and project of the credentials: from Keystone's token (the auth
// result gophercloud keeps), or, without Keystone, from a noauth2 token "user:project" (Nova's
// noauth2 middleware reads it so). A token passed through without auth_url that is not of that
// form is not identifiable: an empty identity.
func (b *Backend) identity() identity {
	if b.own.noauthToken != "" {
		user, project, ok := strings.Cut(b.own.noauthToken, ":")
		if !ok {
			return identity{}
		}
		if project == "" {
			project = user
		}
		return identity{UserID: user, ProjectID: project}
	}
	if b.provider == nil {
		return identity{}
	}
	r, ok := b.provider.GetAuthResult().(interface {
		ExtractUser() (*tokens.User, error)
		ExtractProject() (*tokens.Project, error)
	})
	if !ok {
		return identity{}
	}
	var id identity
	if u, err := r.ExtractUser(); err == nil && u != nil {
		id.UserID = u.ID
	}
	if p, err := r.ExtractProject(); err == nil && p != nil {
		id.ProjectID = p.ID
	}
	return id
}

// acquire takes the instance's record for an operation of kind and writes it (see begin);
// an adoption's record (proveLost) is used as it is for its unrescue and taken over by its
// rescue. A record held by a live run is an error wrapping *oprecord.InProgressError. A nil
// lock and nil error mean records are off or unusable: the operation runs without one (logged).
func (b *Backend) acquire(ctx context.Context, kind, id string) (*oprecord.Lock, error) {
	b.own.mu.Lock()
	l := b.own.held[id]
	if l != nil && kind == "rescue" {
		delete(b.own.held, id)
	}
	b.own.mu.Unlock()
	if l != nil {
		if kind == "rescue" {
			b.begin(ctx, l, kind, id)
		}
		return l, nil
	}
	if b.own.store == nil {
		return nil, nil
	}
	l, err := b.own.store.Acquire(id)
	var ip *oprecord.InProgressError
	if errors.As(err, &ip) {
		return nil, inProgressOf(ip)
	}
	if err != nil {
		b.debug(ctx, "operation record not kept", map[string]any{"instance_id": id, "error": err.Error()})
		return nil, nil
	}
	b.begin(ctx, l, kind, id)
	return l, nil
}

// refused removes the record of a rescue that Nova clearly refused: Nova did not act, so a
// later run must not take a rescue by someone else for this one.
func (b *Backend) refused(l *oprecord.Lock) {
	if l != nil {
		_ = l.Remove()
	}
}

// inProgressOf is the engine's error for a live record of another run.
func inProgressOf(ip *oprecord.InProgressError) *rescue.InProgressError {
	e := &rescue.InProgressError{InstanceID: ip.InstanceID}
	if o := ip.Other; o != nil {
		e.Op, e.Since, e.Operation, e.PID, e.Host = o.Kind, o.Started, o.Op, o.PID, o.Host
	}
	return e
}

// begin writes the record of an operation about to send its request and releases it when the
// operation's context ends (the resource's Create or Delete returned, or its time is up).
func (b *Backend) begin(ctx context.Context, l *oprecord.Lock, kind, id string) {
	if l == nil {
		return
	}
	now := time.Now().UTC()
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		timeout = dl.Sub(now)
	}
	me := b.identity()
	err := l.Write(oprecord.Record{Op: oprecord.NewOp(), Kind: kind, InstanceID: id, Endpoint: b.compute.Endpoint,
		Workspace: b.own.workspace, UserID: me.UserID, ProjectID: me.ProjectID, Started: now, Timeout: timeout,
		Phase: oprecord.PhaseStarting})
	if err != nil {
		b.debug(ctx, "operation record not written", map[string]any{"instance_id": id, "error": err.Error()})
	}
	release := b.own.hold(id)
	op := &activeOp{kind: kind}
	var once sync.Once
	op.end = func() {
		once.Do(func() {
			b.own.mu.Lock()
			if b.own.active[id] == op {
				delete(b.own.active, id)
			}
			b.own.mu.Unlock()
			if kind == "unrescue" {
				// An unrescue leaves nothing that a later run could need to prove.
				_ = l.Remove()
			} else {
				_ = l.Release()
			}
			release()
		})
	}
	b.own.mu.Lock()
	if b.own.active == nil {
		b.own.active = map[string]*activeOp{}
	}
	b.own.active[id] = op
	b.own.mu.Unlock()
	context.AfterFunc(ctx, op.end)
}

// activeOp is an operation of this backend whose record it holds, until Nova shows the
// accepted action over (observe) or the operation's context ends, whichever comes first.
type activeOp struct {
	kind     string
	accepted bool
	end      func()
}

// accepted notes in the record that Nova accepted the action, with its request id when the
// answer carries one (h: the answer's headers; nil after an ambiguous answer).
func (b *Backend) accepted(id string, l *oprecord.Lock, h map[string][]string) {
	if l == nil {
		return
	}
	rid := requestID(h)
	_ = l.Update(func(r *oprecord.Record) { r.RequestID = rid; r.Phase = oprecord.PhaseAccepted })
	b.own.mu.Lock()
	if op := b.own.active[id]; op != nil {
		op.accepted = true
	}
	b.own.mu.Unlock()
}

// observe ends the hold of this backend's accepted operation on the instance once Nova shows
// it over (settled in a state that is not a rescue or unrescue in progress): from then on
// the record is evidence for a later proof, not a lease. Get calls it.
func (b *Backend) observe(id string, s rescue.State) {
	if s.Transient() || s == rescue.StateOther {
		return
	}
	b.own.mu.Lock()
	op := b.own.active[id]
	b.own.mu.Unlock()
	if op != nil && op.accepted {
		op.end()
	}
}

// requestID is Nova's request id from response headers.
func requestID(h map[string][]string) string {
	for _, k := range []string{"X-Openstack-Request-Id", "X-Compute-Request-Id"} {
		if v := h[k]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// proof is the outcome of looking for a lost rescue of this provider.
type proof struct {
	// Proven says the rescue is this provider's, left by a dead run.
	Proven bool
	// Why says what was found, for the warning or for the import message.
	Why string
	// Action is Nova's rescue action concerned, when one was compared.
	Action *instanceactions.InstanceAction
}

// proveLost decides whether the rescue of instance id (in rescue or rescuing, with no state)
// was started by a dead run of this provider (see the package comment above). Proven, the
// record is held for the replacement (Unrescue and Rescue use it) until ctx ends. A live
// record is an InProgressError; not proven, nothing is kept or changed.
func (b *Backend) proveLost(ctx context.Context, id string) (proof, error) {
	if b.own.store == nil {
		return proof{Why: "no operation records are kept by this provider process"}, nil
	}
	l, err := b.own.store.Acquire(id)
	var ip *oprecord.InProgressError
	if errors.As(err, &ip) {
		return proof{}, inProgressOf(ip)
	}
	if err != nil {
		return proof{Why: err.Error()}, nil
	}
	p, err := b.judge(ctx, l.Prev)
	if err != nil || !p.Proven {
		_ = l.Release()
		return p, err
	}
	b.own.mu.Lock()
	if b.own.held == nil {
		b.own.held = map[string]*oprecord.Lock{}
	}
	b.own.held[id] = l
	b.own.mu.Unlock()
	release := b.own.hold(id)
	context.AfterFunc(ctx, func() {
		defer release()
		b.own.mu.Lock()
		if b.own.held[id] == l {
			delete(b.own.held, id)
		}
		b.own.mu.Unlock()
		_ = l.Release()
	})
	return p, nil
}

// judge compares a dead run's record with Nova's actions on the server.
func (b *Backend) judge(ctx context.Context, rec *oprecord.Record) (proof, error) {
	if rec == nil {
		return proof{Why: "no run of this working directory left a record of rescuing it"}, nil
	}
	if p := b.recordMatches(rec); p.Why != "" {
		return p, nil
	}
	acts, err := b.actions(ctx, rec.InstanceID)
	if err != nil {
		return proof{}, err
	}
	return judgeActions(rec, b.identity(), acts), nil
}

// recordMatches says why a record is not this run's kind of record ("" when it is).
func (b *Backend) recordMatches(rec *oprecord.Record) proof {
	me := b.identity()
	switch {
	case rec.Kind != "rescue":
		return proof{Why: fmt.Sprintf("the last record of this working directory is an %s", rec.Kind)}
	case rec.Endpoint != b.compute.Endpoint:
		return proof{Why: fmt.Sprintf("the record of this working directory is for another cloud (%s)", rec.Endpoint)}
	case rec.PID == os.Getpid() && rec.Host == hostname():
		return proof{Why: "the rescue was made by this provider process, which is alive (another operation of this process?)"}
	case rec.Workspace != b.own.workspace:
		return proof{Why: fmt.Sprintf("the record is of workspace %q, not %q", rec.Workspace, b.own.workspace)}
	case !me.known():
		return proof{Why: "the user and project of these credentials cannot be told (a token without auth_url " +
			"that is not of Nova's noauth2 form user:project)"}
	case rec.UserID != me.UserID || rec.ProjectID != me.ProjectID:
		return proof{Why: fmt.Sprintf("the record's run used other credentials (user %s, project %s)", rec.UserID, rec.ProjectID)}
	}
	return proof{}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// actions lists the server's actions.
func (b *Backend) actions(ctx context.Context, id string) ([]instanceactions.InstanceAction, error) {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return nil, err
	}
	pages, err := instanceactions.List(c, id, nil).AllPages(ctx)
	if err != nil {
		return nil, actionsError(id, err)
	}
	all, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return nil, fmt.Errorf("read the actions of instance %s: %w", id, err)
	}
	return all, nil
}

// judgeActions is the proof from Nova's side (pure logic): the newest action must be the
// record's rescue.
func judgeActions(rec *oprecord.Record, me identity, acts []instanceactions.InstanceAction) proof {
	var newest *instanceactions.InstanceAction
	for i := range acts {
		// Nova lists the newest first; the start times decide where they differ.
		if newest == nil || acts[i].StartTime.After(newest.StartTime) {
			newest = &acts[i]
		}
	}
	if newest == nil {
		return proof{Why: "Nova lists no action on the server"}
	}
	a := newest
	desc := fmt.Sprintf("Nova's newest action on the server is a %s (request %s) by user %s, project %s at %s",
		a.Action, a.RequestID, a.UserID, a.ProjectID, a.StartTime.UTC().Format(time.RFC3339))
	window := rec.Timeout
	if window <= 0 {
		window = defaultWindow
	}
	from, to := rec.Started.Add(-clockSkew), rec.Started.Add(window+clockSkew)
	switch {
	case a.Action != "rescue":
		return proof{Why: desc, Action: a}
	case a.UserID != me.UserID || a.ProjectID != me.ProjectID:
		return proof{Why: desc + ": other credentials", Action: a}
	case rec.RequestID != "" && a.RequestID != rec.RequestID:
		return proof{Why: desc + fmt.Sprintf(", not the rescue this working directory sent (request %s)", rec.RequestID), Action: a}
	case a.StartTime.Before(from) || a.StartTime.After(to):
		return proof{Why: desc + fmt.Sprintf(", outside the time of this working directory's rescue (from %s, timeout %s)",
			rec.Started.UTC().Format(time.RFC3339), window), Action: a}
	}
	how := "its request id is the one the run recorded"
	if rec.RequestID == "" {
		how = "the run died before Nova's answer reached it; the rescue is by the same user and project within its timeout"
	}
	return proof{Proven: true, Action: a, Why: fmt.Sprintf("the rescue (request %s, %s) was started by a run of this "+
		"working directory that died at %s (process %d on %s, workspace %q): %s",
		a.RequestID, a.StartTime.UTC().Format(time.RFC3339), rec.Updated.UTC().Format(time.RFC3339), rec.PID, rec.Host,
		rec.Workspace, how)}
}

var _ rescue.Recoverer = (*Backend)(nil)

// Recover implements rescue.Recoverer for an instance in rescue (or rescuing) that a resource
// that no caller holds asks to rescue. A live run's record is an *rescue.InProgressError; a rescue
// proven to be a dead run's (proveLost) is replaced, because the password Nova got is lost
// with that run: the engine unrescues it and rescues again with a password that is kept, and
// the user gets a warning saying why. Anything else is Foreign: the import message.
func (b *Backend) Recover(ctx context.Context, req rescue.Request, cur *rescue.Instance) (rescue.Resumption, error) {
	if cur.State != rescue.StateRescued && cur.State != rescue.StateRescuing {
		// In ERROR (Preflight asks): Nova rescues from ERROR, nothing to replace.
		return rescue.Resumption{Action: rescue.Foreign}, nil
	}
	p, err := b.proveLost(ctx, req.InstanceID)
	if err != nil {
		return rescue.Resumption{}, err
	}
	if !p.Proven {
		b.debug(ctx, "rescue found is not one a dead run of this provider left", map[string]any{
			"instance_id": req.InstanceID, "status": cur.Status, "why": p.Why})
		return rescue.Resumption{Action: rescue.Foreign}, nil
	}
	return rescue.Resumption{Action: rescue.Replace, Warning: fmt.Sprintf("Instance %s was %s and held by no caller: %s. "+
		"The rescue password that run used never reached its caller and Nova cannot tell it again, so "+
		"that rescue is replaced: the instance is unrescued and rescued again, and the new password is returned "+
		"to the caller.", req.InstanceID, statusOr(cur), p.Why)}, nil
}

func statusOr(i *rescue.Instance) string {
	if i.Status == "RESCUE" {
		return "in rescue"
	}
	return "in a rescue (" + i.Status + ")"
}

// Settled tells the backend that Terraform's state holds the instance's rescue (the resource's
// Read found it in rescue): a record of a run that is over is no longer needed for a proof,
// and is removed. A live record is left alone.
func (b *Backend) Settled(id string) {
	if b.own.store == nil {
		return
	}
	l, err := b.own.store.Acquire(id)
	if err != nil {
		return
	}
	if l.Prev != nil && l.Prev.Kind == "rescue" {
		_ = l.Remove()
		return
	}
	_ = l.Release()
}
