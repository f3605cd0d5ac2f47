package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Leases: each rescue or unrescue is an operation with a random id that owns the domain's
// journal while it runs. The journal names the owner (operation, kind, process id, host, boot
// id, pid namespace, process start time) and a lease expiry that the live process renews every
// leaseRenew. Another run may roll back or finish the operation only when its lease is dead:
// expired, or at once when the owner's process was on this same host (same boot, same pid
// namespace) and no longer exists (or is a zombie, or the pid now belongs to a newer process).
// Within one process a registry of live operations decides, so that a test's injected crash
// (the operation returns without cleanup) reads as the death of its process.
//
// The lease is released (the owner dropped from the journal) when the operation ends: a
// rescue that was started is then "handed to Terraform", and a run that finds it without
// state of it treats it as someone else's rescue (import it). An operation that cannot renew
// its lease until it expires stops (its context is cancelled), so that it never works on a
// domain another run may have taken over.

// Lease timings (the Backend's zero values mean these).
const (
	defaultLeaseRenew  = 10 * time.Second
	defaultLeaseTTL    = 30 * time.Second
	defaultLeaseSettle = 500 * time.Millisecond
)

// journalOwner is the run that holds the journal's operation.
type journalOwner struct {
	// Op is the operation id; Kind is "rescue" or "unrescue".
	Op   string `xml:"op,attr"`
	Kind string `xml:"kind,attr"`
	// PID, Host, Boot (the kernel's boot id), PIDNS (the pid namespace) and PIDStart (the
	// process start time in clock ticks since boot) identify the owner's process.
	PID      int    `xml:"pid,attr,omitempty"`
	Host     string `xml:"host,attr,omitempty"`
	Boot     string `xml:"boot,attr,omitempty"`
	PIDNS    string `xml:"pidns,attr,omitempty"`
	PIDStart string `xml:"pid-start,attr,omitempty"`
	// Since is when the operation began, Until when its lease expires unless renewed (RFC 3339).
	Since string `xml:"since,attr,omitempty"`
	Until string `xml:"lease-until,attr"`
}

// proc identifies a process for lease liveness.
type proc struct {
	pid                     int
	host, boot, ns, started string
}

// self is this process.
var self = sync.OnceValue(func() proc {
	p := proc{pid: os.Getpid()}
	p.host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.boot = strings.TrimSpace(string(b))
	}
	p.ns, _ = os.Readlink("/proc/self/ns/pid")
	p.started, _, _ = procStart(p.pid)
	return p
})

// procStart reads a process's start time from /proc. alive is false when the process does not
// exist or is a zombie; known is false when /proc cannot tell.
func procStart(pid int) (start string, alive, known bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return "", false, true
	}
	if err != nil {
		return "", false, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", false, false
	}
	if f[0] == "Z" || f[0] == "X" {
		return f[19], false, true
	}
	return f[19], true, true
}

// liveOps holds the ids of the operations this process runs right now.
var liveOps sync.Map

// leaseAlive reports whether the owner's lease is alive at now, and if not, why.
func leaseAlive(o *journalOwner, now time.Time) (bool, string) {
	if o == nil {
		return false, "no owner"
	}
	me := self()
	sameHost := o.Host != "" && o.Host == me.host && o.Boot != "" && o.Boot == me.boot && o.PIDNS == me.ns && me.ns != ""
	if sameHost && o.PID == me.pid && o.PIDStart == me.started {
		if _, ok := liveOps.Load(o.Op); ok {
			return true, ""
		}
		return false, "its operation is no longer running in this process"
	}
	if sameHost && o.PID > 0 {
		start, alive, known := procStart(o.PID)
		switch {
		case known && !alive:
			return false, fmt.Sprintf("its process %d on this host is gone", o.PID)
		case known && o.PIDStart != "" && start != o.PIDStart:
			return false, fmt.Sprintf("its process %d on this host is gone (the pid belongs to a newer process)", o.PID)
		}
	}
	until, err := time.Parse(time.RFC3339Nano, o.Until)
	if err != nil {
		return false, "its lease has no valid expiry"
	}
	if !now.Before(until) {
		return false, "its lease expired at " + until.UTC().Format(time.RFC3339)
	}
	return true, ""
}

