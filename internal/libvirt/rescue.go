package libvirt

import (
	"context"
	"errors"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Steps of a rescue, in order (the test hook afterStep sees these names with op "rescue").
const (
	stepSecret      = "secret"       // the journal key secret exists
	stepJournal     = "journal"      // the journal (state preparing) is in the persistent definition
	stepOverlay     = "overlay"      // the overlay volume exists
	stepConfigDrive = "config-drive" // the config drive volume exists (only with admin_pass)
	stepDefine      = "define"       // the rescue definition is defined (guest still runs)
	stepShutdown    = "shutdown"     // the guest is shut off
	stepStart       = "start"        // the rescue definition runs
	stepRescued     = "rescued"      // the journal says rescued
)

// RescueSteps lists the steps of a rescue in order, for tests that stop after each one.
var RescueSteps = []string{stepSecret, stepJournal, stepOverlay, stepConfigDrive, stepDefine, stepShutdown, stepStart, stepRescued}

// Rescue implements rescue.Backend. It does what Nova's libvirt driver does: the original
// definition is journalled first, the overlay (and config drive) are made, the rescue
// definition is defined while the guest still runs (a rejection costs no downtime and is
// rolled back), then the guest is shut down cleanly (forced off after the shutdown timeout)
// and the rescue definition is started. It returns once the rescue guest was started.
func (b *Backend) Rescue(ctx context.Context, req rescue.Request) (res rescue.Result, err error) {
	// At apply every value is known: an empty image_id means the default image.
	req.ImageUnknown = false
	l, done, err := b.dedicated(ctx)
	if err != nil {
		return rescue.Result{}, err
	}
	defer func() { err = done(err) }()
	d, err := lookup(l, req.InstanceID)
	if err != nil {
		return rescue.Result{}, err
	}
	mu := b.domainLock(d.UUID)
	mu.Lock()
	defer mu.Unlock()
	defer b.begin(d.UUID, rescue.StateRescuing)()
	// A transient domain has no persistent definition for the journal: refused first.
	if err := checkPersistent(l, d, req.InstanceID); err != nil {
		return rescue.Result{}, err
	}
	o, ctx := b.newOperation(ctx, l, d, "rescue", "")
	// A dead process releases nothing: an injected crash leaves the lease as it was.
	defer func() { o.end(!isCrash(err)) }()

	// An operation that a dead run left is finished (adopted) or rolled back first; a live
	// run's is left alone; a rescue handed to Terraform is someone else's.
	j, err := readJournal(l, d)
	if err != nil {
		return rescue.Result{}, notFound(err, req.InstanceID)
	}
	wasRunning := false
	var warnings []string
	if j != nil {
		res, done, err := b.leftover(ctx, o, req, j)
		if done || err != nil {
			return res, err
		}
		// The interrupted rescue may have shut the guest down: it ran before that rescue.
		wasRunning, warnings = j.WasRunning, res.Warnings
	}
	res, err = b.rescue(ctx, o, req, wasRunning)
	res.Warnings = append(warnings, res.Warnings...)
	return res, err
}

// leftover deals with the journal j of an operation found on the domain before a rescue.
// done says the rescue is complete (adopted) or refused; otherwise the operation was rolled back
// and the rescue goes on, with res.Warnings saying so.
func (b *Backend) leftover(ctx context.Context, o *operation, req rescue.Request, j *journal) (rescue.Result, bool, error) {
	l, d := o.l, o.d
	alive, why := leaseAlive(j.Owner, time.Now())
	if alive {
		return rescue.Result{}, true, inProgressError(req.InstanceID, j)
	}
	st, err := b.classify(l, d, j)
	if err != nil {
		return rescue.Result{}, true, notFound(err, req.InstanceID)
	}
	if st.State == rescue.StateRescued && j.Owner == nil && j.State == stateRescued {
		// Handed to Terraform: another workspace's (or an import's) rescue.
		return rescue.Result{}, true, &rescue.AlreadyRescuedError{InstanceID: req.InstanceID, Status: st.Status}
	}
	what := fmt.Sprintf("the %s of domain %s that a run which did not finish began (%s; %s)", ownerKind(j), d.Name, ownerText(j), why)
	if err := o.take(req.InstanceID, j); err != nil {
		return rescue.Result{}, true, err
	}
	if err := o.settle(ctx, req.InstanceID); err != nil {
		return rescue.Result{}, true, err
	}
	ok, err := b.adoptable(ctx, l, d, j, req)
	if err != nil {
		return rescue.Result{}, true, err
	}
	if ok {
		j.State = stateRescued
		if req.ShutdownTimeout > 0 {
			j.ShutdownTimeout = req.ShutdownTimeout.String()
		}
		if err := o.finish(req.InstanceID, j); err != nil {
			return rescue.Result{}, true, fmt.Errorf("%w: %w", rescue.ErrAccepted, err)
		}
		return rescue.Result{AdminPass: req.AdminPass, Warnings: []string{
			"The rescue guest already runs " + what + ", and it is the rescue this request asks for: it was taken over as it is, without any change to the domain.",
		}}, true, nil
	}
	if err := b.unrescue(ctx, o, j, false); err != nil {
		return rescue.Result{}, true, fmt.Errorf("roll back the interrupted %s of domain %s: %w", ownerKind(j), d.Name, err)
	}
	return rescue.Result{Warnings: []string{"Rolled back " + what + ", then rescued the domain anew."}}, false, nil
}

func ownerKind(j *journal) string {
	if j.Owner != nil && j.Owner.Kind == "unrescue" || j.State == stateRestoring {
		return "unrescue"
	}
	return "rescue"
}

// adoptable reports whether the domain runs (state running) the rescue of journal j and that
// rescue is the one req asks for (image, mode, device, bus, admin_pass).
func (b *Backend) adoptable(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, j *journal, req rescue.Request) (bool, error) {
	if j.State == stateRestoring {
		return false, nil
	}
	state, err := domState(l, d)
	// Only a guest that runs: a paused one (QEMU starts with its CPUs stopped, and a start cut
	// short by the dead run may leave it so) has not booted the rescue image, and is rolled
	// back and rescued anew.
	if err != nil || state != golibvirt.DomainRunning {
		return false, err
	}
	if live, err := runsRescue(l, d, j); err != nil || !live {
		return false, err
	}
	original, err := unseal(l, j, d.UUID)
	if err != nil {
		return false, nil // rolled back instead, which reports it
	}
	p, err := b.validate(ctx, l, d, original, req, false)
	if err != nil || p.Image == nil {
		return false, nil
	}
	if p.Image.Spec != j.Image || string(p.Mode) != j.Mode || string(p.Device) != j.Device || string(p.Bus) != j.Bus {
		return false, nil
	}
	if req.AdminPass == "" {
		return j.ConfigDrive == nil, nil
	}
	pass, ok, err := unsealPass(l, j, d.UUID)
	return err == nil && ok && j.ConfigDrive != nil && pass == req.AdminPass, nil
}

// rescue makes a new rescue of the domain (no journal on it): it plans the rescue (nothing
// changes), then runs its steps.
func (b *Backend) rescue(ctx context.Context, o *operation, req rescue.Request, wasRunning bool) (rescue.Result, error) {
	l := o.l
	r := &rescueRun{b: b, o: o, req: req}
	if err := r.validate(ctx); err != nil {
		return rescue.Result{}, err
	}
	// A transient pool made for the image is stopped when this rescue fails before its journal
	// names it (and by the unrescue that ends it otherwise).
	defer r.p.done(l)
	if err := r.plan(wasRunning); err != nil {
		return rescue.Result{}, err
	}
	return r.run(ctx)
}

// rescueRun is the run-state of one new rescue: what it was asked, what it planned, and how far
// its steps got. The steps run in order (run); a failure of any of them goes through rollback,
// the one way back, which undoes what the steps made so far.
type rescueRun struct {
	b   *Backend
	o   *operation
	req rescue.Request

	// Planned before any change (validate, plan).
	p       *plan
	orig    string        // the original definition, secrets included
	j       *journal      // the journal, in state preparing until the rescue guest runs
	iso     []byte        // the config drive's content; nil without admin_pass
	timeout time.Duration // the shutdown timeout

	// Made by the steps.
	secretID      string    // the journal key's secret ("" without a secret driver)
	key           []byte    // the journal key (nil without a secret driver)
	keyStored     bool      // stepSecret done: the key secret exists
	journalled    bool      // stepJournal done: the journal is on the domain
	watch         bool      // the rescue definition has a reboot timeout: its first boot is watched
	shutdownBegan time.Time // when the guest was asked to shut down (zero before stepShutdown)
	started       bool      // stepStart done: the rescue guest runs, there is no way back
}

// runStep is one step of a rescue or unrescue: do, then the step hook (and any progress
// report) named name.
type runStep struct {
	name string
	do   func(ctx context.Context) error
}

// runSteps runs steps of the operation op ("rescue", "unrescue") in order, each followed by the
// step hook; it stops at the first error. Every step boundary of both operations passes here.
func (b *Backend) runSteps(ctx context.Context, op string, steps []runStep) error {
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			return err
		}
		if err := b.step(op, s.name); err != nil {
			return err
		}
	}
	return nil
}

