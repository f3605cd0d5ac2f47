package provider_test

// Interrupted runs on Nova, with real faults: the provider runs as its own process under the
// real Terraform CLI (acctest/tfcli) and is killed with SIGKILL while Nova works; the next plain
// apply or destroy must converge without an import, and no run undoes a rescue it does not own.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
)

// novaWorkspace is a tfcli workspace with a rescue_instance "t" of server id; its operation
// records stay in the workspace's data directory (the default of a real run).
func novaWorkspace(t *testing.T, n *acctest.Nova, id string) *tfcli.Workspace {
	t.Helper()
	w := tfcli.NewWorkspace(t, oprecord.EnvDir+"=")
	w.Write(n.ProviderConfig() + rescueHCL(attr("instance_id", id)))
	return w
}

// oneLine is Terraform's output with its line wrapping undone.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func recordPath(w *tfcli.Workspace, id string) string {
	return filepath.Join(w.Dir, ".terraform", "rescue-operations", id+".json")
}

// taskIs waits (through p) until Nova shows the server with this task state.
func taskIs(t *testing.T, n *acctest.Nova, p *tfcli.Proc, id, task string) {
	t.Helper()
	if !p.WaitFor(90*time.Second, func() bool { _, ts := n.Status(t, id); return ts == task }) {
		t.Fatalf("server %s never showed task %q; terraform:\n%s", id, task, p.Output())
	}
}

// TestAccNovaKilledDuringRescueConverges: SIGKILL of the provider, or of terraform (whose
// orphaned provider dies at its next write to the closed pipe, or finishes), while Nova carries
// out the rescue it accepted leaves the server in RESCUE with no state and its password lost.
// The next plain apply proves the rescue was this working directory's (its record, Nova's
// instance action) and replaces it, with a warning: exactly two rescue POSTs in all, and the
// password in state is the one Nova got last. destroy unrescues.
func TestAccNovaKilledDuringRescueConverges(t *testing.T) {
	n := acctest.StartNovaT(t)
	for _, victim := range []string{"provider", "terraform"} {
		t.Run(victim, func(t *testing.T) {
			id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaRescueDelay: "5"}})
			w := novaWorkspace(t, n, id)
			p := w.Start("apply", "-auto-approve")
			taskIs(t, n, p, id, "rescuing")
			if victim == "provider" {
				p.KillProvider()
			} else {
				p.KillTerraform()
				// Terraform and its provider died together (a CI runner lost); Nova
				// finishes the rescue on its own.
				n.WaitStatus(t, id, "RESCUE")
			}
			r := p.Wait()
			if r.OK() {
				t.Fatalf("apply survived the kill of its %s:\n%s", victim, r)
			}
			killedRescueConverges(t, n, w, id)
		})
	}
}

// stateHas reports whether the workspace's state has addr. Terraform killed while it writes
// terraform.tfstate leaves it empty, which Terraform reads as no state: so does this.
func stateHas(t *testing.T, w *tfcli.Workspace, addr string) bool {
	t.Helper()
	if st, err := os.Stat(filepath.Join(w.Dir, "terraform.tfstate")); err == nil && st.Size() == 0 {
		return false
	}
	_, ok := w.State()[addr]
	return ok
}

func killedRescueConverges(t *testing.T, n *acctest.Nova, w *tfcli.Workspace, id string) {
	t.Helper()
	if stateHas(t, w, addr) {
		t.Fatalf("the killed apply left %s in state", addr)
	}
	if _, err := os.Stat(recordPath(w, id)); err != nil {
		t.Fatalf("the killed run left no operation record: %v", err)
	}
	n.WaitStatus(t, id, "RESCUE") // Nova finishes the rescue the dead run asked for

	rec, _ := os.ReadFile(recordPath(w, id))
	if len(strings.TrimSpace(string(rec))) == 0 {
		t.Fatal("the killed run's operation record is empty")
	}
	r := w.Apply()
	if !r.OK() {
		t.Fatalf("apply after the kill (record %s):\n%s", rec, r)
	}
	for _, want := range []string{"Interrupted operation recovered", "started by a run of this working directory that died", "replaced"} {
		if !strings.Contains(oneLine(r.Output), want) {
			t.Errorf("apply after the kill does not say %q:\n%s", want, r.Output)
		}
	}
	if err := n.CheckStatus(id, "RESCUE"); err != nil {
		t.Fatal(err)
	}
	if rs, us := n.CountAction(t, id, "rescue"), n.CountAction(t, id, "unrescue"); rs != 2 || us != 1 {
		t.Fatalf("Nova recorded %d rescues and %d unrescues, want 2 and 1 (%v)", rs, us, n.InstanceActions(t, id))
	}
	got := n.RescuePasswords(t, id)
	st := w.State()[addr]
	if len(got) != 2 || got[0] == got[1] || st.Attributes["admin_pass"] != got[1] {
		t.Fatalf("Nova got %d passwords (distinct %v); state has the last one: %v", len(got),
			len(got) == 2 && got[0] != got[1], len(got) > 0 && st.Attributes["admin_pass"] == got[len(got)-1])
	}

	r = w.Destroy()
	if !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(recordPath(w, id)); !os.IsNotExist(err) {
		t.Fatalf("operation record left after destroy: %v", err)
	}
}