// inProgressError describes the live operation of another run that owns j.
func inProgressError(id string, j *journal) *rescue.InProgressError {
	o := j.Owner
	e := &rescue.InProgressError{Op: o.Kind, InstanceID: id, Operation: o.Op, PID: o.PID, Host: o.Host}
	e.Since, _ = time.Parse(time.RFC3339, o.Since)
	e.LeaseUntil, _ = time.Parse(time.RFC3339Nano, o.Until)
	return e
}

// ownerText describes the (dead) run that owned j, for warnings.
func ownerText(j *journal) string {
	if j.Owner == nil {
		return fmt.Sprintf("started at %s", j.Started)
	}
	o := j.Owner
	return fmt.Sprintf("operation %s, pid %d on %s, started at %s", o.Op, o.PID, o.Host, o.Since)
}

func (b *Backend) leaseTimes() (renew, ttl, settle time.Duration) {
	renew, ttl, settle = b.leaseRenew, b.leaseTTL, b.leaseSettle
	if renew <= 0 {
		renew = defaultLeaseRenew
	}
	if ttl <= 0 {
		ttl = defaultLeaseTTL
	}
	if settle <= 0 {
		settle = defaultLeaseSettle
	}
	return renew, ttl, settle
}

// operation is one rescue or unrescue of a domain by this process: it owns the domain's
// journal while it runs and renews its lease.
type operation struct {
	b    *Backend
	l    *golibvirt.Libvirt
	d    golibvirt.Domain
	id   string
	kind string
	// since is when the operation began.
	since time.Time
	// mu serializes the operation's journal writes and defines with the lease renewal, so that a
	// renewal never writes a journal over a newer definition.
	mu sync.Mutex
	// wrote is when the operation last took the journal (for the settle delay).
	wrote time.Time
	// stopRenewal stops the renewal goroutine and waits for it; nil when none runs.
	stopRenewal func()
	cancel      context.CancelCauseFunc
}

// errLeaseLost is the cause of an operation's cancellation when its lease lapsed or another run
// took its journal.
var errLeaseLost = errors.New("the operation lost its lease on the rescue journal")

// newOperation registers an operation of kind on d; its context is cancelled when the lease is
// lost. end must be called when it returns.
func (b *Backend) newOperation(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, kind, id string) (*operation, context.Context) {
	if id == "" {
		id = uuid.NewString()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	o := &operation{b: b, l: l, d: d, id: id, kind: kind, since: time.Now(), cancel: cancel}
	liveOps.Store(id, struct{}{})
	return o, ctx
}

// end stops the renewal and unregisters the operation. With release, the lease is released
// when the journal is still the operation's (not after an injected crash: a dead process
// releases nothing).
func (o *operation) end(release bool) {
	o.stopRenew()
	if release {
		_ = o.release()
	}
	liveOps.Delete(o.id)
	o.cancel(nil)
}

// owner is the operation's owner record with a fresh lease.
func (o *operation) owner() *journalOwner {
	me := self()
	_, ttl, _ := o.b.leaseTimes()
	return &journalOwner{
		Op: o.id, Kind: o.kind, PID: me.pid, Host: me.host, Boot: me.boot, PIDNS: me.ns, PIDStart: me.started,
		Since: o.since.UTC().Format(time.RFC3339), Until: time.Now().Add(ttl).UTC().Format(time.RFC3339Nano),
	}
}

// write stores j as the operation's journal (owner and a fresh lease in it).
func (o *operation) write(j *journal) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	j.Owner = o.owner()
	return writeJournal(o.l, o.d, j)
}

// use makes the operation work on connection l from now on (a rollback runs on a connection
// of its own).
func (o *operation) use(l *golibvirt.Libvirt) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.l = l
}

// locked runs f (a define of the domain) under the operation's lock, so that no renewal
// writes the journal meanwhile.
func (o *operation) locked(f func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f()
}

// create writes the first journal j of a new rescue and starts renewing its lease. The
// journal is re-read right before: one that appeared meanwhile (another run) is refused.
func (o *operation) create(id string, j *journal) error {
	cur, err := readJournal(o.l, o.d)
	if err != nil {
		return err
	}
	if cur != nil {
		if alive, _ := leaseAlive(cur.Owner, time.Now()); alive {
			return inProgressError(id, cur)
		}
		return &rescue.ConflictError{Msg: fmt.Sprintf("another run wrote a rescue journal on domain %s meanwhile; nothing was changed", o.d.Name)}
	}
	if err := o.write(j); err != nil {
		return err
	}
	o.wrote = time.Now()
	o.startRenew()
	return nil
}