// steps are the rescue's steps, in order (RescueSteps are their names).
func (r *rescueRun) steps() []runStep {
	return []runStep{
		// The key of the journal, then the journal: nothing of the domain has changed so far.
		{stepSecret, r.storeKey},
		{stepJournal, r.writeJournal},
		// From here on a failure rolls back to the original definition.
		{stepOverlay, r.createOverlay},
		{stepConfigDrive, r.createConfigDrive},
		{stepDefine, r.define},
		{stepShutdown, r.shutdown},
		{stepStart, r.start},
		// Rescued: the lease is released in the same write (handed to Terraform).
		{stepRescued, r.finish},
	}
}

// run runs the steps; the first failure (or injected crash) ends the run through rollback.
func (r *rescueRun) run(ctx context.Context) (rescue.Result, error) {
	if err := r.b.runSteps(ctx, "rescue", r.steps()); err != nil {
		return r.rollback(ctx, err)
	}
	return rescue.Result{AdminPass: r.req.AdminPass}, nil
}

// validate reads the domain's state and original definition and validates the request against
// them.
func (r *rescueRun) validate(ctx context.Context) error {
	l, d := r.o.l, r.o.d
	state, err := domState(l, d)
	if err != nil {
		return notFound(err, r.req.InstanceID)
	}
	if state == golibvirt.DomainPaused || state == golibvirt.DomainPmsuspended {
		return &rescue.ConflictError{Msg: fmt.Sprintf("domain %s is %s; resume it or shut it off before a rescue", d.Name, stateName(state))}
	}
	if r.orig, err = l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure); err != nil {
		return fmt.Errorf("read definition of domain %s: %w", d.Name, notFound(err, r.req.InstanceID))
	}
	if r.p, err = r.b.validate(ctx, l, d, r.orig, r.req, true); err != nil {
		return err
	}
	r.timeout = r.req.ShutdownTimeout
	if r.timeout <= 0 {
		r.timeout = DefaultShutdownTimeout
	}
	r.j = &journal{
		ID:              r.o.id,
		State:           statePreparing,
		Started:         time.Now().UTC().Format(time.RFC3339),
		Mode:            string(r.p.Mode),
		Device:          string(r.p.Device),
		Bus:             string(r.p.Bus),
		Image:           r.p.Image.Spec,
		ShutdownTimeout: r.timeout.String(),
		WasRunning:      isActive(state),
	}
	return nil
}

