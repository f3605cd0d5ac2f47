package provider_test

// rescue_instances on Nova through the real CLI: paging past Nova's page size, the view of a
// project member (its own project only; all_projects refused) and of an administrator, and the
// CI audit (a check block) flagging a rescue older than its limit.

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
)

// instancesHCL is a provider of cloud (an entry of the Keystone harness's clouds.yaml) whose
// compute requests go through proxy, a rescue_instances "found" of the servers whose name
// starts with prefix (all_projects when set), outputs of what it found, and the guide's check
// block with a limit of one second.
func instancesHCL(cloud, computeURL, prefix string, allProjects bool) string {
	ap := ""
	if allProjects {
		ap = "all_projects = true"
	}
	return fmt.Sprintf(`
provider "rescue" {
  openstack {
    cloud              = %q
    endpoint_overrides = { compute = %q }
  }
}

data "rescue_instances" "found" {
  name_regex = "^%s-"
  %s
}

output "found" {
  value = join(",", [for i in data.rescue_instances.found.instances : i.name])
}

output "rescued" {
  value = join(",", [for i in data.rescue_instances.found.instances : "${i.name}@${i.rescued_at}" if i.in_rescue])
}

check "no_forgotten_rescues" {
  data "rescue_instances" "rescued" {
    name_regex = "^%s-"
    in_rescue  = true
  }
  assert {
    condition     = alltrue([for i in data.rescue_instances.rescued.instances : timecmp(timeadd(i.rescued_at, "1s"), plantimestamp()) > 0])
    error_message = "in rescue for too long: ${join(",", [for i in data.rescue_instances.rescued.instances : i.name])}"
  }
}
`, cloud, computeURL, prefix, ap, prefix)
}

// names is the comma-joined "<prefix>-<suffix>" of each suffix (the output's form).
func names(prefix string, suffixes ...string) string {
	out := make([]string, len(suffixes))
	for i, s := range suffixes {
		out[i] = prefix + "-" + s
	}
	return strings.Join(out, ",")
}

// Five servers of project demo and one of project admin on the Keystone-backed Nova, whose
// pages hold acctest.KeystoneNovaPageSize (2) servers. The member sees its five (three pages
// at least, counted by a proxy), with the rescued one's rescued_at, and the check block flags
// that rescue once it is older than the limit; all_projects is refused for the member with
// Nova's policy message; the administrator sees its own server, and all six with all_projects.
func TestAccNovaInstances_pagingAndProjects(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
	k := acctest.Keystone(t)
	prefix := "pg"
	demo := k.Nova.CreateServers(t, 5, acctest.ServerOpts{Name: prefix})
	k.Admin.CreateServer(t, acctest.ServerOpts{Name: prefix + "-admin"})
	k.Nova.RescueOOB(t, demo[1], "")
	p := k.Nova.ComputeProxy(t)
	w := tfcli.NewWorkspace(t, "OS_CLIENT_CONFIG_FILE="+k.CloudsYAMLUsers(t, t.TempDir()))
	proxied := p.URLFor(k.Nova.ComputeURL)
	time.Sleep(1100 * time.Millisecond) // the rescue is now older than the check's limit

	w.Write(instancesHCL("demo", proxied, prefix, false))
	r := w.Apply()
	want := names(prefix, "00", "01", "02", "03", "04")
	if !r.OK() || !strings.Contains(r.Output, fmt.Sprintf("found = %q", want)) {
		t.Fatalf("the member's listing is not its five servers %s:\n%s", want, r)
	}
	if !strings.Contains(r.Output, `rescued = "`+prefix+`-01@20`) {
		t.Errorf("the rescued server has no rescued_at:\n%s", r)
	}
	if !strings.Contains(r.Output, "Check block assertion failed") || !strings.Contains(r.Output, "in rescue for too long: "+prefix+"-01") {
		t.Errorf("the check block does not flag the old rescue:\n%s", r)
	}
	if pages := p.Count(faultproxy.HTTPMatchOf(http.MethodGet, `/servers/detail$`)); pages < 3 {
		t.Errorf("%d GET /servers/detail for five servers in pages of %d, want at least 3", pages, acctest.KeystoneNovaPageSize)
	}

	w.Write(instancesHCL("demo", proxied, prefix, true))
	r = w.Apply()
	if r.OK() || !strings.Contains(r.Output, "all_projects") {
		t.Errorf("all_projects by a project member is not refused with a message naming it:\n%s", r)
	}
	t.Logf("all_projects as a member:\n%s", r.Output)

	w.Write(instancesHCL("admin", proxied, prefix, false))
	if r = w.Apply(); !r.OK() || !strings.Contains(r.Output, fmt.Sprintf("found = %q", prefix+"-admin")) {
		t.Fatalf("the administrator without all_projects does not see its own server only:\n%s", r)
	}
	w.Write(instancesHCL("admin", proxied, prefix, true))
	want = names(prefix, "00", "01", "02", "03", "04", "admin")
	if r = w.Apply(); !r.OK() || !strings.Contains(r.Output, fmt.Sprintf("found = %q", want)) {
		t.Fatalf("the administrator with all_projects does not see the servers of both projects %s:\n%s", want, r)
	}
}