// TestAccNovaKilledDuringUnrescueConverges: SIGKILL of the provider while Nova unrescues; the
// next plain destroy converges (the server ACTIVE, the state empty, one unrescue POST).
func TestAccNovaKilledDuringUnrescueConverges(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaUnrescueDelay: "5"}})
	w := novaWorkspace(t, n, id)
	if r := w.Apply(); !r.OK() {
		t.Fatalf("apply:\n%s", r)
	}
	p := w.Start("destroy", "-auto-approve")
	taskIs(t, n, p, id, "unrescuing")
	p.KillProvider()
	if r := p.Wait(); r.OK() {
		t.Fatalf("destroy survived the kill of its provider:\n%s", r)
	}
	if _, ok := w.State()[addr]; !ok {
		t.Fatalf("the killed destroy dropped %s from state", addr)
	}
	if r := w.Destroy(); !r.OK() {
		t.Fatalf("destroy after the kill:\n%s", r)
	}
	if _, ok := w.State()[addr]; ok {
		t.Fatalf("%s still in state", addr)
	}
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if rs, us := n.CountAction(t, id, "rescue"), n.CountAction(t, id, "unrescue"); rs != 1 || us != 1 {
		t.Fatalf("Nova recorded %d rescues and %d unrescues, want 1 and 1 (%v)", rs, us, n.InstanceActions(t, id))
	}
}

// TestHelperHoldRecord is not a test: run by TestAccNovaLiveRunIsLeftAlone as a separate
// process, it holds an instance's operation record as a live run does, until it is killed.
func TestHelperHoldRecord(t *testing.T) {
	dir, id := os.Getenv("RESCUE_HOLD_DIR"), os.Getenv("RESCUE_HOLD_ID")
	if dir == "" || id == "" {
		t.Skip("helper process only")
	}
	l, err := oprecord.Open(dir).Acquire(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(oprecord.Record{Op: "live-run", Kind: "rescue", InstanceID: id, Workspace: "default",
		Started: time.Now().UTC(), Phase: oprecord.PhaseAccepted}); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "held"), nil, 0o600)
	time.Sleep(5 * time.Minute)
}

// TestAccNovaLiveRunIsLeftAlone: while another live process holds the server's operation
// record (a run of this working directory still rescuing it), apply stops before any change
// with "in progress by another run since ...", and keeps nothing in state that could undo it.
// A rescue made by hand (no record) gets the import message with an import block.
func TestAccNovaLiveRunIsLeftAlone(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	w := novaWorkspace(t, n, id)
	n.RescueOOB(t, id, "")

	// By hand, no record: plan refuses it, with the import block.
	p := w.Run("plan", "-input=false")
	if p.OK() || !strings.Contains(oneLine(p.Output), "Error: Instance already in rescue") ||
		!strings.Contains(oneLine(p.Output), "Refused at plan: nothing was changed") || !strings.Contains(p.Output, `id = "`+id+`"`) {
		t.Fatalf("plan over a rescue by hand: want it refused with the import block:\n%s", p)
	}
	// By hand, no record: the import message.
	r := w.Apply()
	if r.OK() || !strings.Contains(oneLine(r.Output), "already in rescue") || !strings.Contains(r.Output, "import {") ||
		!strings.Contains(r.Output, `id = "`+id+`"`) {
		t.Fatalf("apply over a rescue by hand: want the import message with an import block:\n%s", r)
	}

	dir := filepath.Dir(recordPath(w, id))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldRecord$")
	holder.Env = append(os.Environ(), "RESCUE_HOLD_DIR="+dir, "RESCUE_HOLD_ID="+id)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = holder.Wait(); close(done) }()
	t.Cleanup(func() { _ = holder.Process.Kill(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "held")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder process did not take the record")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, status := range []string{"RESCUE", "ACTIVE"} {
		if status == "ACTIVE" {
			n.UnrescueOOB(t, id)
		}
		if p := w.Run("plan", "-input=false"); p.OK() || !strings.Contains(oneLine(p.Output), "in progress by another run since") ||
			!strings.Contains(oneLine(p.Output), "Refused at plan") {
			t.Fatalf("plan (server %s) under another live run's record: want it refused:\n%s", status, p)
		}
		r = w.Apply()
		if r.OK() || !strings.Contains(oneLine(r.Output), "in progress by another run since") {
			t.Fatalf("apply (server %s) under another live run's record:\n%s", status, r)
		}
		if _, ok := w.State()[addr]; ok {
			t.Fatalf("apply under a live record kept %s in state", addr)
		}
	}
	if rs, us := n.CountAction(t, id, "rescue"), n.CountAction(t, id, "unrescue"); rs != 1 || us != 1 {
		t.Fatalf("Nova recorded %d rescues and %d unrescues, want only the 1 and 1 by hand (%v)", rs, us, n.InstanceActions(t, id))
	}
}
