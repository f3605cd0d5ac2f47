package libvirt_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// eventWait bounds every wait for an event: generous, the machine is shared and noisy.
const eventWait = 10 * time.Second

// recvID reads ch until want arrives and returns when it did; the test fails when the channel
// closes or nothing came within eventWait.
func recvID(t *testing.T, ch <-chan string, want string) time.Time {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case id, ok := <-ch:
			if !ok {
				t.Fatalf("the channel closed before %s arrived", want)
			}
			if id == want {
				return time.Now()
			}
		case <-timeout:
			t.Fatalf("%s did not arrive within %s", want, eventWait)
		}
	}
}

// waitClosed drains ch until it closes; the test fails when it is still open after limit.
func waitClosed(t *testing.T, ch <-chan string, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("the channel is still open %s later", limit)
		}
	}
}

// drain reads ch until nothing came for quiet.
func drain(ch <-chan string, quiet time.Duration) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(quiet):
			return
		}
	}
}

// Changes sends the UUID and the name of a domain that starts, stops, or whose rescue journal
// changes (metadata in the provider's namespace, without a lifecycle event); another
// namespace's metadata sends nothing; the channel closes when the context ends.
func TestChangesLifecycleAndJournal(t *testing.T) {
	td := newTestDriver(t)
	b := newBackend(t, td.lv.TestURI)
	d := td.domain(t, "td-events", false, false, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if err := td.l.DomainCreate(d); err != nil {
		t.Fatal(err)
	}
	recvID(t, ch, domUUID(d))
	recvID(t, ch, d.Name)
	if err := td.l.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	recvID(t, ch, domUUID(d))
	recvID(t, ch, d.Name)
	drain(ch, 500*time.Millisecond)

	// Other metadata first: it must not be sent (the journal's change after it is the next id).
	set := func(ns, key, x string) {
		t.Helper()
		if err := td.l.DomainSetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{x}, golibvirt.OptString{key}, golibvirt.OptString{ns}, golibvirt.DomainAffectConfig); err != nil {
			t.Fatalf("set metadata: %v", err)
		}
	}
	set("https://example.com/other", "other", "<other/>")
	set(rlibvirt.MetadataNamespace, "rescue", `<rescue version="1" state="preparing"/>`)
	select {
	case id := <-ch:
		if id != domUUID(d) {
			t.Errorf("first id after the metadata changes: %q, want %s (the journal's change only)", id, domUUID(d))
		}
	case <-time.After(eventWait):
		t.Fatal("no id for the journal's change")
	}
	if err := td.l.DomainSetMetadata(d, int32(golibvirt.DomainMetadataElement), nil, nil, golibvirt.OptString{rlibvirt.MetadataNamespace}, golibvirt.DomainAffectConfig); err != nil {
		t.Fatal(err)
	}
	recvID(t, ch, domUUID(d))

	cancel()
	waitClosed(t, ch, eventWait)
}

// The channel closes when libvirtd restarts (the connection is lost; the poller falls back to
// its tick), and the next Changes subscribes on a new connection: a domain defined after the
// restart is sent, and GetMany reads it.
func TestChangesClosedOnRestart(t *testing.T) {
	lv := libvirtd.Shared(t)
	b := newBackend(t, lv.QEMUURI)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	lv.Restart(t)
	waitClosed(t, ch, eventWait)

	ch, err = b.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes after the restart: %v", err)
	}
	const name = "q-events-restart"
	lv.DefineGuest(t, name, libvirtd.GuestOptions{})
	recvID(t, ch, name)
	// GetMany reads on the connection that Changes opened again.
	got, err := b.GetMany(ctx, []string{name})
	if err != nil || got[name] == nil || got[name].State != rescue.StateStopped {
		t.Errorf("GetMany after the restart: %v %v", got, err)
	}
	cancel()
	waitClosed(t, ch, eventWait)
}

// TestChangesLatency measures (and reports, asserting nothing about time) how soon after a
// state change the domain's id is on the channel, and a GetMany of it (as a shared poller reads
// on an event) shows the new state, over 20 starts and stops made on another connection: of the
// test driver, and with RESCUE_EVENT_LATENCY_QEMU=1 of a QEMU guest too (about 2 s per start or
// stop under TCG). The change happens while the start or destroy call runs: times are from the
// call's return, negative when the event came before the answer; the time from the call's
// start bounds them from above.
func TestChangesLatency(t *testing.T) {
	t.Run("test", func(t *testing.T) {
		td := newTestDriver(t)
		d := td.domain(t, "td-events-latency", false, false, "")
		measureLatency(t, td.lv.TestURI, td.l, d)
	})
	t.Run("qemu", func(t *testing.T) {
		if os.Getenv("RESCUE_EVENT_LATENCY_QEMU") == "" {
			t.Skip("RESCUE_EVENT_LATENCY_QEMU not set (a measurement: 20 starts and stops of a TCG guest)")
		}
		lv := libvirtd.Shared(t)
		const name = "q-events-latency"
		lv.DefineGuest(t, name, libvirtd.GuestOptions{})
		measureLatency(t, lv.QEMUURI, lv.QEMU(t), lv.Domain(t, name))
	})
}

