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
			"The rescue guest already runs " + what + ", and it is the rescue this configuration asks for: it was taken over as it is, without any change to the domain.",
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

// adoptable reports whether the domain runs the rescue of journal j and that rescue is the
// one req asks for (image, mode, device, bus, admin_pass).
func (b *Backend) adoptable(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, j *journal, req rescue.Request) (bool, error) {
	if j.State == stateRestoring {
		return false, nil
	}
	state, err := domState(l, d)
	if err != nil || !isActive(state) {
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
	if p.Image.Spec != j.Image || string(p.Mode) != j.Mode || p.Device != j.Device || p.Bus != j.Bus {
		return false, nil
	}
	if req.AdminPass == "" {
		return j.ConfigDrive == nil, nil
	}
	pass, ok, err := unsealPass(l, j, d.UUID)
	return err == nil && ok && j.ConfigDrive != nil && pass == req.AdminPass, nil
}

// rescue makes a new rescue of the domain (no journal on it).
func (b *Backend) rescue(ctx context.Context, o *operation, req rescue.Request, wasRunning bool) (rescue.Result, error) {
	l, d, rescueID := o.l, o.d, o.id
	state, err := domState(l, d)
	if err != nil {
		return rescue.Result{}, notFound(err, req.InstanceID)
	}
	switch state {
	case golibvirt.DomainPaused, golibvirt.DomainPmsuspended:
		return rescue.Result{}, &rescue.ConflictError{Msg: fmt.Sprintf("domain %s is %s; resume it or shut it off before a rescue", d.Name, stateName(state))}
	}
	orig, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
	if err != nil {
		return rescue.Result{}, fmt.Errorf("read definition of domain %s: %w", d.Name, notFound(err, req.InstanceID))
	}
	p, err := b.validate(ctx, l, d, orig, req, true)
	if err != nil {
		return rescue.Result{}, err
	}
	// A transient pool made for the image is stopped when this rescue fails before its journal
	// names it (and by the unrescue that ends it otherwise).
	defer p.done(l)
	timeout := req.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	j := &journal{
		ID:              rescueID,
		State:           statePreparing,
		Started:         time.Now().UTC().Format(time.RFC3339),
		Mode:            string(p.Mode),
		Device:          p.Device,
		Bus:             p.Bus,
		Image:           p.Image.Spec,
		ShutdownTimeout: timeout.String(),
		WasRunning:      isActive(state) || wasRunning,
	}
	if j.Overlay, err = plannedVolume(l, p.Image, overlayName(d, rescueID)); err != nil {
		return rescue.Result{}, err
	}
	var iso []byte
	if req.AdminPass != "" {
		if iso, err = domxml.ConfigDrive(domxml.Metadata{UUID: uuidString(d.UUID), Name: d.Name, AdminPass: req.AdminPass}); err != nil {
			return rescue.Result{}, fmt.Errorf("build config drive: %w", err)
		}
		if j.ConfigDrive, err = plannedVolume(l, p.Image, configDriveName(d, rescueID)); err != nil {
			return rescue.Result{}, err
		}
	}

	// The key of the journal, then the journal: nothing of the domain has changed so far.
	secretID, key, err := storeKey(l, d, rescueID)
	switch {
	case errors.Is(err, errNoSecretDriver):
		plain, perr := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive)
		if perr != nil {
			return rescue.Result{}, fmt.Errorf("read definition of domain %s: %w", d.Name, perr)
		}
		if plain != orig {
			return rescue.Result{}, &rescue.UnsupportedError{Msg: fmt.Sprintf("domain %s has secrets in its definition (e.g. a graphics password), and this libvirt driver has no secret driver to keep the journalled original away from read-only connections", d.Name)}
		}
		key = nil
	case err != nil:
		return rescue.Result{}, err
	}
	if err := b.step("rescue", stepSecret); err != nil {
		return rescue.Result{}, err
	}
	if err := seal(j, orig, key, secretID, d.UUID); err != nil {
		return rescue.Result{}, err
	}
	if err := sealPass(j, req.AdminPass, key, secretID, d.UUID); err != nil {
		return rescue.Result{}, err
	}
	if err := o.create(req.InstanceID, j); err != nil {
		_ = deleteKey(l, secretID)
		return rescue.Result{}, err
	}
	if err := b.step("rescue", stepJournal); err != nil {
		return rescue.Result{}, err
	}
	return b.rescueSteps(ctx, o, req, p, j, iso, secretID, timeout)
}

