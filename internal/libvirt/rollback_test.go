package libvirt_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// A rescue cancelled while the guest shuts down cleanly (right after the ACPI press, as a
// create timeout shorter than shutdown_timeout would) is rolled back with the guest running
// again on its original definition, not left shut off.
func TestQEMUCancelDuringShutdown(t *testing.T) {
	lv := libvirtd.Shared(t)
	const name = "q-cancel-shutdown"
	acctest.QEMUGuest(t, lv, name, libvirtd.GuestOptions{})
	orig := lv.DomainXML(t, name, secure)
	b := newBackend(t, lv.QEMUURI)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	rlibvirt.SetAfterPress(b, func() { once.Do(cancel) })
	lv.Mark(t, name)
	_, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: lv.Images().RescueDisk, ShutdownTimeout: 20 * time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Rescue: %v, want the cancellation", err)
	}
	t.Log(err)
	if rescue.Accepted(err) {
		t.Errorf("rolled back rescue marked as accepted: %v", err)
	}
	if st, _ := lv.State(t, name); st != golibvirt.DomainRunning {
		t.Fatalf("state %d after the rollback, want running", st)
	}
	lv.WaitBooted(t, name, libvirtd.BootRoot, bootTimeout)
	if got := lv.DomainXML(t, name, secure); got != orig {
		t.Fatalf("definition differs:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if files := rescueFiles(lv, name); len(files) != 0 {
		t.Errorf("rescue files left: %v", files)
	}
}

// A new rescue that rolls back an interrupted one that had shut the guest down keeps the fact
// that the guest ran: when the new rescue fails too, the guest is started again.
func TestTestDriverRollbackKeepsWasRunning(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-wasrunning.iso", "raw", "")
	ctx := context.Background()
	const name = "td-wasrunning"
	d := td.domain(t, name, true, false, "")
	orig := td.xml(t, d, secure)
	a := crashingBackend(t, td.lv.TestURI, "rescue", "shutdown")
	if _, err := a.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img}); !errors.Is(err, errCrashed) {
		t.Fatalf("Rescue: %v", err)
	}
	rlibvirt.Abandon(a)
	if st := td.state(t, d); st != golibvirt.DomainShutoff {
		t.Fatalf("state %d after a crash after the shutdown, want shut off", st)
	}
	b := newBackend(t, td.lv.TestURI)
	rlibvirt.SetRescueXMLFilter(b, func(x string) string {
		return regexp.MustCompile(`bus=["']scsi["']`).ReplaceAllString(x, "bus='scsi-nope'")
	})
	_, err := b.Rescue(ctx, rescue.Request{InstanceID: name, ImageID: img, Device: "disk", Bus: "scsi"})
	if err == nil || rescue.Accepted(err) {
		t.Fatalf("Rescue: %v, want libvirt's rejection", err)
	}
	t.Log(err)
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition differs:\n--- original\n%s\n--- now\n%s", orig, got)
	}
	if st := td.state(t, d); st != golibvirt.DomainRunning {
		t.Errorf("state %d, want running (it ran before the first rescue)", st)
	}
}