// sample is one event of measureLatency: when it came, and when a GetMany read after it
// returned, with the state it read.
type sample struct {
	at, read time.Time
	state    rescue.State
}

// measureLatency starts and stops d 20 times through l and reports the latencies of its events
// on a Backend's Changes on uri, and of a GetMany after each event. Each GetMany must show the
// new state.
func measureLatency(t *testing.T, uri string, l *golibvirt.Libvirt, d golibvirt.Domain) {
	b := newBackend(t, uri)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	id := domUUID(d)
	got := make(chan sample, 100)
	go func() {
		defer close(got)
		for c := range ch {
			if c != id {
				continue
			}
			at := time.Now()
			m, err := b.GetMany(ctx, []string{id})
			s := sample{at: at, read: time.Now()}
			if err == nil && m[id] != nil {
				s.state = m[id].State
			}
			got <- s
		}
	}()
	var fromStart, event, read []time.Duration
	for i := 0; i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		for len(got) > 0 { // late events of the previous change
			<-got
		}
		want, start := rescue.StateActive, time.Now()
		var err error
		if i%2 == 0 {
			err = l.DomainCreate(d)
		} else {
			want, err = rescue.StateStopped, l.DomainDestroy(d)
		}
		done := time.Now()
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		s := nextSample(t, got, i)
		if s.state != want {
			t.Fatalf("change %d: GetMany after the event read %q, want %q", i, s.state, want)
		}
		fromStart = append(fromStart, s.at.Sub(start))
		event, read = append(event, s.at.Sub(done)), append(read, s.read.Sub(done))
	}
	q := func(v []time.Duration) string {
		slices.Sort(v)
		return fmt.Sprintf("p50 %v, p95 %v, max %v", v[len(v)/2], v[len(v)*95/100], v[len(v)-1])
	}
	t.Logf("%d state changes: id on the channel %s; GetMany done %s (from the call's return); id from the call's start %s", len(event), q(event), q(read), q(fromStart))
}

func nextSample(t *testing.T, got <-chan sample, i int) sample {
	t.Helper()
	select {
	case s, ok := <-got:
		if !ok {
			t.Fatal("the channel closed")
		}
		return s
	case <-time.After(eventWait):
		t.Fatalf("change %d: no event within %s", i, eventWait)
	}
	return sample{}
}

// A black-holed connection (no answer, no reset) closes the channel once the keepalive gives
// up on it, without any read to notice it. Changes called while the network is still
// black-holed returns a channel within its wait (not at the end of its 30 s setup), and once
// the network is back the subscription completes and the channel carries events.
func TestChangesClosedOnBlackhole(t *testing.T) {
	td := newTestDriver(t)
	p := tcpProxy(t, td.lv)
	b := newBackend(t, "test+tcp://"+p.Addr()+"/default")
	// The shared connection of New has the default keepalive; a new one gets this.
	rlibvirt.SetKeepalive(b, 300*time.Millisecond, 2*time.Second)
	rlibvirt.Abandon(b)
	d := td.domain(t, "td-events-bh", false, false, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	p.Blackhole()
	waitClosed(t, ch, 2*time.Second+eventWait)
	within(t, "Changes on a black-holed network", 2*time.Second+3*time.Second, func() {
		ch, err = b.Changes(ctx)
	})
	if err != nil {
		t.Fatalf("Changes on a black-holed network: %v, want a channel (still subscribing)", err)
	}
	p.Pass()
	// The subscription completes some time after the network is back: change the domain until
	// an event comes. When the subscription under way met the keepalive's end just before the
	// network came back, its channel closes: the caller subscribes again, as the poller does.
	deadline := time.Now().Add(eventWait)
	for on := true; ; on = !on {
		if on {
			err = td.l.DomainCreate(d)
		} else {
			err = td.l.DomainDestroy(d)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, open := gotID(ch, domUUID(d), 300*time.Millisecond)
		if got {
			return
		}
		if !open {
			t.Log("the subscription made while black-holed ended; subscribing again")
			if ch, err = b.Changes(ctx); err != nil {
				t.Logf("Changes: %v", err)
				ch = closedChan()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event within %s after the network came back", eventWait)
		}
	}
}

// closedChan is a channel that is closed.
func closedChan() <-chan string {
	c := make(chan string)
	close(c)
	return c
}

// gotID reports whether want arrives on ch within d, and whether ch is still open.
func gotID(ch <-chan string, want string, d time.Duration) (got, open bool) {
	timeout := time.After(d)
	for {
		select {
		case id, ok := <-ch:
			if !ok {
				return false, false
			}
			if id == want {
				return true, true
			}
		case <-timeout:
			return false, true
		}
	}
}
