package libvirt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Real faults between the Backend and the private libvirtd: a TCP proxy (qemu+tcp / test+tcp)
// that black-holes traffic, and a restart of libvirtd. Every call is bounded by its context
// (a watchdog closes the connection), a dead peer is noticed by the keepalive, and the state
// left behind is one that the next rescue or unrescue converges from.

// tcpProxy is a fault proxy in front of the daemon's unix socket, closed when the test ends.
func tcpProxy(t *testing.T, lv *libvirtd.Env) *faultproxy.TCP {
	t.Helper()
	p, err := faultproxy.NewTCP("unix", lv.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	return p
}

// within fails the test when f took longer than limit (an upper bound with a generous grace:
// the machine is shared and noisy).
func within(t *testing.T, what string, limit time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	d := time.Since(start)
	t.Logf("%s returned after %v", what, d.Round(10*time.Millisecond))
	if d > limit {
		t.Errorf("%s took %v, want at most %v", what, d, limit)
	}
	return d
}

// A rescue whose connection is black-holed in the middle (right after the overlay volume was
// sent to libvirtd) returns soon after its deadline, the rollback bounded too: it cannot reach
// libvirtd, so the rescue is reported accepted (the journal on the host lets an unrescue
// restore the original). Once the network passes again, an unrescue restores the definition
// byte for byte and removes the overlay.
func TestFaultBlackholeMidRescue(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	img := td.volume(t, "rescue-fault-bh.iso", "raw", "")
	const name = "td-fault-bh"
	d := td.domain(t, name, true, false, "")
	orig := td.xml(t, d, secure)
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	rlibvirt.SetGraces(b, 500*time.Millisecond, 2*time.Second)

	fired := p.BlackholeOn([]byte("<name>" + name + ".rescue-"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	within(t, "Rescue", 3*time.Second+500*time.Millisecond+2*time.Second+5*time.Second, func() {
		_, err = b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img})
	})
	select {
	case <-fired:
	default:
		t.Fatalf("the proxy never black-holed (Rescue: %v)", err)
	}
	t.Log(err)
	if !rescue.Accepted(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Rescue: %v, want an accepted rescue that ran out of time", err)
	}
	if !hasRescueVolume(td.volumes(t), name) {
		t.Fatal("the overlay sent before the black hole is not there: the fault hit elsewhere")
	}

	p.Pass()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	inst, err := b.Get(ctx2, name)
	if err != nil || inst.State != rescue.StateError || inst.Status != rlibvirt.StatusIncomplete {
		t.Fatalf("Get after the fault: %+v %v, want rescue-incomplete", inst, err)
	}
	if err := b.Unrescue(ctx2, name); err != nil {
		t.Fatalf("Unrescue: %v", err)
	}
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition differs:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if hasRescueVolume(td.volumes(t), name) {
		t.Errorf("rescue volumes left: %v", td.volumes(t))
	}
	if st := td.state(t, d); st != golibvirt.DomainRunning {
		t.Errorf("state %d after the unrescue, want running", st)
	}
}

// An unrescue black-holed right after it sent the original definition back returns soon after
// its deadline; the next unrescue finishes it.
func TestFaultBlackholeMidUnrescue(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	img := td.volume(t, "rescue-fault-bhu.iso", "raw", "")
	const name = "td-fault-bhu"
	d := td.domain(t, name, true, false, "")
	orig := td.xml(t, d, secure)
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	rlibvirt.SetGraces(b, 500*time.Millisecond, 2*time.Second)
	bg := context.Background()
	if _, err := b.Rescue(bg, rescue.Request{InstanceID: name, ImageID: img}); err != nil {
		t.Fatal(err)
	}

	fired := p.BlackholeOn([]byte("state='restoring'"))
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	var err error
	within(t, "Unrescue", 3*time.Second+500*time.Millisecond+5*time.Second, func() {
		err = b.Unrescue(ctx, name)
	})
	select {
	case <-fired:
	default:
		t.Fatalf("the proxy never black-holed (Unrescue: %v)", err)
	}
	t.Log(err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Unrescue: %v, want the deadline", err)
	}

	p.Pass()
	ctx2, cancel2 := context.WithTimeout(bg, time.Minute)
	defer cancel2()
	if err := b.Unrescue(ctx2, name); err != nil {
		t.Fatalf("second Unrescue: %v", err)
	}
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition differs:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if hasRescueVolume(td.volumes(t), name) {
		t.Errorf("rescue volumes left: %v", td.volumes(t))
	}
}

// The keepalive notices a black-holed connection without any deadline: a read with a long
// context fails as a lost connection (transient) within the keepalive timeout, and the next
// read reconnects once the network passes.
func TestFaultKeepalive(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	const name = "td-fault-ka"
	td.domain(t, name, true, false, "")
	b, err := rlibvirt.New(context.Background(), rlibvirt.Config{URI: "test+tcp://" + p.Addr() + "/default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The shared connection of New has the default keepalive; a new one gets this.
	rlibvirt.SetKeepalive(b, 500*time.Millisecond, 3*time.Second)
	rlibvirt.Abandon(b)
	if _, err := b.Get(ctx, name); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	within(t, "Get on a black-holed connection", 10*time.Second, func() {
		_, err = b.Get(ctx, name)
	})
	t.Log(err)
	var cl *rlibvirt.ConnLostError
	if !errors.As(err, &cl) || !rescue.IsUnavailable(cl) {
		t.Fatalf("Get: %v, want a transient ConnLostError", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the context ended: not the keepalive")
	}
	p.Pass()
	if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateActive {
		t.Fatalf("Get after the network passes again: %+v %v", inst, err)
	}
}

// Reads share one connection: a read whose context ends while it hangs closes that
// connection, and the other reads hung on it return at once as a lost connection (transient),
// not at their own much later deadline; the next read reconnects.
func TestFaultSharedConnection(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	const name = "td-fault-shared"
	td.domain(t, name, true, false, "")
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	long, cancelLong := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelLong()
	if _, err := b.Get(long, name); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	var wg sync.WaitGroup
	var longErr error
	var longTook time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		_, longErr = b.Get(long, name)
		longTook = time.Since(start)
	}()
	time.Sleep(200 * time.Millisecond) // the other read is waiting on the connection
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort()
	var err error
	within(t, "Get with a 1s context", 1*time.Second+2*time.Second+5*time.Second, func() {
		_, err = b.Get(short, name)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with a 1s context: %v, want the deadline", err)
	}
	wg.Wait()
	t.Logf("the other read returned after %v: %v", longTook.Round(10*time.Millisecond), longErr)
	if !rlibvirt.IsConnLost(longErr) || long.Err() != nil {
		t.Fatalf("the other read: %v, want a lost connection before its own deadline", longErr)
	}
	if longTook > 15*time.Second {
		t.Errorf("the other read took %v", longTook)
	}
	p.Pass()
	if _, err := b.Get(long, name); err != nil {
		t.Fatalf("Get after the network passes again: %v", err)
	}
}

// Connecting is bounded too: New through a proxy that black-holes from the start returns at
// its context's deadline.
func TestFaultConnectBlackholed(t *testing.T) {
	lv := libvirtd.Shared(t)
	p := tcpProxy(t, lv)
	p.Blackhole()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var err error
	within(t, "New", 6*time.Second, func() {
		_, err = rlibvirt.New(ctx, rlibvirt.Config{URI: "test+tcp://" + p.Addr() + "/default"})
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("New: %v, want the deadline", err)
	}
}

// journalHas reports whether a QEMU domain's persistent definition has the rescue journal
// and it contains want ("" for any journal), through a connection of its own.
func journalHas(lv *libvirtd.Env, name, want string) bool {
	l, err := lv.Dial(lv.QEMUURI)
	if err != nil {
		return false
	}
	defer func() { _ = l.Disconnect() }()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		return false
	}
	j, err := l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{rlibvirt.MetadataNamespace}, golibvirt.DomainAffectConfig)
	return err == nil && strings.Contains(j, want)
}

// restartWhen restarts libvirtd as soon as cond holds (polled), once; the returned func waits
// for the restart and reports its error.
func restartWhen(t *testing.T, lv *libvirtd.Env, cond func() bool) func() error {
	t.Helper()
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for !cond() {
			select {
			case <-stop:
				done <- errors.New("the condition never held")
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Log("restarting libvirtd")
		done <- lv.Daemon.Restart()
	}()
	return func() error {
		close(stop)
		return <-done
	}
}

// A libvirtd restart in the middle of a rescue (right after the journal was written, while the
// rescue goes on) and in the middle of an unrescue (once the original definition is back,
// before its start and clean-up): each operation either finishes or leaves a
// state that the next apply (rescue) or destroy (unrescue) converges from, and the domain ends
// with its original definition byte for byte, booted from its own disk, with no rescue file
// left.
func TestFaultRestartMidOperation(t *testing.T) {
	lv := libvirtd.Shared(t)
	const name = "q-fault-restart"
	acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
	orig := lv.DomainXML(t, name, secure)
	b := newBackend(t, lv.QEMUURI)
	eng := rescue.NewEngine(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req := rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk, ShutdownTimeout: 20 * time.Second}

	// Rescue, libvirtd restarted once the journal is there.
	wait := restartWhen(t, lv, func() bool { return journalHas(lv, name, "") })
	_, _, err := eng.Rescue(ctx, req)
	if rerr := wait(); rerr != nil {
		t.Fatalf("restart: %v", rerr)
	}
	t.Logf("rescue with a restart: %v", err)
	inState := err == nil || rescue.Accepted(err)
	if !inState {
		// Not kept in state: the next apply rescues again.
		if _, _, err := eng.Rescue(ctx, req); err != nil {
			t.Fatalf("the next rescue (apply): %v", err)
		}
	}
	if inst, err := b.Get(ctx, name); err != nil || (inState && err == nil && inst.State != rescue.StateRescued && inst.State != rescue.StateError) {
		t.Fatalf("Get after the rescue: %+v %v", inst, err)
	}

	// Unrescue, libvirtd restarted once the original definition is back (journal restoring).
	wait = restartWhen(t, lv, func() bool { return journalHas(lv, name, "restoring") })
	_, _, err = eng.Unrescue(ctx, name)
	if rerr := wait(); rerr != nil {
		t.Fatalf("restart: %v", rerr)
	}
	t.Logf("unrescue with a restart: %v", err)
	if err != nil {
		// Kept in state: the next destroy unrescues again.
		if _, _, err := eng.Unrescue(ctx, name); err != nil {
			t.Fatalf("the next unrescue (destroy): %v", err)
		}
	}
	if got := lv.DomainXML(t, name, secure); got != orig {
		t.Fatalf("definition differs:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if files := rescueFiles(lv, name); len(files) != 0 {
		t.Errorf("rescue files left: %v", files)
	}
	if st, _ := lv.State(t, name); st != golibvirt.DomainRunning {
		t.Errorf("state %d, want running", st)
	}
	if inst, err := b.Get(ctx, name); err != nil || inst.State != rescue.StateActive {
		t.Errorf("Get at the end: %+v %v", inst, err)
	}
}
