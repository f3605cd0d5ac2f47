package libvirt

import (
	"context"
	"fmt"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Steps of an unrescue, in order (the test hook afterStep sees these names with op "unrescue").
const (
	stepUnShutdown = "shutdown" // the rescue guest is shut off (only when it ran)
	stepUnDefine   = "define"   // the original definition is back, with the journal (state restoring) in it
	stepUnStart    = "start"    // the original definition runs (when it should)
	stepUnVolumes  = "volumes"  // overlay and config drive are removed (or their failure noted)
	stepUnJournal  = "journal"  // the original is defined exactly, without the journal
	stepUnSecret   = "secret"   // the journal key secret is removed
)

// UnrescueSteps lists the steps of an unrescue in order, for tests that stop after each one.
var UnrescueSteps = []string{stepUnShutdown, stepUnDefine, stepUnStart, stepUnVolumes, stepUnJournal, stepUnSecret}

// Unrescue implements rescue.Backend. It needs nothing but the journal on the host, so any
// process can do it, after a crash of the rescuing process at any step or a libvirtd restart:
// the rescue guest is shut down cleanly (forced off after the shutdown timeout given at rescue),
// the overlay and config drive are removed, the original definition is defined again exactly as
// it was, and the domain is started. It is idempotent: an unrescue that was itself interrupted
// is finished by the next one. A domain without a journal is left alone.
func (b *Backend) Unrescue(ctx context.Context, instanceID string) (err error) {
	l, done, err := b.dedicated(ctx)
	if err != nil {
		return err
	}
	defer func() { err = done(err) }()
	d, err := lookup(l, instanceID)
	if err != nil {
		return err
	}
	mu := b.domainLock(d.UUID)
	mu.Lock()
	defer mu.Unlock()
	defer b.begin(d.UUID, rescue.StateUnrescuing)()
	j, err := readJournal(l, d)
	if err != nil {
		return notFound(err, instanceID)
	}
	if j == nil {
		// Not in rescue.
		return nil
	}
	// Another live run's rescue or unrescue is never undone.
	if alive, _ := leaseAlive(j.Owner, time.Now()); alive {
		return inProgressError(instanceID, j)
	}
	o, ctx := b.newOperation(ctx, l, d, "unrescue", "")
	defer func() { o.end(!isCrash(err)) }()
	if err := o.take(instanceID, j); err != nil {
		return err
	}
	if err := o.settle(ctx, instanceID); err != nil {
		return err
	}
	if err := b.unrescue(ctx, o, j, true); err != nil {
		if isCrash(err) {
			return err
		}
		return notFound(err, instanceID)
	}
	return nil
}

// unrescue restores the original definition recorded in j. With restart, the domain is started
// afterwards when the rescue guest ran or the domain ran before the rescue (Nova leaves an
// unrescued instance running); a rescue that never took effect on a shut-off domain leaves it
// shut off.
//
// The guest comes back first: the original is defined with the journal (state restoring) in
// its metadata and started; only then are the volumes removed (best effort: a failure is
// reported once the rest is done, naming the files left), the original defined once more
// exactly (without the journal) and the key removed. A crash at any point leaves a journal
// that the next unrescue finishes from.
func (b *Backend) unrescue(ctx context.Context, o *operation, j *journal, restart bool) error {
	l, d := o.l, o.d
	original, err := unseal(l, j, d.UUID)
	if err != nil {
		return &rescue.FailedError{Op: "unrescue", InstanceID: d.Name, Reason: "cannot read the original definition from the rescue journal: " + err.Error()}
	}
	state, err := domState(l, d)
	if err != nil {
		return err
	}
	running := isActive(state)
	if j.State != stateRestoring {
		liveRescue := false
		if running {
			if liveRescue, err = runsRescue(l, d, j); err != nil {
				return err
			}
		}
		ranRescue := liveRescue || j.State == stateRescued
		if liveRescue {
			rescue.Progress(ctx, "shutting down the rescue guest of "+d.Name)
			if _, err := b.powerOff(ctx, l, d, j.shutdownTimeout()); err != nil {
				return err
			}
			running = false
		}
		if err := b.step("unrescue", stepUnShutdown); err != nil {
			return err
		}
		rj := *j
		rj.State, rj.RanRescue = stateRestoring, ranRescue
		// Only a journal that is still this operation's is replaced (another run may have
		// finished or taken it meanwhile).
		if err := o.check(d.Name); err != nil {
			return err
		}
		err = o.locked(func() error {
			rj.Owner = o.owner()
			el, err := journalElement(&rj)
			if err != nil {
				return err
			}
			withJournal, err := domxml.AddMetadata(original, el)
			if err != nil {
				return fmt.Errorf("add the rescue journal to the original definition of domain %s: %w", d.Name, err)
			}
			if _, err := l.DomainDefineXMLFlags(withJournal, 0); err != nil {
				return fmt.Errorf("define the original definition of domain %s again: %w", d.Name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		*j = rj
	}
	if err := b.step("unrescue", stepUnDefine); err != nil {
		return err
	}
	rescue.Progress(ctx, "original definition restored")
	if restart && !running && (j.RanRescue || j.WasRunning) {
		if err := startDomain(ctx, l, d); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
			return fmt.Errorf("start domain %s on its original definition: %w", d.Name, err)
		}
		rescue.Progress(ctx, "started from its own disks")
		running = true
	}
	if err := b.step("unrescue", stepUnStart); err != nil {
		return err
	}
	// The guest is back: what is left is clean-up.
	var left []string
	for _, jv := range []*journalVolume{j.ConfigDrive, j.Overlay} {
		if err := deleteVolume(l, jv); err != nil {
			left = append(left, fmt.Sprintf("%s (%v)", jv.display(), err))
		}
	}
	if err := b.step("unrescue", stepUnVolumes); err != nil {
		return err
	}
	// The renewal stops before the journal goes, so that it never writes it back.
	o.stopRenew()
	if err := o.check(d.Name); err != nil {
		return err
	}
	if _, err := l.DomainDefineXMLFlags(original, 0); err != nil {
		return fmt.Errorf("domain %s runs its original definition again, but defining it without the rescue journal failed (unrescue again to finish): %w", d.Name, err)
	}
	if running {
		// The live definition still carries the journal until the next start: drop it there
		// too (best effort, it only names what the persistent definition no longer has).
		_ = l.DomainSetMetadata(d, int32(golibvirt.DomainMetadataElement), nil, nil, golibvirt.OptString{MetadataNamespace}, golibvirt.DomainAffectLive)
	}
	// The journal is gone: a transient pool made for the rescue image is stopped unless another
	// rescue's journal names it (best effort; stopping it removes no file).
	for _, jv := range []*journalVolume{j.ConfigDrive, j.Overlay} {
		if jv != nil {
			_ = releaseTransientPool(l, jv.PoolDir)
		}
	}
	if err := b.step("unrescue", stepUnJournal); err != nil {
		return err
	}
	if j.Original.Encoding != "plain" {
		if err := deleteKey(l, j.Original.Secret); err != nil {
			return err
		}
	}
	if err := b.step("unrescue", stepUnSecret); err != nil {
		return err
	}
	if len(left) > 0 {
		return &leftoverError{Domain: d.Name, Files: left}
	}
	return nil
}

// leftoverError says an unrescue restored the domain but could not remove rescue volumes.
type leftoverError struct {
	Domain string
	// Files are the volumes left, each with its error.
	Files []string
}

func (e *leftoverError) Error() string {
	return fmt.Sprintf("domain %s is back on its original definition, but these rescue files remain on the host; remove them (virsh vol-delete): %s", e.Domain, strings.Join(e.Files, "; "))
}

// runsRescue reports whether the running domain was started from the rescue definition: its
// live definition has the rescue overlay among its disks.
func runsRescue(l *golibvirt.Libvirt, d golibvirt.Domain, j *journal) (bool, error) {
	if j.Overlay == nil || j.Overlay.Path == "" {
		return false, nil
	}
	live, err := l.DomainGetXMLDesc(d, 0)
	if err != nil {
		return false, fmt.Errorf("read live definition of domain %s: %w", d.Name, err)
	}
	return hasDisk(live, j.Overlay.Path)
}

// definesRescue reports whether the persistent definition is the rescue definition.
func definesRescue(l *golibvirt.Libvirt, d golibvirt.Domain, j *journal) (bool, error) {
	if j.Overlay == nil || j.Overlay.Path == "" {
		return false, nil
	}
	x, err := l.DomainGetXMLDesc(d, golibvirt.DomainXMLInactive)
	if err != nil {
		return false, fmt.Errorf("read definition of domain %s: %w", d.Name, err)
	}
	return hasDisk(x, j.Overlay.Path)
}

func hasDisk(domainXML, path string) (bool, error) {
	disks, err := domxml.Summary(domainXML)
	if err != nil {
		return false, fmt.Errorf("read disks: %w", err)
	}
	for _, dk := range disks {
		if dk.File == path {
			return true, nil
		}
	}
	return false, nil
}
