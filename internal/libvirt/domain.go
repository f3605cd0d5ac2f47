package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// lookup finds a domain by UUID or by name.
func lookup(l *golibvirt.Libvirt, id string) (golibvirt.Domain, error) {
	if id == "" {
		return golibvirt.Domain{}, &rescue.InvalidError{Attribute: "instance_id", Msg: "empty domain name or UUID"}
	}
	if u, err := uuid.Parse(id); err == nil {
		d, err := l.DomainLookupByUUID(golibvirt.UUID(u))
		if err == nil {
			return d, nil
		}
		if !isCode(err, golibvirt.ErrNoDomain) {
			return golibvirt.Domain{}, fmt.Errorf("look up domain %s: %w", id, err)
		}
		// A domain may be named like a UUID: try the name too.
	}
	d, err := l.DomainLookupByName(id)
	if err != nil {
		if isCode(err, golibvirt.ErrNoDomain) {
			return golibvirt.Domain{}, &rescue.NotFoundError{What: "instance", ID: id, Msg: err.Error()}
		}
		return golibvirt.Domain{}, fmt.Errorf("look up domain %s: %w", id, err)
	}
	return d, nil
}

// notFound turns a "no domain" error (the domain vanished meanwhile) into a NotFoundError.
func notFound(err error, id string) error {
	if isCode(err, golibvirt.ErrNoDomain) {
		return &rescue.NotFoundError{What: "instance", ID: id, Msg: err.Error()}
	}
	return err
}

func uuidString(u golibvirt.UUID) string { return uuid.UUID(u).String() }

// domState reads the state of a domain.
func domState(l *golibvirt.Libvirt, d golibvirt.Domain) (golibvirt.DomainState, error) {
	s, _, err := l.DomainGetState(d, 0)
	if err != nil {
		return 0, fmt.Errorf("read state of domain %s: %w", d.Name, err)
	}
	return golibvirt.DomainState(s), nil
}

var stateNames = map[golibvirt.DomainState]string{
	golibvirt.DomainNostate:     "no state",
	golibvirt.DomainRunning:     "running",
	golibvirt.DomainBlocked:     "blocked",
	golibvirt.DomainPaused:      "paused",
	golibvirt.DomainShutdown:    "shutting down",
	golibvirt.DomainShutoff:     "shut off",
	golibvirt.DomainCrashed:     "crashed",
	golibvirt.DomainPmsuspended: "pmsuspended",
}

func stateName(s golibvirt.DomainState) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state %d", s)
}

// isActive reports whether a domain has a running QEMU (or test driver instance).
func isActive(s golibvirt.DomainState) bool { return s != golibvirt.DomainShutoff }

// powerOff stops a domain: ACPI power button (pressed again every acpiResend), then a forced
// destroy once timeout has passed. A domain paused when asked is forced off at once: its CPUs
// are stopped, so it cannot answer the button (a rescue guest whose start a dead run cut short
// is left so).
func (b *Backend) powerOff(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	off, err := b.acpiShutdown(ctx, l, d, timeout)
	if err != nil || off {
		return err
	}
	return forceOff(ctx, l, d, timeout)
}

// acpiShutdown presses the power button of d (again every acpiResend; not while it is paused)
// until it is shut off or timeout has passed; off says it went down. A domain paused from the
// start is not waited for.
func (b *Backend) acpiShutdown(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, timeout time.Duration) (off bool, err error) {
	st, err := domState(l, d)
	if err != nil || st == golibvirt.DomainShutoff {
		return err == nil, err
	}
	if st == golibvirt.DomainPaused {
		rescue.Progress(ctx, "domain "+d.Name+" is paused and cannot answer the power button: forcing it off")
		return false, nil
	}
	deadline := time.Now().Add(timeout)
	lastPress := time.Time{}
	press := func() error {
		lastPress = time.Now()
		return b.pressPowerButton(l, d)
	}
	if err := press(); err != nil {
		return false, err
	}
	for time.Now().Before(deadline) {
		st, err := domState(l, d)
		if err != nil || st == golibvirt.DomainShutoff {
			return err == nil, err
		}
		if st != golibvirt.DomainPaused && time.Since(lastPress) >= b.acpiResend {
			if err := press(); err != nil {
				return false, err
			}
		}
		if err := rescue.Sleep(ctx, min(b.pollInterval, time.Until(deadline))); err != nil {
			return false, fmt.Errorf("waiting for domain %s to shut down: %w", d.Name, err)
		}
	}
	return false, nil
}

// pressPowerButton asks d to shut down (ACPI power button; the hypervisor's default method where
// the flag is rejected). A domain that no longer runs is no error.
func (b *Backend) pressPowerButton(l *golibvirt.Libvirt, d golibvirt.Domain) error {
	err := l.DomainShutdownFlags(d, golibvirt.DomainShutdownAcpiPowerBtn)
	if err != nil && isCode(err, golibvirt.ErrInvalidArg, golibvirt.ErrNoSupport, golibvirt.ErrArgumentUnsupported) {
		// The test driver rejects the ACPI flag ("unsupported flags (0x1)"): let the
		// hypervisor pick its default method.
		err = l.DomainShutdownFlags(d, golibvirt.DomainShutdownDefault)
	}
	if err != nil && isCode(err, golibvirt.ErrOperationInvalid) {
		return nil // not running (any more)
	}
	if err != nil {
		return fmt.Errorf("shut down domain %s: %w", d.Name, err)
	}
	if b.afterPress != nil {
		b.afterPress()
	}
	return nil
}

// forceOff destroys d (after timeout passed without a shutdown) and waits until it is shut off.
func forceOff(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, timeout time.Duration) error {
	if err := l.DomainDestroyFlags(d, golibvirt.DomainDestroyDefault); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return fmt.Errorf("force off domain %s after %s: %w", d.Name, timeout, err)
	}
	for i := 0; ; i++ {
		st, err := domState(l, d)
		if err != nil {
			return err
		}
		if st == golibvirt.DomainShutoff {
			return nil
		}
		if i >= 100 {
			return fmt.Errorf("domain %s is %s after destroy", d.Name, stateName(st))
		}
		if err := rescue.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}