// plan names the volumes of the rescue in the journal and builds the config drive.
// wasRunning says the domain ran before an interrupted rescue that was rolled back.
func (r *rescueRun) plan(wasRunning bool) (err error) {
	l, d, j := r.o.l, r.o.d, r.j
	j.WasRunning = j.WasRunning || wasRunning
	if j.Overlay, err = plannedVolume(l, r.p.Image, overlayName(d, r.o.id)); err != nil {
		return err
	}
	if r.req.AdminPass == "" {
		return nil
	}
	if r.iso, err = domxml.ConfigDrive(domxml.Metadata{UUID: uuidString(d.UUID), Name: d.Name, AdminPass: r.req.AdminPass}); err != nil {
		return fmt.Errorf("build config drive: %w", err)
	}
	j.ConfigDrive, err = plannedVolume(l, r.p.Image, configDriveName(d, r.o.id))
	return err
}

// storeKey makes the journal key secret. Without a secret driver the journal is kept in plain
// text, which is refused when the definition has secrets of its own.
func (r *rescueRun) storeKey(context.Context) error {
	l, d := r.o.l, r.o.d
	var err error
	r.secretID, r.key, err = storeKey(l, d, r.o.id)
	switch {
	case errors.Is(err, errNoSecretDriver):
		plain, perr := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive)
		if perr != nil {
			return fmt.Errorf("read definition of domain %s: %w", d.Name, perr)
		}
		if plain != r.orig {
			return &rescue.UnsupportedError{Msg: fmt.Sprintf("domain %s has secrets in its definition (e.g. a graphics password), and this libvirt driver has no secret driver to keep the journalled original away from read-only connections", d.Name)}
		}
		r.key = nil
	case err != nil:
		return err
	}
	r.keyStored = true
	return nil
}

