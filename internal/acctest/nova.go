package acctest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tier"
)

// Images and volumes the Nova harness provides (Nova's GlanceFixture / CinderFixture, plus
// novasim's rescue image).
const (
	// PlainImageID has no hw_rescue_* properties (GlanceFixture image1).
	PlainImageID = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
	// RescueImageID has hw_rescue_device=cdrom and hw_rescue_bus=scsi.
	RescueImageID = "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001"
	// ImageBackedVolumeID is CinderFixture.IMAGE_BACKED_VOL, the one bootable volume.
	ImageBackedVolumeID = "6ca404f3-d844-4169-bb96-bc792f37de98"
	// BFVRescueAZ is the availability zone of host2, the host with COMPUTE_RESCUE_BFV.
	BFVRescueAZ = "bfv-rescue"
	// NoAuthToken is the noauth2 token of the admin user in project admin.
	NoAuthToken = "admin:admin"
	// HarnessMicroversion is what the harness client speaks (2.87 unless the cloud is older).
	HarnessMicroversion = "2.87"
)

// Server metadata keys read by novasim's driver (see novasim/novasim_driver.py).
const (
	MetaRescueDelay   = "novasim_rescue_delay"
	MetaUnrescueDelay = "novasim_unrescue_delay"
	MetaRescueFail    = "novasim_rescue_fail"
	MetaUnrescueFail  = "novasim_unrescue_fail"
)

// Nova is a running Nova for tests, with a client that acts on it out of band.
type Nova struct {
	*NovaProcess
	// Compute is a compute client (microversion HarnessMicroversion or the cloud's max).
	Compute *gophercloud.ServiceClient
	// Image is a Glance v2 client.
	Image *gophercloud.ServiceClient
	// Token is the token the client uses ("admin:admin" with noauth2).
	Token string
}

var (
	novaOnce, oldNovaOnce sync.Once
	sharedNova, oldNova   *Nova
	novaErr, oldNovaErr   error
	bfvVolume             sync.Mutex
)

// StartNovaT starts the shared noauth2 Nova once per test binary and returns it. Its stop is
// registered with AtExit. A machine without Nova fails the test with NovaInstallHint.
func StartNovaT(t testing.TB) *Nova {
	t.Helper()
	tier.NeedsDaemons(t, "a real Nova")
	novaOnce.Do(func() { sharedNova, novaErr = startNoAuthNova(NovaOptions{}) })
	if novaErr != nil {
		t.Fatalf("start Nova: %v", novaErr)
	}
	return sharedNova
}

// OldNovaT starts (once per test binary) a second Nova whose API stops at microversion 2.86,
// an "older cloud" without volume-backed rescue.
func OldNovaT(t testing.TB) *Nova {
	t.Helper()
	tier.NeedsDaemons(t, "a real Nova")
	oldNovaOnce.Do(func() { oldNova, oldNovaErr = startNoAuthNova(NovaOptions{MaxMicroversion: "2.86"}) })
	if oldNovaErr != nil {
		t.Fatalf("start old Nova: %v", oldNovaErr)
	}
	return oldNova
}

func startNoAuthNova(opts NovaOptions) (*Nova, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := StartNova(ctx, opts)
	if err != nil {
		return nil, err
	}
	AtExit(func() { _ = p.Stop() })
	n := NewNoAuthNova(p, NoAuthToken)
	if opts.MaxMicroversion != "" {
		n.Compute.Microversion = opts.MaxMicroversion
	}
	return n, nil
}

// NewNoAuthNova returns a Nova whose clients use a noauth2 token and the process's endpoints.
func NewNoAuthNova(p *NovaProcess, token string) *Nova {
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: 60 * time.Second}}
	pc.SetToken(token)
	return newNova(p, pc, token)
}

func newNova(p *NovaProcess, pc *gophercloud.ProviderClient, token string) *Nova {
	c := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: p.ComputeURL, Type: "compute"}
	c.ResourceBase = c.Endpoint
	c.Microversion = HarnessMicroversion
	i := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: p.ImageURL, Type: "image"}
	i.ResourceBase = i.Endpoint + "v2/"
	return &Nova{NovaProcess: p, Compute: c, Image: i, Token: token}
}

