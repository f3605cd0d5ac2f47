package libvirt_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// A run that died right after libvirt started the rescue definition (journal still preparing)
// left a rescue that the next rescue with the same request takes over as it is (no restart,
// a warning), and then hands to Terraform: a third run without state finds it someone else's.
// With another request (another bus), or when the rescue guest is paused (it has not booted
// the rescue image), the dead run's rescue is rolled back and rescued anew.
func TestTestDriverTakeOverAfterCrash(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-adopt.iso", "raw", "")
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		bus    rescue.Bus
		adopt  bool
		paused bool
	}{{"td-adopt-same", "sata", true, false}, {"td-adopt-other", "scsi", false, false}, {"td-adopt-paused", "sata", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			d := td.domain(t, c.name, true, false, "")
			orig := td.xml(t, d, secure)
			req := rescue.Request{InstanceID: c.name, ImageID: img, Device: "cdrom", Bus: "sata"}
			if c.paused {
				// A paused guest cannot answer the power button: the rollback forces it off at
				// once instead of spending this shutdown timeout (the rescue below has 1 minute).
				req.ShutdownTimeout = time.Hour
			}
			a := crashingBackend(t, td.lv.TestURI, "rescue", "start")
			if _, err := a.Rescue(ctx, req); !errors.Is(err, errCrashed) {
				t.Fatalf("Rescue: %v", err)
			}
			rlibvirt.Abandon(a)
			before, err := td.l.DomainLookupByName(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if c.paused {
				if err := td.l.DomainSuspend(before); err != nil {
					t.Fatal(err)
				}
			}
			b := newBackend(t, td.lv.TestURI)
			req.Bus = c.bus
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			res, inst, err := rescue.NewEngine(b).Rescue(rctx, req)
			if err != nil || inst.State != rescue.StateRescued || inst.Bus != c.bus {
				t.Fatalf("Rescue after the crash: %+v %+v %v", res, inst, err)
			}
			after, err := td.l.DomainLookupByName(c.name)
			if err != nil {
				t.Fatal(err)
			}
			word := "Rolled back"
			if c.adopt {
				word = "taken over as it is"
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], word) {
				t.Errorf("warnings %q, want one saying %q", res.Warnings, word)
			}
			if restarted := after.ID != before.ID; restarted == c.adopt {
				t.Errorf("domain id %d -> %d: restarted %v, want %v", before.ID, after.ID, restarted, !c.adopt)
			}
			var already *rescue.AlreadyRescuedError
			if _, _, err := rescue.NewEngine(newBackend(t, td.lv.TestURI)).Rescue(ctx, req); !errors.As(err, &already) {
				t.Errorf("a third run's rescue: %v, want already in rescue", err)
			}
			if out, _, err := rescue.NewEngine(b).Unrescue(ctx, c.name); err != nil || out != rescue.Unrescued {
				t.Fatalf("Unrescue: %v %v", out, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("restored definition differs:\n--- original\n%s\n--- restored\n%s", orig, got)
			}
			if hasRescueVolume(td.volumes(t), c.name) {
				t.Errorf("rescue volumes left: %v", td.volumes(t))
			}
		})
	}
}

// The live run renews its lease: while an operation runs several times longer than the lease,
// the expiry in the journal moves on, the operation stays in progress for another run all
// along, and that run changes nothing.
func TestTestDriverLeaseRenewed(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-renew.iso", "raw", "")
	ctx := context.Background()
	const name = "td-renew"
	td.domain(t, name, true, false, "")
	a := newBackend(t, td.lv.TestURI)
	rlibvirt.SetLease(a, 50*time.Millisecond, 300*time.Millisecond, 20*time.Millisecond)
	b := newBackend(t, td.lv.TestURI)
	checks := 0
	var lastUntil, lastRenew time.Time
	rlibvirt.SetAfterStep(a, func(op, step string) error {
		if op != "rescue" || step != "define" {
			return nil
		}
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			inst, err := b.Get(ctx, name)
			if err != nil || inst.InProgress == nil {
				t.Errorf("Get while A's lease should be renewed: %+v %v", inst, err)
				return nil
			}
			checks++
			if u := leaseUntil(t, td, name); !u.After(lastUntil) && !lastUntil.IsZero() && time.Since(lastRenew) > 200*time.Millisecond {
				t.Errorf("the lease (until %s) was not renewed for %s", u, time.Since(lastRenew))
			} else if u.After(lastUntil) {
				lastUntil, lastRenew = u, time.Now()
			}
			if u := leaseUntil(t, td, name); time.Until(u) <= 0 {
				t.Errorf("the lease expired at %s while the operation runs", u)
			}
		}
		_, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img})
		var ip *rescue.InProgressError
		if !errors.As(err, &ip) {
			t.Errorf("B's rescue: %v, want in progress", err)
		}
		return nil
	})
	if _, err := a.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img}); err != nil {
		t.Fatalf("A's rescue: %v", err)
	}
	if checks < 10 {
		t.Errorf("only %d checks", checks)
	}
	if _, _, err := rescue.NewEngine(b).Unrescue(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// leaseUntil reads the lease expiry from the domain's journal.
func leaseUntil(t *testing.T, td *testDriver, name string) time.Time {
	t.Helper()
	d, err := td.l.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := td.l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{rlibvirt.MetadataNamespace}, golibvirt.DomainAffectConfig)
	if err != nil {
		t.Fatal(err)
	}
	sm := regexp.MustCompile(`lease-until="([^"]+)"`).FindStringSubmatch(m)
	if sm == nil {
		t.Fatalf("no lease in the journal: %s", m)
	}
	u, err := time.Parse(time.RFC3339Nano, sm[1])
	if err != nil {
		t.Fatal(err)
	}
	return u
}