// writeJournal seals the original definition and admin_pass into the journal and writes it
// on the domain (state preparing).
func (r *rescueRun) writeJournal(context.Context) error {
	if err := seal(r.j, r.orig, r.key, r.secretID, r.o.d.UUID); err != nil {
		return err
	}
	if err := sealPass(r.j, r.req.AdminPass, r.key, r.secretID, r.o.d.UUID); err != nil {
		return err
	}
	if err := r.o.create(r.req.InstanceID, r.j); err != nil {
		return err
	}
	r.journalled = true
	return nil
}

// createOverlay makes the overlay volume on the rescue image.
func (r *rescueRun) createOverlay(context.Context) error {
	return createOverlay(r.o.l, r.p.Image, r.j.Overlay)
}

// createConfigDrive makes the config drive volume (only with admin_pass).
func (r *rescueRun) createConfigDrive(context.Context) error {
	if r.iso == nil {
		return nil
	}
	return createConfigDrive(r.o.l, r.p.Image, r.j.ConfigDrive, r.iso)
}

// define defines the rescue definition while the guest still runs, only while the journal is
// still ours: another run may have taken it meanwhile (a journalLostError: rollback then
// removes this rescue's own volumes and key, nothing else).
func (r *rescueRun) define(ctx context.Context) error {
	if err := r.o.settle(ctx, r.req.InstanceID); err != nil {
		if isCrash(err) || !lostJournal(err) {
			return err
		}
		return &journalLostError{err: err}
	}
	return r.o.locked(r.defineLocked)
}

// defineLocked makes the rescue definition from the current one and defines it (under the
// operation's lock).
func (r *rescueRun) defineLocked() error {
	l, d, p := r.o.l, r.o.d, r.p
	cur, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
	if err != nil {
		return fmt.Errorf("read definition of domain %s: %w", d.Name, err)
	}
	opts := domxml.Options{
		Device: string(p.Device),
		Bus:    string(p.Bus),
		Image:  domxml.Source{File: r.j.Overlay.Path},
		Format: "qcow2",
	}
	if r.j.ConfigDrive != nil {
		opts.ConfigDrive = &domxml.Source{File: r.j.ConfigDrive.Path}
	}
	opts.RebootTimeout = r.b.rebootTimeout(cur)
	r.watch = opts.RebootTimeout != nil
	rx, err := domxml.Rescue(cur, opts)
	if err != nil {
		return fmt.Errorf("make the rescue definition of domain %s: %w", d.Name, err)
	}
	if r.b.rescueXML != nil {
		rx = r.b.rescueXML(rx)
	}
	if _, err := l.DomainDefineXMLFlags(rx, 0); err != nil {
		return defineError(d.Name, p, err)
	}
	return nil
}

// shutdown shuts the guest down cleanly, forced off after the shutdown timeout.
func (r *rescueRun) shutdown(ctx context.Context) error {
	rescue.Progress(ctx, fmt.Sprintf("rescue definition in place; shutting down %s (ACPI, forced off after %s)", r.o.d.Name, r.timeout))
	r.shutdownBegan = time.Now()
	return r.b.powerOff(ctx, r.o.l, r.o.d, r.timeout)
}

// start starts the rescue definition (and watches its first boot).
func (r *rescueRun) start(ctx context.Context) error {
	j, p := r.j, r.p
	rescue.Progress(ctx, "shut off; starting the rescue definition")
	err := r.b.startRescue(ctx, r.o.l, r.o.d, bootTarget{InstanceID: r.req.InstanceID, Path: j.Overlay.Path, Device: string(p.Device), Bus: string(p.Bus), Image: p.Image.Spec, Watch: r.watch})
	r.started = err == nil
	if r.started {
		rescue.Progress(ctx, startedText(r.watch))
	}
	return err
}

// finish writes the journal in state rescued, the lease released.
func (r *rescueRun) finish(context.Context) error {
	r.j.State = stateRescued
	return r.o.finish(r.req.InstanceID, r.j)
}

// journalLostError says another run took the rescue journal before the domain was changed.
type journalLostError struct{ err error }

func (e *journalLostError) Error() string { return e.err.Error() }
func (e *journalLostError) Unwrap() error { return e.err }

