package provider_test

// Real faults through the real Terraform CLI: the provider runs as its own process (tfcli) and
// is SIGKILLed at several points of apply and destroy; then a plain apply or destroy
// converges, without an import, to the original definition byte for byte and no leftovers.

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
)

// killWhen waits until reached holds while p runs, then SIGKILLs the provider (or, with
// terraform, terraform and its provider together, as a dying CI runner takes its process
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
func hasRescueDef(s *lvSide, name string) (bool, error) { return hasRescueDisk(s, name, lvSecure) }

// hasRescueDisk reports whether the definition read with flags (0: the live one) has the
// rescue disk.
func hasRescueDisk(s *lvSide, name string, flags golibvirt.DomainXMLFlags) (bool, error) {
	x, err := s.xml(name, flags)
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
func applyConverges(t *testing.T, w *tfcli.Workspace) tfcli.Result {
	t.Helper()
	r := w.Apply()
	if !r.OK() {
		t.Fatalf("apply after the kill:\n%s", r)
	}
	if !regexp.MustCompile(`Interrupted\s+operation\s+recovered`).MatchString(r.Output) {
		t.Errorf("apply did not say what it recovered:\n%s", r)
	}
	st := state(t, w)
	if i, ok := st[addr]; !ok || i.Tainted {
		t.Fatalf("state after apply: %+v", st)
	}
	t.Logf("apply after the kill took %s", r.Took.Round(time.Millisecond))
	return r
}

// destroyConverges runs a plain destroy and checks it left nothing in state.
func destroyConverges(t *testing.T, w *tfcli.Workspace) {
	t.Helper()
	r := w.Destroy()
	if !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	if st := state(t, w); len(st) != 0 {
		t.Fatalf("state after destroy: %+v", st)
	}
}

// SIGKILL on test:///default: of terraform, then of the provider process, during apply right
// after the journal (before any change to the domain), and of the provider during destroy right after the unrescue took the
// journal. Each time the next plain apply/destroy converges, and the final destroy restores
// the definition byte for byte with no rescue volume left.
func TestAccLibvirtTD_killProvider(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-kill.iso", "raw", "")
	for _, c := range []struct {
		name      string
		terraform bool
	}{{"acc-td-kill-terraform", true}, {"acc-td-kill-provider", false}} {
		t.Run(c.name, func(t *testing.T) {
			name := c.name
			tdDomain(t, s, name, "pc", false)
			orig := s.mustXML(t, name)
			w := tfcli.NewWorkspace(t)
			w.Write(s.config(attr("instance_id", name), attr("image_id", img), attr("device", "cdrom"), attr("bus", "sata")))

			killWhen(t, w.Start("apply", "-auto-approve"), "during apply after the journal", c.terraform, func() (bool, error) { return journalOnly(s, name) })
			deadLeft(t, s, name)
			if st := state(t, w); len(st) != 0 {
				t.Fatalf("state after the killed apply: %+v", st)
			}
			applyConverges(t, w)
			if err := checkRescued(s, name, orig, rescueExpect{device: "cdrom", bus: "sata"}); err != nil {
				t.Fatal(err)
			}
			if !c.terraform {
				// Destroy, killed after the unrescue took the journal (its owner is the unrescue).
				killWhen(t, w.Start("destroy", "-auto-approve"), "during destroy after the unrescue took the journal", false, func() (bool, error) {
					return journalOwnedBy(s, name, "unrescue")
				})
				deadLeft(t, s, name)
			}
			destroyConverges(t, w)
			if err := checkRestored(s, name, orig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// state reads the workspace's state; a file that a killed terraform left empty is no state.
func state(t *testing.T, w *tfcli.Workspace) map[string]tfcli.Instance {
	t.Helper()
	if fi, err := os.Stat(filepath.Join(w.Dir, "terraform.tfstate")); err == nil && fi.Size() == 0 {
		return nil
	}
	return w.State()
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

// SIGKILL of the provider on QEMU: while the guest shuts down for the rescue (the rescue
// definition is defined, the guest ignores ACPI and shutdown_timeout is long), and while libvirt
// starts the rescue definition (the guest was forced off after 2 s). The next plain apply takes
// over a rescue guest that already runs what the configuration asks for (no reboot), else rolls
// the dead run's work back and rescues; destroy restores the original byte for byte, with no
// overlay and no key secret left.
func TestAccLibvirtQEMU_killProvider(t *testing.T) {
	lv, s := lvQEMU(t)
	img := lv.Images().RescueDisk
	for _, c := range []struct {
		name, timeout string
		reached       func(s *lvSide, name string) (bool, error)
	}{
		{"acc-kill-shutdown", "10m", hasRescueDef},
		{"acc-kill-start", "2s", startingRescue},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := c.name
			watch := qemuGuestT(t, lv, name, libvirtd.GuestOptions{IgnoreACPI: true, MemoryMiB: 32})
			orig := s.mustXML(t, name)
			w := tfcli.NewWorkspace(t)
			base := []string{attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio")}
			w.Write(s.config(append(base, attr("shutdown_timeout", c.timeout))...))
			watch.mark()
			killWhen(t, w.Start("apply", "-auto-approve"), "during "+strings.TrimPrefix(name, "acc-kill-"), false, func() (bool, error) { return c.reached(s, name) })
			// A start the provider had asked for goes on without it.
			time.Sleep(2 * time.Second)
			deadLeft(t, s, name)
			// A guest whose start was cut short may stay paused (QEMU starts with its CPUs
			// stopped): it has not booted, and the next apply rolls it back and rescues anew.
			running := liveHasFile(s, name, rescueOverlay(t, s, name)) == nil && domRunning(t, s, name)
			var id int32
			if running {
				if err := watch.next(libvirtd.BootRescueDisk); err != nil {
					t.Fatal(err)
				}
				id = domID(t, s, name)
				t.Log("the rescue guest was started by the killed run")
			}
			w.Write(s.config(append(base, attr("shutdown_timeout", "2s"))...))
			r := applyConverges(t, w)
			if running {
				if !regexp.MustCompile(`taken\s+over\s+as\s+it\s+is`).MatchString(r.Output) {
					t.Errorf("apply did not take over the running rescue:\n%s", r)
				}
				if got := domID(t, s, name); got != id {
					t.Errorf("the rescue guest was restarted (domain id %d -> %d)", id, got)
				}
			} else if err := watch.next(libvirtd.BootRescueDisk); err != nil {
				t.Fatal(err)
			}
			if err := checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}); err != nil {
				t.Fatal(err)
			}
			if c.name == "acc-kill-shutdown" {
				// Destroy, killed while the unrescue shuts the rescue guest down or restores the
				// original (the machine decides which): 1 s after the
				// unrescue took the journal (its settle delay is 0.5 s, the guest ignores ACPI
				// and is forced off after 2 s).
				var took time.Time
				killWhen(t, w.Start("destroy", "-auto-approve"), "during destroy while the rescue guest shuts down", false, func() (bool, error) {
					if took.IsZero() {
						if ok, err := journalOwnedBy(s, name, "unrescue"); err != nil || !ok {
							return false, err
						}
						took = time.Now()
					}
					return time.Since(took) > time.Second, nil
				})
				deadLeft(t, s, name)
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

// domRunning reports whether the domain's state is running (not paused, not shut off).
func domRunning(t *testing.T, s *lvSide, name string) bool {
	t.Helper()
	d, err := s.conn().DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := s.conn().DomainGetState(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if golibvirt.DomainState(st) == golibvirt.DomainPaused {
		t.Log("the killed run left the rescue guest paused")
	}
	return golibvirt.DomainState(st) == golibvirt.DomainRunning
}

// startingRescue reports whether libvirt is starting (or has started) the rescue definition:
// it is defined and the guest is shut off or runs it.
func startingRescue(s *lvSide, name string) (bool, error) {
	if ok, err := hasRescueDef(s, name); err != nil || !ok {
		return false, err
	}
	d, err := s.conn().DomainLookupByName(name)
	if err != nil {
		return false, err
	}
	st, _, err := s.conn().DomainGetState(d, 0)
	if err != nil {
		return false, err
	}
	if golibvirt.DomainState(st) == golibvirt.DomainShutoff {
		return true, nil
	}
	return hasRescueDisk(s, name, 0)
}

// rescueOverlay is the path of the rescue disk in the persistent definition.
func rescueOverlay(t *testing.T, s *lvSide, name string) string {
	t.Helper()
	disks, err := disksOf(s.mustXML(t, name))
	if err != nil {
		t.Fatal(err)
	}
	rd, ok := rescueDisk(disks, name)
	if !ok {
		t.Fatalf("no rescue disk in the definition of %s", name)
	}
	return rd.File
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
