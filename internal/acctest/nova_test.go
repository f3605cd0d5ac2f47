package acctest_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunMain(m)) }

// TestNovaSmoke starts the real Nova of the harness, lists servers, and drives one server
// through rescue/unrescue with the knobs the acceptance tests rely on.
func TestNovaSmoke(t *testing.T) {
	n := acctest.StartNovaT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pages, err := servers.List(n.Compute, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list servers: %v", err)
	}
	if _, err := servers.ExtractServers(pages); err != nil {
		t.Fatalf("extract servers: %v", err)
	}

	img := n.CreateImage(t, "smoke-rescue", map[string]string{"hw_rescue_device": "disk", "hw_rescue_bus": "virtio"})
	if got := n.ImageProperties(t, img)["hw_rescue_bus"]; got != "virtio" {
		t.Fatalf("image property hw_rescue_bus = %v, want virtio", got)
	}
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaRescueDelay: "1"}})
	if _, err := servers.Rescue(ctx, n.Compute, id, servers.RescueOpts{RescueImageRef: img}).Extract(); err != nil {
		t.Fatalf("rescue: %v", err)
	}
	// With a 1 s driver delay the server is still rescuing right after the POST.
	if st, task := n.Status(t, id); st != "ACTIVE" || task != "rescuing" {
		t.Fatalf("right after rescue: %s/%s, want ACTIVE/rescuing", st, task)
	}
	n.WaitStatus(t, id, "RESCUE")
	n.UnrescueOOB(t, id)
	if got := n.InstanceActions(t, id); strings.Join(got, ",") != "unrescue,rescue,create" {
		t.Fatalf("instance actions = %v", got)
	}

	// Injected driver failure: ERROR with Nova's fault.
	n.SetMetadata(t, id, map[string]string{acctest.MetaRescueFail: "1"})
	if _, err := servers.Rescue(ctx, n.Compute, id, servers.RescueOpts{}).Extract(); err != nil {
		t.Fatalf("rescue: %v", err)
	}
	s, err := n.WaitStatusE(id, "ERROR", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Fault.Message, "cannot be rescued") {
		t.Fatalf("fault = %q", s.Fault.Message)
	}
}

// TestNovaVolumeBackedAndOldCloud checks the BFV knobs: 2.87 rescue of a volume-backed server
// on host2, and the capped "older cloud" refusing 2.87.
func TestNovaVolumeBackedAndOldCloud(t *testing.T) {
	n := acctest.StartNovaT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
	if _, err := servers.Rescue(ctx, n.Compute, id, servers.RescueOpts{RescueImageRef: acctest.RescueImageID}).Extract(); err != nil {
		t.Fatalf("bfv rescue at 2.87: %v", err)
	}
	n.WaitStatus(t, id, "RESCUE")
	n.UnrescueOOB(t, id)

	old := acctest.OldNovaT(t)
	c := *old.Compute
	c.Microversion = "2.87"
	_, err := servers.List(&c, servers.ListOpts{}).AllPages(ctx)
	if !gophercloud.ResponseCodeIs(err, http.StatusNotAcceptable) {
		t.Fatalf("older cloud at 2.87: got %v, want 406", err)
	}
	if _, err := servers.List(old.Compute, servers.ListOpts{}).AllPages(ctx); err != nil {
		t.Fatalf("older cloud at %s: %v", old.Compute.Microversion, err)
	}
}

// TestKeystoneSmoke starts Keystone and a Nova with keystone auth, and authenticates.
func TestKeystoneSmoke(t *testing.T) {
	k := acctest.Keystone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := k.Nova.CreateServer(t, acctest.ServerOpts{})
	if st, _ := k.Nova.Status(t, id); st != "ACTIVE" {
		t.Fatalf("status %s", st)
	}
	// The catalog leads to the same Nova.
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: k.AuthURL,
		Username: acctest.KeystoneDemoUser, Password: acctest.KeystoneDemoPassword,
		TenantName: acctest.KeystoneDemoProject, DomainName: "Default"})
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	c, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: acctest.KeystoneRegion})
	if err != nil {
		t.Fatalf("compute from catalog: %v", err)
	}
	if _, err := servers.Get(ctx, c, id).Extract(); err != nil {
		t.Fatalf("get through catalog: %v", err)
	}
	// A wrong password is Keystone's 401.
	_, err = openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: k.AuthURL,
		Username: acctest.KeystoneDemoUser, Password: "wrong", TenantName: acctest.KeystoneDemoProject, DomainName: "Default"})
	if !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Fatalf("wrong password: %v, want 401", err)
	}
	// noauth2 tokens are refused by this Nova.
	bad := acctest.NewNoAuthNova(k.Nova.NovaProcess, acctest.NoAuthToken)
	if _, err := servers.Get(ctx, bad.Compute, id).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Fatalf("noauth token on keystone Nova: %v, want 401", err)
	}
}
