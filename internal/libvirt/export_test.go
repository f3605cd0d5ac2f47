package libvirt

import (
	"errors"
	"time"
)

// SetAfterStep installs the crash-injection hook: f runs after each step of rescue ("rescue")
// and unrescue ("unrescue"); a non-nil error stops the operation there without any cleanup.
func SetAfterStep(b *Backend, f func(op, step string) error) { b.afterStep = f }

// SetPolling sets how often the domain state is read and the ACPI button pressed again.
func SetPolling(b *Backend, poll, acpiResend time.Duration) {
	b.pollInterval, b.acpiResend = poll, acpiResend
}

// Abandon drops the connection without closing the libvirt session cleanly, as a process that
// dies would.
func Abandon(b *Backend) {
	b.mu.Lock()
	all := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		all = append(all, c)
	}
	b.mu.Unlock()
	for _, c := range all {
		c.cut(errors.New("abandoned (test)"))
	}
}

// SetKeepalive sets how often the Backend's connections are probed and how long an answer may
// take before a connection is closed as dead (for connections opened from now on).
func SetKeepalive(b *Backend, interval, timeout time.Duration) {
	b.keepaliveInterval, b.keepaliveTimeout = interval, timeout
}

// SharedConnAlive reports whether the Backend's shared connection is open.
func SharedConnAlive(b *Backend) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn != nil && b.conn.alive()
}

// Transport returns the transport and driver URI a Backend's URI resolved to.
func Transport(b *Backend) (string, string) { return b.target.Transport, string(b.target.Remote) }

// SetRescueXMLFilter makes the Backend rewrite each rescue definition before defining it.
func SetRescueXMLFilter(b *Backend, f func(string) string) { b.rescueXML = f }

// SetAfterPress makes the Backend call f after each press of the ACPI power button.
func SetAfterPress(b *Backend, f func()) { b.afterPress = f }

// SetLease sets how often an operation renews its lease, how long a lease lasts, and the
// settle delay after an operation takes the journal.
func SetLease(b *Backend, renew, ttl, settle time.Duration) {
	b.leaseRenew, b.leaseTTL, b.leaseSettle = renew, ttl, settle
}

// SetBootWatch sets the longest watch of a rescue guest's first boot (negative: off) and how
// long it goes on after the first read of the rescue device.
func SetBootWatch(b *Backend, limit, grace time.Duration) { b.bootWatch, b.bootGrace = limit, grace }

// SetGraces sets how long an operation whose context ended may keep its connection (for
// connections opened from now on) and how long its rollback may run.
func SetGraces(b *Backend, cut, rollback time.Duration) {
	b.cutGrace, b.rollbackGrace = cut, rollback
}

// TransientPoolName is the name of the transient dir pool the backend makes for dir.
func TransientPoolName(dir string) string { return transientPoolName(dir) }
