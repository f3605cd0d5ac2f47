package libvirt

import "time"

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
	defer b.mu.Unlock()
	if b.conn != nil {
		_ = b.conn.Disconnect()
		b.conn = nil
	}
}

// Transport returns the transport and driver URI a Backend's URI resolved to.
func Transport(b *Backend) (string, string) { return b.target.Transport, string(b.target.Remote) }

// SetRescueXMLFilter makes the Backend rewrite each rescue definition before defining it.
func SetRescueXMLFilter(b *Backend, f func(string) string) { b.rescueXML = f }

// SetAfterPress makes the Backend call f after each press of the ACPI power button.
func SetAfterPress(b *Backend, f func()) { b.afterPress = f }

// TransientPoolName is the name of the transient dir pool the backend makes for dir.
func TransientPoolName(dir string) string { return transientPoolName(dir) }
