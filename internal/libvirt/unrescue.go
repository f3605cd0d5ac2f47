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
	r := &unrescueRun{b: b, o: o, j: j, restart: restart, restoring: j.State == stateRestoring}
	original, err := unseal(o.l, j, o.d.UUID)
	if err != nil {
		return &rescue.FailedError{Op: "unrescue", InstanceID: o.d.Name, Reason: "cannot read the original definition from the rescue journal: " + err.Error()}
	}
	r.original = original
	state, err := domState(o.l, o.d)
	if err != nil {
		return err
	}
	r.running = isActive(state)
	if err := b.runSteps(ctx, "unrescue", r.steps()); err != nil {
		return err
	}
	if len(r.left) > 0 {
		return &leftoverError{Domain: o.d.Name, Files: r.left}
	}
	return nil
}

// unrescueRun is the run-state of one unrescue: the journal it restores from and what its steps
// found and did. An unrescue has no way back: it goes on from wherever the last one stopped.
type unrescueRun struct {
	b        *Backend
	o        *operation
	j        *journal
	restart  bool
	original string // the original definition, from the journal

	restoring bool     // an earlier unrescue already defined the original (journal in state restoring)
	running   bool     // the domain runs
	ranRescue bool     // the rescue guest ran (or runs)
	left      []string // the volumes that could not be removed, each with its error
}

// steps are the unrescue's steps, in order (UnrescueSteps are their names). A journal in state
// restoring resumes at the start.
func (r *unrescueRun) steps() []runStep {
	var steps []runStep
	if !r.restoring {
		steps = append(steps, runStep{stepUnShutdown, r.shutdown})
	}
	return append(steps,
		runStep{stepUnDefine, r.defineOriginal},
		runStep{stepUnStart, r.start},
		// The guest is back: what is left is clean-up.
		runStep{stepUnVolumes, r.removeVolumes},
		runStep{stepUnJournal, r.dropJournal},
		runStep{stepUnSecret, r.removeKey},
	)
}

// shutdown shuts the rescue guest down when it runs (cleanly, forced off after the shutdown
// timeout given at rescue).
func (r *unrescueRun) shutdown(ctx context.Context) error {
	l, d := r.o.l, r.o.d
	liveRescue := false
	if r.running {
		var err error
		if liveRescue, err = runsRescue(l, d, r.j); err != nil {
			return err
		}
	}
	r.ranRescue = liveRescue || r.j.State == stateRescued
	if liveRescue {
		rescue.Progress(ctx, "shutting down the rescue guest of "+d.Name)
		if err := r.b.powerOff(ctx, l, d, r.j.shutdownTimeout()); err != nil {
			return err
		}
		r.running = false
	}
	return nil
}

// defineOriginal defines the original again with the journal (state restoring) in its
// metadata, only while the journal is still this operation's (another run may have finished or
// taken it meanwhile).
func (r *unrescueRun) defineOriginal(ctx context.Context) error {
	if r.restoring {
		return nil
	}
	l, d := r.o.l, r.o.d
	rj := *r.j
	rj.State, rj.RanRescue = stateRestoring, r.ranRescue
	if err := r.o.check(d.Name); err != nil {
		return err
	}
	err := r.o.locked(func() error {
		rj.Owner = r.o.owner()
		el, err := journalElement(&rj)
		if err != nil {
			return err
		}
		withJournal, err := domxml.AddMetadata(r.original, el)
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
	*r.j = rj
	rescue.Progress(ctx, "original definition restored")
	return nil
}

// start starts the original definition when asked to and the rescue guest or the domain before
// the rescue ran.
func (r *unrescueRun) start(ctx context.Context) error {
	if !r.restart || r.running || (!r.j.RanRescue && !r.j.WasRunning) {
		return nil
	}
	if err := startDomain(ctx, r.o.l, r.o.d); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return fmt.Errorf("start domain %s on its original definition: %w", r.o.d.Name, err)
	}
	rescue.Progress(ctx, "started from its own disks")
	r.running = true
	return nil
}

// removeVolumes removes the config drive and the overlay (best effort: the failures are noted
// in left).
func (r *unrescueRun) removeVolumes(context.Context) error {
	for _, jv := range []*journalVolume{r.j.ConfigDrive, r.j.Overlay} {
		if err := deleteVolume(r.o.l, jv); err != nil {
			r.left = append(r.left, fmt.Sprintf("%s (%v)", jv.display(), err))
		}
	}
	return nil
}

// dropJournal defines the original exactly, without the journal.
func (r *unrescueRun) dropJournal(context.Context) error {
	l, d := r.o.l, r.o.d
	// The renewal stops before the journal goes, so that it never writes it back.
	r.o.stopRenew()
	if err := r.o.check(d.Name); err != nil {
		return err
	}
	if _, err := l.DomainDefineXMLFlags(r.original, 0); err != nil {
		return fmt.Errorf("domain %s runs its original definition again, but defining it without the rescue journal failed (unrescue again to finish): %w", d.Name, err)
	}
	if r.running {
		// The live definition still carries the journal until the next start: drop it there
		// too (best effort, it only names what the persistent definition no longer has).
		_ = l.DomainSetMetadata(d, int32(golibvirt.DomainMetadataElement), nil, nil, golibvirt.OptString{MetadataNamespace}, golibvirt.DomainAffectLive)
	}
	// The journal is gone: a transient pool made for the rescue image is stopped unless another
	// rescue's journal names it (best effort; stopping it removes no file).
	for _, jv := range []*journalVolume{r.j.ConfigDrive, r.j.Overlay} {
		if jv != nil {
			_ = releaseTransientPool(l, jv.PoolDir)
		}
	}
	return nil
}

// removeKey removes the journal key secret.
func (r *unrescueRun) removeKey(context.Context) error {
	if r.j.Original.Encoding == "plain" {
		return nil
	}
	return deleteKey(r.o.l, r.j.Original.Secret)
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