// rollback is the one way back from a failed step; what it does depends on how far the run got:
//   - an injected crash: nothing (a dead process cleans nothing up);
//   - the rescue guest runs: nothing to undo, the rescue is accepted (Get reports it rescued
//     from the live definition even when the journal could not say so);
//   - another run took the journal before the domain changed: this rescue's own volumes and
//     key are removed, nothing else;
//   - no journal yet: the key is removed;
//   - else restore: the original definition is back (see restore).
func (r *rescueRun) rollback(ctx context.Context, cause error) (rescue.Result, error) {
	l := r.o.l
	var lost *journalLostError
	switch {
	case isCrash(cause):
		return rescue.Result{}, cause
	case r.started:
		return rescue.Result{AdminPass: r.req.AdminPass}, fmt.Errorf("%w: %w", rescue.ErrAccepted, cause)
	case errors.As(cause, &lost):
		_ = deleteVolume(l, r.j.ConfigDrive)
		_ = deleteVolume(l, r.j.Overlay)
		_ = deleteKey(l, r.secretID)
		return rescue.Result{}, lost.err
	case !r.journalled:
		if r.keyStored {
			_ = deleteKey(l, r.secretID)
		}
		return rescue.Result{}, cause
	}
	return rescue.Result{}, r.restore(ctx, cause)
}

// restore rolls a journalled rescue back to the original definition after cause: on a
// connection of its own (the operation's may be the one that failed, or be closed when ctx
// ends), for b.rollbackGrace past ctx at most. A rescue whose rollback fails is accepted
// (rescue.ErrAccepted): the journal is kept so that an unrescue can restore the original.
func (r *rescueRun) restore(ctx context.Context, cause error) error {
	rctx, stop := r.b.rollbackContext(ctx)
	defer stop()
	l, rdone, err := r.b.dedicatedRetry(rctx)
	if err != nil {
		return fmt.Errorf("%w: %w (and libvirtd could not be reached to roll back: %w; the rescue journal is kept so that an unrescue can restore the original)", rescue.ErrAccepted, cause, err)
	}
	defer func() { _ = rdone(nil) }()
	r.o.use(l)
	if !r.shutdownBegan.IsZero() {
		// The guest may have got the ACPI press and be on its way down (a cancelled
		// context, a create timeout shorter than shutdown_timeout): let it finish, forced
		// off at the end of the shutdown timeout, so that the rollback starts it again.
		left := max(time.Until(r.shutdownBegan.Add(r.timeout)), 5*time.Second)
		pctx, cancel := context.WithTimeout(rctx, left+30*time.Second)
		perr := r.b.powerOff(pctx, l, r.o.d, left)
		cancel()
		if perr != nil {
			return fmt.Errorf("%w: %w (and the guest, asked to shut down, could not be brought back: %w; the rescue journal is kept so that an unrescue can restore the original)", rescue.ErrAccepted, cause, perr)
		}
	}
	rerr := r.b.unrescue(rctx, r.o, r.j, true)
	var left *leftoverError
	if errors.As(rerr, &left) {
		return fmt.Errorf("%w (rolled back: %w)", cause, rerr)
	}
	if rerr != nil {
		return fmt.Errorf("%w: %w (and the rollback failed, the rescue journal is kept so that an unrescue can restore the original: %w)", rescue.ErrAccepted, cause, rerr)
	}
	return cause
}

// lostJournal reports whether err says the journal is no longer the operation's.
func lostJournal(err error) bool {
	var ip *rescue.InProgressError
	return rescue.IsConflict(err) || errors.As(err, &ip)
}

// defineError turns libvirt's rejection of the rescue definition into a typed error that keeps
// libvirt's message verbatim: a definition libvirt cannot accept in the domain's current
// situation (operation invalid or failed: another definition of the same name or UUID, the
// domain changed meanwhile) is a ConflictError; a configuration or XML error is an
// InvalidError (on bus in stable-device mode); a feature the driver lacks is an
// UnsupportedError; anything else keeps libvirt's error.
func defineError(name string, p *plan, err error) error {
	what := "the rescue definition"
	if p.Mode == rescue.ModeStable {
		what = fmt.Sprintf("the rescue definition (device %s on bus %s)", p.Device, p.Bus)
	}
	msg := fmt.Sprintf("libvirt rejected %s of domain %s: %v (nothing was changed: the guest kept running on its original definition)", what, name, err)
	switch {
	case isCode(err, golibvirt.ErrOperationInvalid, golibvirt.ErrOperationFailed):
		return &rescue.ConflictError{Msg: msg}
	case isCode(err, golibvirt.ErrConfigUnsupported, golibvirt.ErrXMLError, golibvirt.ErrXMLDetail, golibvirt.ErrXMLInvalidSchema):
		if p.Mode == rescue.ModeStable {
			return &rescue.InvalidError{Attribute: "bus", Msg: msg}
		}
		return &rescue.UnsupportedError{Msg: msg}
	case isCode(err, golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported):
		return &rescue.UnsupportedError{Msg: msg}
	}
	return fmt.Errorf("libvirt rejected %s of domain %s (nothing was changed: the guest kept running on its original definition): %w", what, name, err)
}
