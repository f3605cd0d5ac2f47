package provider_test

// Real faults through the real Terraform CLI: the provider runs as its own process (tfcli) and
// is SIGKILLed at several points of apply and destroy; then a plain apply or destroy
// converges, without an import, to the original definition byte for byte and no leftovers.

import (
	"errors"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
)

// killWhen waits until reached holds while p runs, then SIGKILLs the provider (or, with
// terraform, terraform and then its process group, as a dying CI runner takes its process
// tree), and checks that the command failed.
func killWhen(t *testing.T, p *tfcli.Proc, what string, terraform bool, reached func() (bool, error)) {
	t.Helper()
	var last error
	ok := p.WaitFor(2*time.Minute, func() bool {
		ok, err := reached()
		last = err
		return err == nil && ok
	})
	if !ok {
		t.Fatalf("%s was not reached (last error %v); output:\n%s", what, last, p.Output())
	}
	if terraform {
		p.KillTerraform()
	} else {
		p.KillProvider()
	}
	if r := p.Wait(); r.OK() {
		t.Fatalf("the command succeeded although it was killed %s:\n%s", what, r)
	}
	t.Logf("killed %s", what)
}

// hasRescueDef reports whether the persistent definition is the rescue definition.
func hasRescueDef(s *lvSide, name string) (bool, error) {
	x, err := s.xml(name, lvSecure)
	if err != nil {
		return false, err
	}
	disks, err := disksOf(x)
	if err != nil {
		return false, err
	}
	_, ok := rescueDisk(disks, name)
	return ok, nil
}

// journalOnly reports whether the journal is written and the definition is still the original.
func journalOnly(s *lvSide, name string) (bool, error) {
	if ok, err := s.journal(name); err != nil || !ok {
		return false, err
	}
	def, err := hasRescueDef(s, name)
	return !def, err
}

// deadLeft checks what a killed run left: a journal whose operation is not in progress (its
// process is gone, so its lease is dead at once) but incomplete or rescued.
func deadLeft(t *testing.T, s *lvSide, name string) {
	t.Helper()
	inst, err := s.get(name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.InProgress != nil || inst.State.Transient() {
		t.Fatalf("after the kill the backend says %s (%s), in progress %v: the dead run's lease should be dead", inst.State, inst.Status, inst.InProgress)
	}
	t.Logf("after the kill: %s (%s)", inst.State, inst.Status)
}

// applyConverges runs a plain apply and checks it rescued without an import, told what it
// recovered, and kept the resource in state untainted.
func applyConverges(t *testing.T, w *tfcli.Workspace) {
	t.Helper()
	r := w.Apply()
	if !r.OK() {
		t.Fatalf("apply after the kill:\n%s", r)
	}
	if !strings.Contains(r.Output, "Interrupted operation recovered") {
		t.Errorf("apply did not say what it recovered:\n%s", r)
	}
	st := w.State()
	if i, ok := st[addr]; !ok || i.Tainted {
		t.Fatalf("state after apply: %+v", st)
	}
	t.Logf("apply after the kill took %s", r.Took.Round(time.Millisecond))
}

// destroyConverges runs a plain destroy and checks it left nothing in state.
func destroyConverges(t *testing.T, w *tfcli.Workspace) {
	t.Helper()
	r := w.Destroy()
	if !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	if st := w.State(); len(st) != 0 {
		t.Fatalf("state after destroy: %+v", st)
	}
}

// SIGKILL of the provider process on test:///default: during apply right after the journal
// (before any change to the domain), and during destroy right after the unrescue took the
// journal. Each time the next plain apply/destroy converges, and the final destroy restores
// the definition byte for byte with no rescue volume left.
func TestAccLibvirtTD_killProvider(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-kill.iso", "raw", "")
	const name = "acc-td-kill"
	tdDomain(t, s, name, "pc", false)
	orig := s.mustXML(t, name)
	w := tfcli.NewWorkspace(t)
	w.Write(s.config(attr("instance_id", name), attr("image_id", img), attr("device", "cdrom"), attr("bus", "sata")))

	// Apply, killed after the journal.
	killWhen(t, w.Start("apply", "-auto-approve"), "during apply after the journal", false, func() (bool, error) { return journalOnly(s, name) })
	deadLeft(t, s, name)
	if st := w.State(); len(st) != 0 {
		t.Fatalf("state after the killed apply: %+v", st)
	}
	applyConverges(t, w)
	if err := checkRescued(s, name, orig, rescueExpect{device: "cdrom", bus: "sata"}); err != nil {
		t.Fatal(err)
	}

	// Destroy, killed after the unrescue took the journal (its owner is the unrescue).
	killWhen(t, w.Start("destroy", "-auto-approve"), "during destroy after the unrescue took the journal", false, func() (bool, error) {
		return journalOwnedBy(s, name, "unrescue")
	})
	deadLeft(t, s, name)
	destroyConverges(t, w)
	if err := checkRestored(s, name, orig); err != nil {
		t.Fatal(err)
	}
}

// journalOwnedBy reports whether the journal names a live-looking owner of kind.
func journalOwnedBy(s *lvSide, name, kind string) (bool, error) {
	l := s.conn()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		return false, err
	}
	m, err := l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{rlibvirt.MetadataNamespace}, golibvirt.DomainAffectConfig)
	var le golibvirt.Error
	if errors.As(err, &le) && le.Code == uint32(golibvirt.ErrNoDomainMetadata) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.Contains(m, `kind="`+kind+`"`), nil
}

