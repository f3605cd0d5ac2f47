package libvirt

import (
	"context"
	"errors"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

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
func (b *Backend) Rescue(ctx context.Context, req rescue.Request) (rescue.Result, error) {
	// At apply every value is known: an empty image_id means the default image.
	req.ImageUnknown = false
	l, err := b.client(ctx)
	if err != nil {
		return rescue.Result{}, err
	}
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

	// An earlier rescue that was interrupted is rolled back first; a finished one is a conflict.
	j, err := readJournal(l, d)
	if err != nil {
		return rescue.Result{}, notFound(err, req.InstanceID)
	}
	wasRunning := false
	if j != nil {
		st, err := b.classify(l, d, j)
		if err != nil {
			return rescue.Result{}, notFound(err, req.InstanceID)
		}
		if st.State == rescue.StateRescued {
			return rescue.Result{}, &rescue.ConflictError{Msg: fmt.Sprintf("domain %s is already in rescue", d.Name)}
		}
		if err := b.unrescue(ctx, l, d, j, false); err != nil {
			return rescue.Result{}, fmt.Errorf("roll back the interrupted rescue of domain %s: %w", d.Name, err)
		}
		// The interrupted rescue may have shut the guest down: it ran before that rescue.
		wasRunning = j.WasRunning
	}

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
	rescueID := uuid.NewString()
	j = &journal{
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
	if err := writeJournal(l, d, j); err != nil {
		_ = deleteKey(l, secretID)
		return rescue.Result{}, err
	}
	if err := b.step("rescue", stepJournal); err != nil {
		return rescue.Result{}, err
	}

	// From here on a failure rolls back to the original definition.
	var shutdownBegan time.Time
	fail := func(cause error) (rescue.Result, error) {
		if isCrash(cause) {
			return rescue.Result{}, cause
		}
		rctx := context.WithoutCancel(ctx)
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
		rerr := b.unrescue(rctx, l, d, j, true)
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
	// still ours: another process may have rolled this rescue back meanwhile (then its own
	// volumes and key are removed, nothing else).
	if err := stillOurs(l, d, rescueID); err != nil {
		if isCrash(err) || !rescue.IsConflict(err) {
			return fail(err)
		}
		_ = deleteVolume(l, j.ConfigDrive)
		_ = deleteVolume(l, j.Overlay)
		_ = deleteKey(l, secretID)
		return rescue.Result{}, err
	}
	cur, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive|golibvirt.DomainXMLSecure)
	if err != nil {
		return fail(fmt.Errorf("read definition of domain %s: %w", d.Name, err))
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
	rx, err := domxml.Rescue(cur, opts)
	if err != nil {
		return fail(fmt.Errorf("make the rescue definition of domain %s: %w", d.Name, err))
	}
	if b.rescueXML != nil {
		rx = b.rescueXML(rx)
	}
	if _, err := l.DomainDefineXMLFlags(rx, 0); err != nil {
		return fail(defineError(d.Name, p, err))
	}
	if err := b.step("rescue", stepDefine); err != nil {
		return fail(err)
	}

	shutdownBegan = time.Now()
	if _, err := b.powerOff(ctx, l, d, timeout); err != nil {
		return fail(err)
	}
	if err := b.step("rescue", stepShutdown); err != nil {
		return fail(err)
	}
	if err := startDomain(ctx, l, d); err != nil {
		return fail(&rescue.FailedError{Op: "rescue", InstanceID: req.InstanceID, Reason: "libvirt could not start the rescue definition: " + err.Error()})
	}
	if err := b.step("rescue", stepStart); err != nil {
		return rescue.Result{}, err
	}
	if err := stillOurs(l, d, rescueID); err != nil {
		return rescue.Result{}, fmt.Errorf("%w: %w", rescue.ErrAccepted, err)
	}
	j.State = stateRescued
	if err := writeJournal(l, d, j); err != nil {
		// The rescue guest runs; Get reports it rescued from the live definition anyway.
		return rescue.Result{AdminPass: req.AdminPass}, fmt.Errorf("%w: %w", rescue.ErrAccepted, err)
	}
	if err := b.step("rescue", stepRescued); err != nil {
		return rescue.Result{}, err
	}
	return rescue.Result{AdminPass: req.AdminPass}, nil
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
