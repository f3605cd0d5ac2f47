package libvirt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// DefaultShutdownTimeout is how long a guest gets to shut down cleanly (Nova's shutdown_timeout).
const DefaultShutdownTimeout = 60 * time.Second

// Backend rescues libvirt domains. It holds one connection to libvirtd for the reads of all
// resources of a provider instance, and opens one for each rescue and unrescue (see conn.go);
// it reconnects when a connection was lost (for example after a libvirtd restart). Every call
// is bounded by its operation's context. Operations on one domain are serialized; different
// domains are handled concurrently (go-libvirt's client multiplexes RPCs).
type Backend struct {
	target *target
	bucket *ratelimit.Bucket // max_requests_per_second of all connections

	mu sync.Mutex
	// conn is the shared connection of the reads; dialing is closed when a connect of it ends.
	conn    *conn
	dialing chan struct{}
	// conns are all open connections (the shared one and those of operations), for Close.
	conns map[*conn]struct{}
	// closed: Close was called; no connection is opened any more (a rollback in flight fails
	// and keeps the journal, as if the process had ended).
	closed bool
	// keepaliveInterval and keepaliveTimeout: how often a connection is probed, and how long
	// an answer may take before the connection is closed as dead.
	keepaliveInterval time.Duration
	keepaliveTimeout  time.Duration
	// cutGrace and rollbackGrace: see defaultCutGrace and defaultRollbackGrace.
	cutGrace      time.Duration
	rollbackGrace time.Duration
	// locks serializes rescue and unrescue per domain UUID.
	locks map[golibvirt.UUID]*sync.Mutex
	// inflight says which operation this Backend runs on a domain right now.
	inflight map[golibvirt.UUID]rescue.State

	// acpiResend is how often the ACPI power button is pressed again while waiting.
	acpiResend time.Duration
	// pollInterval is how often the domain state is read while waiting for shutoff.
	pollInterval time.Duration
	// afterStep, when set (tests), runs after each step of rescue and unrescue; an error
	// stops the operation at once, without any cleanup, as a crash of the process would.
	afterStep func(op, step string) error
	// rescueXML, when set (tests), rewrites the rescue definition before it is defined, to
	// provoke libvirt's rejection at define or start time.
	rescueXML func(string) string
	// afterPress, when set (tests), runs after each press of the ACPI power button.
	afterPress func()
	// leaseRenew, leaseTTL and leaseSettle time the operations' leases (lease.go); zero
	// values mean the defaults.
	leaseRenew, leaseTTL, leaseSettle time.Duration
	// bootWatch bounds the watch of a rescue guest's first boot (bootwatch.go): 0 means
	// defaultBootWatch, a negative value turns the watch off. bootGrace is how long it goes on
	// after the first read of the rescue device (0: defaultBootGrace).
	bootWatch, bootGrace time.Duration
	// caps and scans share reads that the resources of a run repeat (lookups.go).
	caps  hostCaps
	scans flights
}

var _ rescue.Backend = (*Backend)(nil)
var _ rescue.Closer = (*Backend)(nil)

// New connects to the libvirt daemon named by cfg.URI (empty: LIBVIRT_DEFAULT_URI, else
// qemu:///system). Supported URIs: qemu:///system and other local URIs over the unix socket
// (?socket= to pick it), qemu+ssh://user@host[:port]/system (?keyfile=, ?known_hosts=,
// ?no_verify=1, ?socket=), qemu+tcp://host[:port]/system, qemu+tls://host[:port]/system
// (?pkipath=, ?no_verify=1), and test:///default or test+unix:///default?socket= through a daemon.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	t, err := parseTarget(resolveURI(cfg.URI))
	if err != nil {
		return nil, &rescue.InvalidError{Attribute: "uri", Msg: err.Error()}
	}
	b := &Backend{
		target:            t,
		conns:             map[*conn]struct{}{},
		keepaliveInterval: defaultKeepaliveInterval,
		keepaliveTimeout:  defaultKeepaliveTimeout,
		cutGrace:          defaultCutGrace,
		rollbackGrace:     defaultRollbackGrace,
		locks:             map[golibvirt.UUID]*sync.Mutex{},
		inflight:          map[golibvirt.UUID]rescue.State{},
		acpiResend:        5 * time.Second,
		pollInterval:      200 * time.Millisecond,
		bucket:            ratelimit.New(cfg.MaxRequestsPerSecond),
	}
	if _, err := b.sharedConn(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Close closes the connections to libvirtd (cleanly when the daemon answers in time).
func (b *Backend) Close() error {
	b.mu.Lock()
	all := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		all = append(all, c)
	}
	b.conns = map[*conn]struct{}{}
	b.conn = nil
	b.closed = true
	b.mu.Unlock()
	for _, c := range all {
		c.close()
	}
	return nil
}

// domainLock returns the mutex that serializes operations on one domain.
func (b *Backend) domainLock(u golibvirt.UUID) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.locks[u]
	if !ok {
		m = &sync.Mutex{}
		b.locks[u] = m
	}
	return m
}

// begin marks an operation in flight on a domain; the returned func ends it.
func (b *Backend) begin(u golibvirt.UUID, s rescue.State) func() {
	b.mu.Lock()
	b.inflight[u] = s
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.inflight, u)
		b.mu.Unlock()
	}
}

func (b *Backend) inflightState(u golibvirt.UUID) rescue.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight[u]
}

// errCrash marks an error injected by afterStep: the operation stops without cleanup.
type errCrash struct{ err error }

func (e *errCrash) Error() string { return e.err.Error() }
func (e *errCrash) Unwrap() error { return e.err }

// step runs the test hook after a step.
func (b *Backend) step(op, name string) error {
	if b.afterStep == nil {
		return nil
	}
	if err := b.afterStep(op, name); err != nil {
		return &errCrash{err: err}
	}
	return nil
}

func isCrash(err error) bool {
	var c *errCrash
	return errors.As(err, &c)
}

// lverr returns the libvirt error in err, if any.
func lverr(err error) (golibvirt.Error, bool) {
	var e golibvirt.Error
	if errors.As(err, &e) {
		return e, true
	}
	return e, false
}

// isCode reports whether err is a libvirt error with one of the codes.
func isCode(err error, codes ...golibvirt.ErrorNumber) bool {
	e, ok := lverr(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if e.Code == uint32(c) {
			return true
		}
	}
	return false
}

// startRetryDelay is how long startDomain waits before its one retry.
var startRetryDelay = time.Second

// startDomain starts d. A start that fails with libvirt's internal error (QEMU exited while
// libvirt connected to its monitor, seen once in about ten loaded TCG test runs, with no
// message from QEMU) is tried once more after a second, if the domain is not running by then;
// a definition QEMU really refuses fails both times and the second error is returned.
func startDomain(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain) error {
	err := l.DomainCreate(d)
	if err == nil || !isCode(err, golibvirt.ErrInternalError) {
		return err
	}
	select {
	case <-ctx.Done():
		return err
	case <-time.After(startRetryDelay):
	}
	if st, _, serr := l.DomainGetState(d, 0); serr == nil && golibvirt.DomainState(st) == golibvirt.DomainRunning {
		return nil
	}
	if rerr := l.DomainCreate(d); rerr != nil {
		return fmt.Errorf("%w (tried twice; first: %w)", rerr, err)
	}
	return nil
}