// SIGKILL on QEMU while the guest shuts down for the rescue (the rescue definition is defined,
// the guest ignores ACPI and shutdown_timeout is long): of the provider once, of terraform
// once. Each time the next plain apply rolls the dead run's work back and rescues (the guest
// boots the rescue disk), and destroy restores the original byte for byte, with no overlay
// and no key secret left.
func TestAccLibvirtQEMU_killDuringShutdown(t *testing.T) {
	lv, s := lvQEMU(t)
	img := lv.Images().RescueDisk
	for _, c := range []struct {
		name      string
		terraform bool
	}{{"acc-kill-provider", false}, {"acc-kill-terraform", true}} {
		t.Run(c.name, func(t *testing.T) {
			name := c.name
			watch := qemuGuestT(t, lv, name, libvirtd.GuestOptions{IgnoreACPI: true, MemoryMiB: 32})
			orig := s.mustXML(t, name)

			w := tfcli.NewWorkspace(t)
			base := []string{attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio")}
			w.Write(s.config(append(base, attr("shutdown_timeout", "10m"))...))
			killWhen(t, w.Start("apply", "-auto-approve"), "during the shutdown", c.terraform, func() (bool, error) { return hasRescueDef(s, name) })
			deadLeft(t, s, name)
			w.Write(s.config(append(base, attr("shutdown_timeout", "2s"))...))
			watch.mark()
			applyConverges(t, w)
			if err := watch.next(libvirtd.BootRescueDisk); err != nil {
				t.Fatal(err)
			}
			if err := checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}); err != nil {
				t.Fatal(err)
			}
			destroyConverges(t, w)
			if err := watch.next(libvirtd.BootRoot); err != nil {
				t.Fatal(err)
			}
			if err := checkRestored(s, name, orig); err != nil {
				t.Fatal(err)
			}
			if got := keySecrets(t, s, name); len(got) != 0 {
				t.Errorf("key secrets left: %v", got)
			}
		})
	}
}

// keySecrets lists the journal key secrets of a domain on the daemon (their descriptions name it).
func keySecrets(t *testing.T, s *lvSide, name string) []string {
	t.Helper()
	l := s.conn()
	secs, _, err := l.ConnectListAllSecrets(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range secs {
		x, err := l.SecretGetXMLDesc(sc, 0)
		if err == nil && strings.Contains(x, "domain "+name+" (") {
			out = append(out, x)
		}
	}
	return out
}