// release drops the owner from the journal if it is still this operation's.
func (o *operation) release() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	j, err := readJournal(o.l, o.d)
	if err != nil || j == nil || j.Owner == nil || j.Owner.Op != o.id {
		return err
	}
	j.Owner = nil
	return writeJournal(o.l, o.d, j)
}

// finish writes j in its final form for this operation, with the owner dropped (the lease
// released), only while the journal is still the operation's.
func (o *operation) finish(id string, j *journal) error {
	o.stopRenew()
	if err := o.check(id); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	j.Owner = nil
	return writeJournal(o.l, o.d, j)
}

// check re-reads the journal and fails when it is no longer this operation's: an
// InProgressError when another live run took it, else a ConflictError.
func (o *operation) check(id string) error {
	cur, err := readJournal(o.l, o.d)
	if err != nil {
		return err
	}
	if cur != nil && cur.Owner != nil && cur.Owner.Op == o.id {
		return nil
	}
	if cur != nil {
		if alive, _ := leaseAlive(cur.Owner, time.Now()); alive {
			return inProgressError(id, cur)
		}
	}
	return &rescue.ConflictError{Msg: fmt.Sprintf("the rescue journal of domain %s is no longer this %s's (another run rolled it back or took it over); this %s stops", o.d.Name, o.kind, o.kind)}
}

// settle waits until the settle delay has passed since the operation took the journal, then
// checks that it is still its own: two runs that took the journal at nearly the same time
// find out here which one won, before either changes the domain.
func (o *operation) settle(ctx context.Context, id string) error {
	_, _, settle := o.b.leaseTimes()
	if err := rescue.Sleep(ctx, time.Until(o.wrote.Add(settle))); err != nil {
		return err
	}
	return o.check(id)
}

// take makes the operation the owner of the journal j (just read, with no live owner), then
// starts renewing the lease. It re-reads the journal right before writing: a journal whose
// owner changed meanwhile is refused.
func (o *operation) take(id string, j *journal) error {
	cur, err := readJournal(o.l, o.d)
	if err != nil {
		return err
	}
	if cur == nil {
		return &rescue.ConflictError{Msg: fmt.Sprintf("the rescue journal of domain %s vanished meanwhile (another run finished it)", o.d.Name)}
	}
	if alive, _ := leaseAlive(cur.Owner, time.Now()); alive && cur.Owner.Op != o.id {
		return inProgressError(id, cur)
	}
	if !sameOwner(cur.Owner, j.Owner) || cur.ID != j.ID {
		return &rescue.ConflictError{Msg: fmt.Sprintf("the rescue journal of domain %s changed meanwhile (another run took it over)", o.d.Name)}
	}
	*j = *cur
	if err := o.write(j); err != nil {
		return err
	}
	o.wrote = time.Now()
	o.startRenew()
	return nil
}

func sameOwner(a, b *journalOwner) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Op == b.Op
}

// startRenew starts renewing the lease every leaseRenew until stopRenew. When the journal is no
// longer the operation's, or the lease could not be renewed before it expired, the operation's
// context is cancelled.
func (o *operation) startRenew() {
	if o.stopRenewal != nil {
		return
	}
	renew, ttl, _ := o.b.leaseTimes()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(renew)
		defer t.Stop()
		valid := time.Now().Add(ttl)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			err := o.renew()
			switch {
			case err == nil:
				valid = time.Now().Add(ttl)
			case errors.Is(err, errLeaseLost) || !time.Now().Before(valid):
				o.cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
				return
			}
		}
	}()
	o.stopRenewal = func() {
		close(stop)
		<-done
		o.stopRenewal = nil
	}
}

// stopRenew stops the renewal (if any) and waits until it no longer writes.
func (o *operation) stopRenew() {
	if o.stopRenewal != nil {
		o.stopRenewal()
	}
}

// renew extends the lease in the journal, only while the journal is still the operation's.
func (o *operation) renew() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	j, err := readJournal(o.l, o.d)
	if err != nil {
		return err
	}
	if j == nil || j.Owner == nil || j.Owner.Op != o.id {
		return errLeaseLost
	}
	j.Owner = o.owner()
	return writeJournal(o.l, o.d, j)
}