// rescueSteps runs a rescue from its journal on: overlay, config drive, define, shutdown, start.
// From here on a failure rolls back to the original definition.
func (b *Backend) rescueSteps(ctx context.Context, o *operation, req rescue.Request, p *plan, j *journal, iso []byte, secretID string, timeout time.Duration) (rescue.Result, error) {
	l, d := o.l, o.d
	var shutdownBegan time.Time
	fail := func(cause error) (rescue.Result, error) {
		if isCrash(cause) {
			return rescue.Result{}, cause
		}
		// The rollback outlives ctx by b.rollbackGrace at most, on a connection of its own (the
		// operation's may be the one that failed, or be closed when ctx ends).
		rctx, stop := b.rollbackContext(ctx)
		defer stop()
		l, rdone, err := b.dedicatedRetry(rctx)
		if err != nil {
			return rescue.Result{}, fmt.Errorf("%w: %w (and libvirtd could not be reached to roll back: %w; the rescue journal is kept so that an unrescue can restore the original)", rescue.ErrAccepted, cause, err)
		}
		defer func() { _ = rdone(nil) }()
		o.use(l)
		if !shutdownBegan.IsZero() {
			// The guest may have got the ACPI press and be on its way down (a cancelled
			// context, a create timeout shorter than shutdown_timeout): let it finish, forced
			// off at the end of the shutdown timeout, so that the rollback starts it again.
			left := max(time.Until(shutdownBegan.Add(timeout)), 5*time.Second)
			pctx, cancel := context.WithTimeout(rctx, left+30*time.Second)
			_, perr := b.powerOff(pctx, l, d, left)
			cancel()
			if perr != nil {
				return rescue.Result{}, fmt.Errorf("%w: %w (and the guest, asked to shut down, could not be brought back: %w; the rescue journal is kept so that an unrescue can restore the original)", rescue.ErrAccepted, cause, perr)
			}
		}
		rerr := b.unrescue(rctx, o, j, true)
		var left *leftoverError
		if errors.As(rerr, &left) {
			return rescue.Result{}, fmt.Errorf("%w (rolled back: %w)", cause, rerr)
		}
		if rerr != nil {
			return rescue.Result{}, fmt.Errorf("%w: %w (and the rollback failed, the rescue journal is kept so that an unrescue can restore the original: %w)", rescue.ErrAccepted, cause, rerr)
		}
		return rescue.Result{}, cause
	}
	if err := createOverlay(l, p.Image, j.Overlay); err != nil {
		return fail(err)
	}
	if err := b.step("rescue", stepOverlay); err != nil {
		return fail(err)
	}
	if iso != nil {
		if err := createConfigDrive(l, p.Image, j.ConfigDrive, iso); err != nil {
			return fail(err)
		}
	}
	if err := b.step("rescue", stepConfigDrive); err != nil {
		return fail(err)
	}

	// The rescue definition, defined while the guest still runs, only while the journal is
	// still ours: another run may have taken it meanwhile (then this rescue's own volumes and
	// key are removed, nothing else).
	if err := o.settle(ctx, req.InstanceID); err != nil {
		if isCrash(err) || !lostJournal(err) {
			return fail(err)
		}
		_ = deleteVolume(l, j.ConfigDrive)
		_ = deleteVolume(l, j.Overlay)
		_ = deleteKey(l, secretID)
		return rescue.Result{}, err
	}
	watch := false
	err := o.locked(func() error {
		cur, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
		if err != nil {
			return fmt.Errorf("read definition of domain %s: %w", d.Name, err)
		}
		opts := domxml.Options{
			Device: p.Device,
			Bus:    p.Bus,
			Image:  domxml.Source{File: j.Overlay.Path},
			Format: "qcow2",
		}
		if j.ConfigDrive != nil {
			opts.ConfigDrive = &domxml.Source{File: j.ConfigDrive.Path}
		}
		opts.RebootTimeout = b.rebootTimeout(cur)
		watch = opts.RebootTimeout != nil
		rx, err := domxml.Rescue(cur, opts)
		if err != nil {
			return fmt.Errorf("make the rescue definition of domain %s: %w", d.Name, err)
		}
		if b.rescueXML != nil {
			rx = b.rescueXML(rx)
		}
		if _, err := l.DomainDefineXMLFlags(rx, 0); err != nil {
			return defineError(d.Name, p, err)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if err := b.step("rescue", stepDefine); err != nil {
		return fail(err)
	}
	rescue.Progress(ctx, fmt.Sprintf("rescue definition in place; shutting down %s (ACPI, forced off after %s)", d.Name, timeout))

	shutdownBegan = time.Now()
	if _, err := b.powerOff(ctx, l, d, timeout); err != nil {
		return fail(err)
	}
	if err := b.step("rescue", stepShutdown); err != nil {
		return fail(err)
	}
	rescue.Progress(ctx, "shut off; starting the rescue definition")
	if err := b.startRescue(ctx, l, d, bootTarget{InstanceID: req.InstanceID, Path: j.Overlay.Path, Device: p.Device, Bus: p.Bus, Image: p.Image.Spec, Watch: watch}); err != nil {
		return fail(err)
	}
	if err := b.step("rescue", stepStart); err != nil {
		return rescue.Result{}, err
	}
	rescue.Progress(ctx, startedText(watch))
	// Rescued: the lease is released in the same write (handed to Terraform).
	j.State = stateRescued
	if err := o.finish(req.InstanceID, j); err != nil {
		// The rescue guest runs; Get reports it rescued from the live definition anyway.
		return rescue.Result{AdminPass: req.AdminPass}, fmt.Errorf("%w: %w", rescue.ErrAccepted, err)
	}
	if err := b.step("rescue", stepRescued); err != nil {
		return rescue.Result{}, err
	}
	return rescue.Result{AdminPass: req.AdminPass}, nil
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
