package libvirtd

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tier"
)

// Env is the test binary's shared daemon with test helpers that fail the test on error.
//
//	func TestX(t *testing.T) {
//		lv := acctest.Libvirt(t)                // or libvirtd.Shared(t) outside acctest.RunMain
//		lv.DefineGuest(t, "x-1", libvirtd.GuestOptions{Machine: "pc", Start: true})
//		// provider "rescue" { libvirt { uri = lv.QEMUURI } }; image_id = lv.Images().RescueISO
//		lv.Mark(t, "x-1")                      // then act (terraform apply, ...)
//		lv.WaitBooted(t, "x-1", libvirtd.BootRescueISO, time.Minute)
//		x := lv.DomainXML(t, "x-1", libvirt.DomainXMLInactive)
//	}
//
// Guests are destroyed and undefined at the end of the test that defined them; the daemon is
// stopped after all tests (StopShared, called by acctest.RunMain or RunMain).
type Env struct {
	*Daemon

	mu    sync.Mutex
	marks map[string]int64
	conn  *libvirt.Libvirt
}

var (
	sharedMu   sync.Mutex
	shared     *Env
	sharedErr  error
	sharedOnce sync.Once
)

// Shared starts the private daemon once per test binary (root, private mount namespace; about
// 1-2 s) and builds the test images. A missing component fails the test with InstallHint.
func Shared(t testing.TB) *Env {
	t.Helper()
	tier.NeedsDaemons(t, "a private libvirtd with QEMU")
	sharedOnce.Do(func() {
		if m := Missing(); len(m) > 0 {
			sharedErr = fmt.Errorf("%s (not found: %v)", InstallHint, m)
			return
		}
		for _, s := range Sweep() {
			fmt.Fprintf(os.Stderr, "libvirtd harness: cleaned up after a dead test binary: %s\n", s)
		}
		d, err := Start(Options{})
		if err != nil {
			sharedErr = err
			return
		}
		sharedMu.Lock()
		shared = &Env{Daemon: d, marks: map[string]int64{}}
		sharedMu.Unlock()
	})
	if sharedErr != nil {
		t.Fatalf("private libvirtd: %v", sharedErr)
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		t.Fatal("private libvirtd: already stopped (StopShared ran)")
	}
	return shared
}

// StopShared stops the shared daemon if Shared started it (guests destroyed, libvirtd stopped
// by PID, leftover QEMU terminated, temporary directories removed). Safe to call twice.
func StopShared() {
	sharedMu.Lock()
	e := shared
	shared = nil
	sharedMu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	if e.conn != nil {
		_ = e.conn.Disconnect()
		e.conn = nil
	}
	e.mu.Unlock()
	if r := e.Stop(); testing.Verbose() {
		fmt.Fprintf(os.Stderr, "libvirtd harness: %s\n", r)
	}
}

// RunMain runs the tests and stops the shared daemon; for packages that do not use
// acctest.RunMain: func TestMain(m *testing.M) { os.Exit(libvirtd.RunMain(m)) }.
func RunMain(m *testing.M) int {
	code := m.Run()
	StopShared()
	return code
}

// Connect opens a new connection to a client URI (e.QEMUURI or e.TestURI), closed when the
// test ends.
func (e *Env) Connect(t testing.TB, uri string) *libvirt.Libvirt {
	t.Helper()
	l, err := e.Dial(uri)
	if err != nil {
		t.Fatalf("%v\n%s", err, e.LogTail(20))
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// QEMU returns the harness's own qemu:///system connection (shared, reopened after Restart).
// Do not disconnect it.
func (e *Env) QEMU(t testing.TB) *libvirt.Libvirt {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		if _, err := e.conn.ConnectGetLibVersion(); err == nil {
			return e.conn
		}
		_ = e.conn.Disconnect()
		e.conn = nil
	}
	l, err := e.dial(libvirt.QEMUSystem)
	if err != nil {
		t.Fatalf("%v\n%s", err, e.LogTail(20))
	}
	e.conn = l
	return l
}

// Restart restarts libvirtd on the same state and socket (guests keep running); see
// Daemon.Restart.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	if e.conn != nil {
		_ = e.conn.Disconnect()
		e.conn = nil
	}
	e.mu.Unlock()
	if err := e.Daemon.Restart(); err != nil {
		t.Fatalf("restart libvirtd: %v", err)
	}
}

// DefineGuest defines a boot-sector guest on qemu:///system (see GuestOptions; with Start it
// waits until the guest has booted from its own root disk, and the boot mark is set after that
// line). The guest is removed when the test ends.
func (e *Env) DefineGuest(t testing.TB, name string, o GuestOptions) {
	t.Helper()
	l := e.QEMU(t)
	t.Cleanup(func() {
		if err := e.RemoveGuest(e.QEMU(t), name); err != nil {
			t.Errorf("remove guest %s: %v", name, err)
		}
		e.mu.Lock()
		delete(e.marks, name)
		e.mu.Unlock()
	})
	end, err := e.Daemon.DefineGuest(l, name, o)
	if err != nil {
		t.Fatalf("guest %s: %v", name, err)
	}
	e.mu.Lock()
	e.marks[name] = end
	e.mu.Unlock()
}

// Mark makes WaitBooted look only at debug output written from now on. Call it right before the
// action that reboots the guest.
func (e *Env) Mark(t testing.TB, name string) {
	t.Helper()
	e.mu.Lock()
	e.marks[name] = e.DebugLogSize(name)
	e.mu.Unlock()
}

// WaitBooted waits until the guest prints its next "GUEST: BOOTED FROM <want>" line after the
// mark (set by DefineGuest with Start, Mark, or the previous WaitBooted) and moves the mark after
// it. The test fails if that boot was from anything else, or nothing booted within timeout.
func (e *Env) WaitBooted(t testing.TB, name, want string, timeout time.Duration) {
	t.Helper()
	e.mu.Lock()
	since := e.marks[name]
	e.mu.Unlock()
	_, end, err := e.WaitBootedSince(name, since, want, timeout)
	e.mu.Lock()
	e.marks[name] = end
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

// Domain looks up a domain on qemu:///system.
func (e *Env) Domain(t testing.TB, name string) libvirt.Domain {
	t.Helper()
	dom, err := e.QEMU(t).DomainLookupByName(name)
	if err != nil {
		t.Fatalf("lookup domain %s: %v", name, err)
	}
	return dom
}

// DomainXML returns a QEMU domain's XML (flags: libvirt.DomainXMLInactive, DomainXMLSecure, ...).
func (e *Env) DomainXML(t testing.TB, name string, flags libvirt.DomainXMLFlags) string {
	t.Helper()
	x, err := e.QEMU(t).DomainGetXMLDesc(e.Domain(t, name), flags)
	if err != nil {
		t.Fatalf("XML of domain %s: %v", name, err)
	}
	return x
}

// State returns a QEMU domain's state and reason.
func (e *Env) State(t testing.TB, name string) (libvirt.DomainState, int32) {
	t.Helper()
	st, reason, err := e.QEMU(t).DomainGetState(e.Domain(t, name), 0)
	if err != nil {
		t.Fatalf("state of domain %s: %v", name, err)
	}
	return libvirt.DomainState(st), reason
}

// WaitState waits until a QEMU domain is in state want and returns the reason.
func (e *Env) WaitState(t testing.TB, name string, want libvirt.DomainState, timeout time.Duration) int32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, reason := e.State(t, name)
		if st == want {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain %s: state %d (reason %d) after %v, want %d", name, st, reason, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
