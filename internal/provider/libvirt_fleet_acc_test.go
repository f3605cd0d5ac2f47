package provider_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// A fleet rescue on libvirt through the real CLI: ten domains of the private libvirtd's
// test:///default (the cheapest real domains the harness has), found by rescue_instances and
// rescued by one apply with for_each and -parallelism=10. Each is in rescue with its journal;
// the destroy restores every original definition and leaves no rescue volume.
func TestAccLibvirtTD_forEach10(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	const count = 10
	_, s := lvTD(t)
	img := tdVolume(t, s, "acc-fleet-rescue.iso", "raw", "")
	names := make([]string, count)
	orig := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("acc-fleet-%02d", i)
		tdDomain(t, s, names[i], "pc", false)
		orig[names[i]] = s.mustXML(t, names[i])
	}
	w := tfcli.NewWorkspace(t)
	w.Write(acctest.LibvirtProviderConfig(s.uri) + `
data "rescue_instances" "broken" {
  name_regex = "^acc-fleet-[0-9]+$"
  in_rescue  = false
}

resource "rescue_instance" "fleet" {
  for_each         = { for i in data.rescue_instances.broken.instances : i.name => i }
  instance_id      = each.key
  image_id         = "` + img + `"
  shutdown_timeout = "10s"
}

output "rescued" {
  value = length(rescue_instance.fleet)
}
`)
	r := w.Apply("-parallelism=10")
	t.Cleanup(func() {
		if r := w.Destroy("-parallelism=10"); !r.OK() {
			t.Errorf("destroy:\n%s", r)
		}
	})
	if !r.OK() || !strings.Contains(r.Output, fmt.Sprintf("rescued = %d", count)) {
		t.Fatalf("apply:\n%s", r)
	}
	t.Logf("apply of %d rescues took %v", count, r.Took)
	for _, name := range names {
		if inst, err := s.get(name); err != nil || inst.State != rescue.StateRescued {
			t.Errorf("%s after the apply: %+v, %v; want in rescue", name, inst, err)
		}
		if ok, err := s.journal(name); !ok || err != nil {
			t.Errorf("%s has no rescue journal (%v)", name, err)
		}
	}
	r = w.Destroy("-parallelism=10")
	if !r.OK() {
		t.Fatalf("destroy:\n%s", r)
	}
	t.Logf("destroy of %d rescues took %v", count, r.Took)
	for _, name := range names {
		if err := checkRestored(s, name, orig[name]); err != nil {
			t.Error(err)
		}
	}
}
