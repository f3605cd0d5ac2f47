package provider_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
)

var (
	inProgressRE = regexp.MustCompile(`Rescue\s+in\s+progress\s+by\s+another\s+run`)
	alreadyRE    = regexp.MustCompile(`Instance\s+already\s+in\s+rescue`)
)

// Two workspaces apply a rescue of the same QEMU domain at once, for several rounds: exactly one
// wins; the loser fails before any change (in progress by another run, or, when it came after
// the winner's rescue was handed over, already in rescue; at plan, or at apply when both planned
// before either began) and has nothing in its state. The loser's destroy leaves the winner's
// rescue alone (same definition, no reboot): after a loss at apply the state file keeps the
// resource without an instance, so a plain destroy first plans the configuration and is refused
// there, naming `-refresh=false`, which then converges. The winner's destroy restores the
// original byte for byte.
func TestAccLibvirtQEMU_twoWorkspacesRace(t *testing.T) {
	lv, s := lvQEMU(t)
	img := lv.Images().RescueDisk
	const name = "acc-race"
	watch := qemuGuestT(t, lv, name, libvirtd.GuestOptions{IgnoreACPI: true, MemoryMiB: 32})
	orig := s.mustXML(t, name)
	cfg := s.config(attr("instance_id", name), attr("image_id", img), attr("device", "disk"), attr("bus", "virtio"),
		attr("shutdown_timeout", "3s"))
	ws := []*tfcli.Workspace{tfcli.NewWorkspace(t), tfcli.NewWorkspace(t)}
	for _, w := range ws {
		w.Write(cfg)
	}
	inProgress := 0
	for round := range 2 {
		watch.mark()
		procs := []*tfcli.Proc{ws[0].Start("apply", "-auto-approve"), ws[1].Start("apply", "-auto-approve")}
		res := []tfcli.Result{procs[0].Wait(), procs[1].Wait()}
		if res[0].OK() == res[1].OK() {
			t.Fatalf("round %d: want exactly one winner:\n%s\n%s", round, res[0], res[1])
		}
		win, lose := 0, 1
		if !res[0].OK() {
			win, lose = 1, 0
		}
		switch out := res[lose].Output; {
		case inProgressRE.MatchString(out):
			inProgress++
		case alreadyRE.MatchString(out):
		default:
			t.Fatalf("round %d: the loser failed otherwise:\n%s", round, res[lose])
		}
		t.Logf("round %d: workspace %d won; the loser said:\n%s", round, win, lastError(res[lose].Output))
		if st := state(t, ws[lose]); len(st) != 0 {
			t.Fatalf("round %d: the loser kept %+v in its state", round, st)
		}
		if err := watch.next(libvirtd.BootRescueDisk); err != nil {
			t.Fatal(err)
		}
		rescued, id := s.mustXML(t, name), domID(t, s, name)
		untouched := func(what string) {
			if x := s.mustXML(t, name); x != rescued || domID(t, s, name) != id {
				t.Fatalf("round %d: the loser's %s touched the winner's rescue", round, what)
			}
		}
		if r := ws[lose].Destroy(); !r.OK() {
			// A loser that failed at apply has its resource in the state file without an
			// instance, so destroy first plans the configuration: refused there, as named.
			if !strings.Contains(oneLine(r.Output), "Refused at plan: nothing was changed") ||
				!strings.Contains(oneLine(r.Output), "terraform destroy -refresh=false") {
				t.Fatalf("round %d: the loser's destroy:\n%s", round, r)
			}
			untouched("refused destroy")
			if r := ws[lose].Destroy("-refresh=false"); !r.OK() {
				t.Fatalf("round %d: the loser's destroy -refresh=false:\n%s", round, r)
			}
		}
		untouched("destroy")
		if err := checkRescued(s, name, orig, rescueExpect{device: "disk", bus: "virtio"}); err != nil {
			t.Fatal(err)
		}
		destroyConverges(t, ws[win])
		if err := watch.next(libvirtd.BootRoot); err != nil {
			t.Fatal(err)
		}
		if err := checkRestored(s, name, orig); err != nil {
			t.Fatal(err)
		}
	}
	if inProgress == 0 {
		t.Errorf("the loser never met the winner's rescue in progress (each came after the winner's)")
	}
}

// lastError is the part of terraform's output from its first "Error:" on.
func lastError(out string) string {
	if i := strings.Index(out, "Error:"); i >= 0 {
		return out[i:]
	}
	return out
}