// ProviderConfig returns a provider block for this Nova with noauth2 (token and
// endpoint_overrides, no auth_url).
func (n *Nova) ProviderConfig() string {
	return fmt.Sprintf(`
provider "rescue" {
  openstack {
    token = %q
    endpoint_overrides = {
      compute = %q
      image   = %q
    }
  }
}
`, n.Token, n.ComputeURL, n.ImageURL)
}

// ServerOpts are the knobs of a test server.
type ServerOpts struct {
	// Name defaults to the test name.
	Name string
	// ImageRef defaults to PlainImageID (ignored for a volume-backed server).
	ImageRef string
	// Metadata is set at boot (e.g. MetaRescueDelay: "6").
	Metadata map[string]string
	// AvailabilityZone; BFVRescueAZ lands on host2 (COMPUTE_RESCUE_BFV).
	AvailabilityZone string
	// VolumeBacked boots from ImageBackedVolumeID. Only one such server exists at a time:
	// CreateServer waits for the volume, which is released when the test ends.
	VolumeBacked bool
	// KeepOnCleanup leaves the server when the test ends (it is deleted otherwise).
	KeepOnCleanup bool
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// CreateServer boots a server, waits until it is ACTIVE and deletes it when the test ends.
func (n *Nova) CreateServer(t testing.TB, o ServerOpts) string {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if o.Name == "" {
		o.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	co := servers.CreateOpts{Name: o.Name, FlavorRef: "1", Networks: "none",
		Metadata: o.Metadata, AvailabilityZone: o.AvailabilityZone}
	if o.VolumeBacked {
		bfvVolume.Lock()
		co.BlockDevice = []servers.BlockDevice{{BootIndex: 0, UUID: ImageBackedVolumeID,
			SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume}}
	} else {
		co.ImageRef = o.ImageRef
		if co.ImageRef == "" {
			co.ImageRef = PlainImageID
		}
	}
	s, err := servers.Create(ctx, n.Compute, co, nil).Extract()
	if err != nil {
		if o.VolumeBacked {
			bfvVolume.Unlock()
		}
		t.Fatalf("create server %s: %v", o.Name, err)
	}
	t.Cleanup(func() {
		if !o.KeepOnCleanup {
			n.deleteAndWait(t, s.ID)
		}
		if o.VolumeBacked {
			bfvVolume.Unlock()
		}
	})
	n.WaitStatus(t, s.ID, "ACTIVE")
	return s.ID
}

// CreateServers boots count image-backed servers named o.Name-00, o.Name-01, ... (o.Name
// defaults to the test name) without waiting between them, then waits until all are ACTIVE,
// and deletes them when the test ends. It returns their ids in name order.
func (n *Nova) CreateServers(t testing.TB, count int, o ServerOpts) []string {
	t.Helper()
	if o.Name == "" {
		o.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	if o.ImageRef == "" {
		o.ImageRef = PlainImageID
	}
	ids := make([]string, 0, count)
	t.Cleanup(func() {
		if !o.KeepOnCleanup {
			for _, id := range ids {
				n.deleteAndWait(t, id)
			}
		}
	})
	for i := 0; i < count; i++ {
		ctx, cancel := ctxT()
		s, err := servers.Create(ctx, n.Compute, servers.CreateOpts{Name: fmt.Sprintf("%s-%02d", o.Name, i),
			FlavorRef: "1", Networks: "none", ImageRef: o.ImageRef, Metadata: o.Metadata,
			AvailabilityZone: o.AvailabilityZone}, nil).Extract()
		cancel()
		if err != nil {
			t.Fatalf("create server %d of %d: %v", i+1, count, err)
		}
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		n.WaitStatus(t, id, "ACTIVE")
	}
	return ids
}

// Server reads a server; t fails on any error (a missing server too).
func (n *Nova) Server(t testing.TB, id string) *servers.Server {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	s, err := servers.Get(ctx, n.Compute, id).Extract()
	if err != nil {
		t.Fatalf("get server %s: %v", id, err)
	}
	return s
}

// ServerExists reports whether the server exists (not deleted).
func (n *Nova) ServerExists(t testing.TB, id string) bool {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	_, err := servers.Get(ctx, n.Compute, id).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("get server %s: %v", id, err)
	}
	return true
}

// Status returns the server's status and task state, e.g. "RESCUE" and "".
func (n *Nova) Status(t testing.TB, id string) (status, taskState string) {
	t.Helper()
	s := n.Server(t, id)
	return s.Status, s.TaskState
}

// CheckStatus returns an error unless the server is in status with no task in progress.
func (n *Nova) CheckStatus(id, status string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := servers.Get(ctx, n.Compute, id).Extract()
	if err != nil {
		return fmt.Errorf("get server %s: %w", id, err)
	}
	if s.Status != status || s.TaskState != "" {
		return fmt.Errorf("server %s is %s (task %q), want %s", id, s.Status, s.TaskState, status)
	}
	return nil
}

// WaitStatus waits (up to 2 minutes) until the server has status and no task in progress;
// ERROR when another status is wanted fails at once with the fault.
func (n *Nova) WaitStatus(t testing.TB, id, status string) *servers.Server {
	t.Helper()
	s, err := n.WaitStatusE(id, status, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WaitStatusE is WaitStatus returning an error.
func (n *Nova) WaitStatusE(id, status string, limit time.Duration) (*servers.Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last *servers.Server
	for {
		s, err := servers.Get(ctx, n.Compute, id).Extract()
		if err != nil {
			return last, fmt.Errorf("wait for server %s to be %s: %w", id, status, err)
		}
		last = s
		if s.Status == status && s.TaskState == "" {
			return s, nil
		}
		if s.Status == "ERROR" && status != "ERROR" {
			return s, fmt.Errorf("server %s went to ERROR while waiting for %s: %s", id, status, s.Fault.Message)
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("server %s is %s (task %q) after %v, want %s", id, s.Status, s.TaskState, limit, status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SetMetadata sets (merges) server metadata, e.g. the novasim_* driver knobs.
func (n *Nova) SetMetadata(t testing.TB, id string, md map[string]string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := servers.UpdateMetadata(ctx, n.Compute, id, servers.MetadataOpts(md)).Extract(); err != nil {
		t.Fatalf("set metadata of %s: %v", id, err)
	}
}

// RescueOOB rescues a server out of band (not through Terraform) and waits for RESCUE.
func (n *Nova) RescueOOB(t testing.TB, id, imageID string) string {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	pass, err := servers.Rescue(ctx, n.Compute, id, servers.RescueOpts{RescueImageRef: imageID}).Extract()
	if err != nil {
		t.Fatalf("rescue %s out of band: %v", id, err)
	}
	n.WaitStatus(t, id, "RESCUE")
	return pass
}

// UnrescueOOB unrescues a server out of band and waits for ACTIVE.
func (n *Nova) UnrescueOOB(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := servers.Unrescue(ctx, n.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("unrescue %s out of band: %v", id, err)
	}
	n.WaitStatus(t, id, "ACTIVE")
}

// Pause pauses an ACTIVE server (a state in which Nova refuses a rescue) and waits for PAUSED.
func (n *Nova) Pause(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := servers.Pause(ctx, n.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("pause %s: %v", id, err)
	}
	n.WaitStatus(t, id, "PAUSED")
}

// Suspend suspends an ACTIVE server and waits for SUSPENDED.
func (n *Nova) Suspend(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := servers.Suspend(ctx, n.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("suspend %s: %v", id, err)
	}
	n.WaitStatus(t, id, "SUSPENDED")
}

// Shelve shelves a server and waits for SHELVED_OFFLOADED (Nova offloads at once by default).
func (n *Nova) Shelve(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := servers.Shelve(ctx, n.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("shelve %s: %v", id, err)
	}
	n.WaitStatus(t, id, "SHELVED_OFFLOADED")
}

// Lock locks a server with a reason (microversion 2.73) and unlocks it when the test ends
// (before the server is deleted: a locked server cannot be deleted by a non-admin).
func (n *Nova) Lock(t testing.TB, id, reason string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	body := map[string]any{"lock": map[string]string{"locked_reason": reason}}
	if _, err := n.Compute.Post(ctx, n.Compute.ServiceURL("servers", id, "action"), body, nil,
		&gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		t.Fatalf("lock %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := ctxT()
		defer cancel()
		if err := servers.Unlock(ctx, n.Compute, id).ExtractErr(); err != nil {
			t.Errorf("unlock %s: %v", id, err)
		}
	})
}

// StopServer stops (os-stop) an ACTIVE server and waits for SHUTOFF.
func (n *Nova) StopServer(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := servers.Stop(ctx, n.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("stop %s: %v", id, err)
	}
	n.WaitStatus(t, id, "SHUTOFF")
}

// ResetState sets a server's vm_state (os-resetState, admin): "active" or "error".
func (n *Nova) ResetState(t testing.TB, id, state string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	body := map[string]any{"os-resetState": map[string]string{"state": state}}
	if _, err := n.Compute.Post(ctx, n.Compute.ServiceURL("servers", id, "action"), body, nil,
		&gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		t.Fatalf("reset state of %s to %s: %v", id, state, err)
	}
}

// DeleteServer deletes a server now and waits until it is gone.
func (n *Nova) DeleteServer(t testing.TB, id string) {
	t.Helper()
	n.deleteAndWait(t, id)
}

func (n *Nova) deleteAndWait(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	err := servers.Delete(ctx, n.Compute, id).ExtractErr()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return
	}
	if err != nil {
		t.Errorf("delete server %s: %v", id, err)
		return
	}
	for {
		_, err := servers.Get(ctx, n.Compute, id).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return
		}
		if ctx.Err() != nil {
			t.Errorf("server %s still there after delete: %v", id, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CreateImage creates a Glance image with the given properties (e.g. hw_rescue_device) and
// deletes it when the test ends. It is usable as rescue_image_ref at once.
func (n *Nova) CreateImage(t testing.TB, name string, props map[string]string) string {
	t.Helper()
	return n.CreateImageFormat(t, name, "raw", props)
}

// CreateImageFormat is CreateImage with Glance's disk_format (container_format bare).
func (n *Nova) CreateImageFormat(t testing.TB, name, diskFormat string, props map[string]string) string {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	vis := images.ImageVisibilityPublic
	img, err := images.Create(ctx, n.Image, images.CreateOpts{Name: name, ContainerFormat: "bare",
		DiskFormat: diskFormat, Visibility: &vis, Properties: props}).Extract()
	if err != nil {
		t.Fatalf("create image %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := ctxT()
		defer cancel()
		if err := images.Delete(ctx, n.Image, img.ID).ExtractErr(); err != nil &&
			!gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			t.Errorf("delete image %s: %v", img.ID, err)
		}
	})
	return img.ID
}

// ImageProperties returns the properties of a Glance image.
func (n *Nova) ImageProperties(t testing.TB, id string) map[string]any {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	img, err := images.Get(ctx, n.Image, id).Extract()
	if err != nil {
		t.Fatalf("get image %s: %v", id, err)
	}
	return img.Properties
}

// InstanceActions returns the actions Nova recorded for a server, newest first
// ("rescue", "unrescue", "create"...), to prove what happened or did not.
func (n *Nova) InstanceActions(t testing.TB, id string) []string {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	var body struct {
		InstanceActions []struct {
			Action string `json:"action"`
		} `json:"instanceActions"`
	}
	_, err := n.Compute.Get(ctx, n.Compute.ServiceURL("servers", id, "os-instance-actions"), &body, nil)
	if err != nil {
		t.Fatalf("list actions of %s: %v", id, err)
	}
	out := make([]string, 0, len(body.InstanceActions))
	for _, a := range body.InstanceActions {
		out = append(out, a.Action)
	}
	return out
}

// RescuePasswords returns the rescue passwords the compute host got for a server, oldest
// first (novasim's driver records them in the Nova state directory).
func (n *Nova) RescuePasswords(t testing.TB, id string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Dir, "rescue-passwords"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read the rescue passwords: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if uuid, pass, ok := strings.Cut(line, " "); ok && uuid == id {
			out = append(out, pass)
		}
	}
	return out
}

// CountAction returns how many times action was recorded for a server.
func (n *Nova) CountAction(t testing.TB, id, action string) int {
	t.Helper()
	c := 0
	for _, a := range n.InstanceActions(t, id) {
		if a == action {
			c++
		}
	}
	return c
}
