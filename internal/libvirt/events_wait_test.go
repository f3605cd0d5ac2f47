package libvirt_test

import (
	"context"
	"slices"
	"testing"
	"time"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// A wait on another run's rescue (a second process reads a domain that the first is rescuing:
// Get says rescuing, in progress) ends with the rescue in place, with the shared poller (woken
// by the journal's change event) and with the per-instance poller (its backoff). How long after
// the first process's Rescue returned each wait ended is reported, not asserted: 3 rescues per
// poller.
func TestWaitOnAnotherRunDetection(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-wait-other.iso", "raw", "")
	pollers := []struct {
		name string
		make func(b rescue.Backend) rescue.Poller
	}{
		{"shared", func(b rescue.Backend) rescue.Poller { return rescue.NewSharedPoller(b, rescue.DefaultBackoff) }},
		{"per-instance", func(rescue.Backend) rescue.Poller { return rescue.NewPoller(rescue.DefaultBackoff) }},
	}
	for _, pl := range pollers {
		t.Run(pl.name, func(t *testing.T) {
			name := "td-wait-other-" + pl.name
			td.domain(t, name, true, false, "")
			first := newBackend(t, td.lv.TestURI)
			// The first run holds its rescue open for a while after the journal (and its lease)
			// is written, so that the second run's read finds it in progress.
			rlibvirt.SetAfterStep(first, func(op, step string) error {
				if op == "rescue" && step == "overlay" {
					time.Sleep(600 * time.Millisecond)
				}
				return nil
			})
			second := newBackend(t, td.lv.TestURI)
			rlibvirt.SetLease(first, 0, 0, 50*time.Millisecond)
			rlibvirt.SetLease(second, 0, 0, 50*time.Millisecond)
			eng := &rescue.Engine{Backend: second, Poller: pl.make(second)}
			var lags []time.Duration
			for i := 0; i < 3; i++ {
				lags = append(lags, waitOnOtherRescue(t, first, second, eng, rescue.Request{InstanceID: name, ImageID: img}))
			}
			slices.Sort(lags)
			t.Logf("%s poller: a wait on another run's rescue ended %v after that Rescue returned (p50; all: %v)", pl.name, lags[len(lags)/2], lags)
		})
	}
}

// waitOnOtherRescue rescues with first while eng (over second) waits in Read for the rescue in
// progress, checks the wait ends in rescue, unrescues, and returns how long after first's
// Rescue returned the wait ended.
func waitOnOtherRescue(t *testing.T, first, second *rlibvirt.Backend, eng *rescue.Engine, req rescue.Request) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	returned := make(chan time.Time, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := first.Rescue(ctx, req)
		returned <- time.Now()
		errc <- err
	}()
	for {
		inst, err := second.Get(ctx, req.InstanceID)
		if err == nil && inst.State == rescue.StateRescuing && inst.InProgress != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the second run never saw the rescue in progress: %+v %v", inst, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	inst, err := eng.Read(ctx, req.InstanceID)
	ended := time.Now()
	if err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("Read waiting on the other run: %+v %v, want rescued", inst, err)
	}
	at := <-returned
	if err := <-errc; err != nil {
		t.Fatalf("the first run's Rescue: %v", err)
	}
	if _, _, err := eng.Unrescue(ctx, req.InstanceID); err != nil {
		t.Fatalf("Unrescue: %v", err)
	}
	return ended.Sub(at).Round(100 * time.Microsecond)
}
