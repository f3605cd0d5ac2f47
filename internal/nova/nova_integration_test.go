package nova_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunMain(m)) }

// osVars are cleared by clearOSEnv so that the developer's own cloud settings cannot leak
// into a test.
var osVars = []string{
	"OS_CLOUD", "OS_AUTH_URL", "OS_REGION_NAME", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD",
	"OS_TENANT_NAME", "OS_PROJECT_NAME", "OS_TENANT_ID", "OS_PROJECT_ID", "OS_USER_DOMAIN_NAME",
	"OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_NAME",
	"OS_DOMAIN_ID", "OS_DEFAULT_DOMAIN", "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME",
	"OS_APPLICATION_CREDENTIAL_SECRET", "OS_TOKEN", "OS_AUTH_TOKEN", "OS_INSECURE", "OS_CACERT",
	"OS_CERT", "OS_KEY", "OS_ENDPOINT_TYPE", "OS_INTERFACE", "OS_MAX_RETRIES", "OS_ALLOW_REAUTH",
	"OS_CLIENT_CONFIG_FILE",
}

func clearOSEnv(t *testing.T) {
	t.Helper()
	for _, v := range osVars {
		t.Setenv(v, "")
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// backendFor connects to a noauth2 Nova of the harness: token plus endpoint_overrides, no
// Keystone.
func backendFor(t *testing.T, n *acctest.Nova, computeURL string) *nova.Backend {
	t.Helper()
	if computeURL == "" {
		computeURL = n.ComputeURL
	}
	b, err := nova.New(ctx(t), nova.Config{
		Token:             n.Token,
		EndpointOverrides: map[string]string{"compute": computeURL, "image": n.ImageURL},
	})
	if err != nil {
		t.Fatalf("nova.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func wantInvalid(t *testing.T, err error, attr string, contains ...string) {
	t.Helper()
	var inv *rescue.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("got %v (%T), want *rescue.InvalidError for %s", err, err, attr)
	}
	if inv.Attribute != attr {
		t.Fatalf("attribute %q, want %q (%v)", inv.Attribute, attr, err)
	}
	for _, c := range contains {
		if !strings.Contains(inv.Msg, c) {
			t.Fatalf("message %q does not contain %q", inv.Msg, c)
		}
	}
}

func TestIntegrationValidate(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	c := ctx(t)
	plain := n.CreateServer(t, acctest.ServerOpts{})

	_, err := b.Validate(c, rescue.Request{InstanceID: "web-1"})
	wantInvalid(t, err, "instance_id", "web-1")
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: "not-a-uuid"})
	wantInvalid(t, err, "image_id", "not-a-uuid")
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, ShutdownTimeout: time.Minute})
	wantInvalid(t, err, "shutdown_timeout", "shutdown_timeout", "os_shutdown_timeout")
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, Device: "tape"})
	wantInvalid(t, err, "device", "tape")
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, Bus: "pci"})
	wantInvalid(t, err, "bus", "pci")

	missing := "00000000-0000-4000-8000-000000000000"
	_, err = b.Validate(c, rescue.Request{InstanceID: missing})
	var nf *rescue.NotFoundError
	if !errors.As(err, &nf) || nf.What != "instance" || !strings.Contains(nf.Msg, "could not be found") {
		t.Fatalf("missing server: %v", err)
	}
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: missing})
	if !errors.As(err, &nf) || nf.What != "image" || nf.ID != missing {
		t.Fatalf("missing image: %v", err)
	}

	// The server's own image has no hw_rescue_*: legacy.
	plan, err := b.Validate(c, rescue.Request{InstanceID: plain})
	if err != nil || plan.Mode != rescue.ModeLegacy || plan.Device != "" || plan.Bus != "" {
		t.Fatalf("own image: %+v, %v", plan, err)
	}
	// The rescue image's properties are read when device/bus are omitted.
	plan, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: acctest.RescueImageID})
	if err != nil || plan.Mode != rescue.ModeStable || plan.Device != "cdrom" || plan.Bus != "scsi" {
		t.Fatalf("rescue image: %+v, %v", plan, err)
	}
	// Given values that match are fine.
	plan, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: acctest.RescueImageID, Device: "cdrom", Bus: "scsi"})
	if err != nil || plan.Device != "cdrom" || plan.Bus != "scsi" {
		t.Fatalf("matching device/bus: %+v, %v", plan, err)
	}
	// Mismatch and missing properties name the fix.
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: acctest.RescueImageID, Device: "disk"})
	wantInvalid(t, err, "device", "hw_rescue_device=cdrom",
		"openstack image set --property hw_rescue_device=disk "+acctest.RescueImageID)
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: acctest.RescueImageID, Bus: "virtio"})
	wantInvalid(t, err, "bus", "openstack image set --property hw_rescue_bus=virtio "+acctest.RescueImageID)
	_, err = b.Validate(c, rescue.Request{InstanceID: plain, Bus: "usb"})
	wantInvalid(t, err, "bus", "no hw_rescue_bus", "openstack image set --property hw_rescue_bus=usb "+acctest.PlainImageID)

	// A fresh image with only one property.
	img := n.CreateImage(t, "validate-disk-only", map[string]string{"hw_rescue_device": "disk"})
	plan, err = b.Validate(c, rescue.Request{InstanceID: plain, ImageID: img})
	if err != nil || plan.Mode != rescue.ModeStable || plan.Device != "disk" || plan.Bus != "" {
		t.Fatalf("disk-only image: %+v, %v", plan, err)
	}

	// Unknown at plan time: validate the rest.
	plan, err = b.Validate(c, rescue.Request{ImageID: acctest.RescueImageID})
	if err != nil || plan.Device != "cdrom" || plan.Mode != rescue.ModeStable {
		t.Fatalf("instance unknown: %+v, %v", plan, err)
	}
	plan, err = b.Validate(c, rescue.Request{Device: "cdrom"})
	if err != nil || plan.Mode != "" || plan.Device != "cdrom" || len(plan.Warnings) != 0 {
		t.Fatalf("all unknown: %+v, %v", plan, err)
	}
	_, err = b.Validate(c, rescue.Request{ImageID: acctest.RescueImageID, Device: "floppy"})
	wantInvalid(t, err, "device", "hw_rescue_device=cdrom")

	use, highest, err := b.Microversion(c)
	if err != nil || use != "2.87" || highest == "" {
		t.Fatalf("microversion %q (max %q): %v", use, highest, err)
	}
}

func TestIntegrationRescueUnrescue(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	e := rescue.NewEngine(b)
	c := ctx(t)
	// A 1 s driver delay: the engine sees rescuing/unrescuing before the end state.
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{
		acctest.MetaRescueDelay: "1", acctest.MetaUnrescueDelay: "1"}})

	res, inst, err := e.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID, AdminPass: "MyRescuePass1"})
	if err != nil {
		t.Fatalf("rescue: %v", err)
	}
	if res.AdminPass != "MyRescuePass1" || inst.State != rescue.StateRescued || inst.Status != "RESCUE" {
		t.Fatalf("rescue result %q, instance %+v", res.AdminPass, inst)
	}
	if err := n.CheckStatus(id, "RESCUE"); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(c, id)
	if err != nil || got.State != rescue.StateRescued || got.ID != id || got.Name == "" {
		t.Fatalf("get: %+v, %v", got, err)
	}
	// Rescue of a server already in rescue: the engine refuses before any POST.
	_, _, err = e.Rescue(c, rescue.Request{InstanceID: id})
	var already *rescue.AlreadyRescuedError
	if !errors.As(err, &already) {
		t.Fatalf("second rescue: %v", err)
	}
	out, inst, err := e.Unrescue(c, id)
	if err != nil || out != rescue.Unrescued || inst.State != rescue.StateActive {
		t.Fatalf("unrescue: %v %+v %v", out, inst, err)
	}
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	out, _, err = e.Unrescue(c, id)
	if err != nil || out != rescue.AlreadyUnrescued {
		t.Fatalf("second unrescue: %v %v", out, err)
	}

	// Without admin_pass we generate one and Nova uses it.
	res, _, err = e.Rescue(c, rescue.Request{InstanceID: id})
	if err != nil {
		t.Fatalf("rescue without password: %v", err)
	}
	if len(res.AdminPass) != nova.PasswordLength {
		t.Fatalf("generated password has %d characters, want %d", len(res.AdminPass), nova.PasswordLength)
	}
	if _, _, err := e.Unrescue(c, id); err != nil {
		t.Fatalf("unrescue: %v", err)
	}
	if got := n.CountAction(t, id, "rescue"); got != 2 {
		t.Fatalf("Nova recorded %d rescues, want 2", got)
	}

	// A SHUTOFF server can be rescued too.
	n.StopServer(t, id)
	if _, inst, err = e.Rescue(c, rescue.Request{InstanceID: id}); err != nil || inst.State != rescue.StateRescued {
		t.Fatalf("rescue of SHUTOFF: %+v %v", inst, err)
	}
	if _, _, err := e.Unrescue(c, id); err != nil {
		t.Fatalf("unrescue: %v", err)
	}
}

func TestIntegrationNovaMessagesVerbatim(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	c := ctx(t)
	id := n.CreateServer(t, acctest.ServerOpts{})

	// 409: unrescue of an ACTIVE server.
	err := b.Unrescue(c, id)
	var conflict *rescue.ConflictError
	want := "Cannot 'unrescue' instance " + id + " while it is in vm_state active"
	if !errors.As(err, &conflict) || conflict.Msg != want {
		t.Fatalf("unrescue of ACTIVE: %v, want conflict %q", err, want)
	}
	// A PAUSED server, which Nova would refuse with a 409, is refused before the POST (at plan
	// and at apply), naming the state and the fix.
	n.Pause(t, id)
	_, err = b.Validate(c, rescue.Request{InstanceID: id})
	wantInvalid(t, err, "instance_id", "is PAUSED", "openstack server unpause "+id)
	_, err = b.Rescue(c, rescue.Request{InstanceID: id})
	wantInvalid(t, err, "instance_id", "is PAUSED")
	if got := n.CountAction(t, id, "rescue"); got != 0 {
		t.Fatalf("Nova recorded %d rescues", got)
	}

	// A cdrom rescue image whose Glance disk_format says it is a disk image (qcow2) is refused
	// before the POST, on image_id.
	active := n.CreateServer(t, acctest.ServerOpts{Name: t.Name() + "-formats"})
	qcow := n.CreateImageFormat(t, t.Name()+"-qcow2-cdrom", "qcow2", map[string]string{"hw_rescue_device": "cdrom", "hw_rescue_bus": "scsi"})
	_, err = b.Validate(c, rescue.Request{InstanceID: active, ImageID: qcow})
	wantInvalid(t, err, "image_id", "disk_format qcow2", "hw_rescue_device=cdrom")
	_, err = b.Rescue(c, rescue.Request{InstanceID: active, ImageID: qcow})
	wantInvalid(t, err, "image_id", "disk_format qcow2")
	if got := n.CountAction(t, active, "rescue"); got != 0 {
		t.Fatalf("Nova recorded %d rescues", got)
	}

	// 404 with Nova's message.
	missing := "00000000-0000-4000-8000-000000000001"
	for name, err := range map[string]error{
		"get":      func() error { _, err := b.Get(c, missing); return err }(),
		"unrescue": b.Unrescue(c, missing),
		"rescue":   func() error { _, err := b.Rescue(c, rescue.Request{InstanceID: missing}); return err }(),
	} {
		var nf *rescue.NotFoundError
		if !errors.As(err, &nf) || nf.Msg != "Instance "+missing+" could not be found." {
			t.Fatalf("%s of a missing server: %v", name, err)
		}
	}
	// The engine treats a missing server as gone on unrescue.
	if out, _, err := rescue.NewEngine(b).Unrescue(c, missing); err != nil || out != rescue.Gone {
		t.Fatalf("engine unrescue of missing: %v %v", out, err)
	}
}

func TestIntegrationDriverFailure(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	c := ctx(t)
	id := n.CreateServer(t, acctest.ServerOpts{Metadata: map[string]string{acctest.MetaRescueFail: "1"}})
	_, inst, err := rescue.NewEngine(b).Rescue(c, rescue.Request{InstanceID: id})
	var failed *rescue.FailedError
	if !errors.As(err, &failed) {
		t.Fatalf("rescue with a failing driver: %v", err)
	}
	if !rescue.Accepted(err) {
		t.Fatalf("the failure came after Nova accepted the rescue: %v", err)
	}
	if !strings.Contains(failed.Reason, "Instance "+id+" cannot be rescued") || !strings.Contains(failed.Reason, "code 400") {
		t.Fatalf("reason %q lacks Nova's fault", failed.Reason)
	}
	if inst == nil || inst.State != rescue.StateError || !strings.HasPrefix(inst.Status, "ERROR") {
		t.Fatalf("instance %+v", inst)
	}
	// Nova refuses unrescue of an ERROR server with a message we pass on.
	err = b.Unrescue(c, id)
	var conflict *rescue.ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(conflict.Msg, "vm_state error") {
		t.Fatalf("unrescue of ERROR: %v", err)
	}
}

func TestIntegrationVolumeBacked(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	e := rescue.NewEngine(b)

	t.Run("host with COMPUTE_RESCUE_BFV", func(t *testing.T) {
		c := ctx(t)
		id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
		plan, err := b.Validate(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID})
		if err != nil || plan.Device != "cdrom" || plan.Bus != "scsi" {
			t.Fatalf("validate: %+v %v", plan, err)
		}
		// Without image_id nothing is read from Glance (the server has no image).
		plan, err = b.Validate(c, rescue.Request{InstanceID: id})
		if err != nil || plan.Device != "" || len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "volume-backed") {
			t.Fatalf("validate without image: %+v %v", plan, err)
		}
		// An image without hw_rescue_*: Nova's reason, verbatim.
		_, err = b.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.PlainImageID})
		var un *rescue.UnsupportedError
		if !errors.As(err, &un) || un.Msg != "Instance "+id+" cannot be rescued: Cannot rescue a volume-backed instance" {
			t.Fatalf("BFV rescue with a plain image: %v", err)
		}
		_, inst, err := e.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID})
		if err != nil || inst.State != rescue.StateRescued {
			t.Fatalf("BFV rescue at 2.87: %+v %v", inst, err)
		}
		if _, _, err := e.Unrescue(c, id); err != nil {
			t.Fatalf("unrescue: %v", err)
		}
	})
	t.Run("host without the trait", func(t *testing.T) {
		c := ctx(t)
		id := n.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: "nova"})
		_, err := b.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID})
		var un *rescue.UnsupportedError
		if !errors.As(err, &un) || un.Msg != "Instance "+id+" cannot be rescued: Host unable to rescue a volume-backed instance" {
			t.Fatalf("BFV rescue on host1: %v", err)
		}
	})
	t.Run("older cloud", func(t *testing.T) {
		old := acctest.OldNovaT(t)
		ob := backendFor(t, old, "")
		c := ctx(t)
		use, highest, err := ob.Microversion(c)
		if err != nil || use != "2.1" || highest != "2.86" {
			t.Fatalf("older cloud microversion %q max %q: %v", use, highest, err)
		}
		id := old.CreateServer(t, acctest.ServerOpts{VolumeBacked: true, AvailabilityZone: acctest.BFVRescueAZ})
		_, err = ob.Validate(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID})
		var un *rescue.UnsupportedError
		if !errors.As(err, &un) || !strings.Contains(un.Msg, "2.87") || !strings.Contains(un.Msg, "2.86") {
			t.Fatalf("BFV on an older cloud: %v", err)
		}
		_, err = ob.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID})
		if !errors.As(err, &un) {
			t.Fatalf("BFV rescue on an older cloud: %v", err)
		}
		if got := old.CountAction(t, id, "rescue"); got != 0 {
			t.Fatalf("Nova recorded %d rescues", got)
		}
		// Image-backed servers still work at 2.1.
		plain := old.CreateServer(t, acctest.ServerOpts{})
		if _, inst, err := rescue.NewEngine(ob).Rescue(c, rescue.Request{InstanceID: plain}); err != nil || inst.State != rescue.StateRescued {
			t.Fatalf("rescue at 2.1: %+v %v", inst, err)
		}
	})
}

// dropProxy puts a fault proxy before Nova's compute API whose first rescue POST either
// reaches Nova and then has its connection reset (forward=true: Nova acted, the client never
// hears) or is reset at once (forward=false: Nova never saw it). It returns the compute URL
// through the proxy and the proxy (to count the POSTs).
func dropProxy(t *testing.T, n *acctest.Nova, forward bool) (computeURL string, p *faultproxy.HTTP) {
	t.Helper()
	p = n.ComputeProxy(t)
	if forward {
		p.ResetAfterForward(acctest.ServerAction("rescue", ""), 1)
	} else {
		p.Drop(acctest.ServerAction("rescue", ""), 1)
	}
	return p.URLFor(n.ComputeURL), p
}

// rescuePOSTs is how many rescue POSTs the proxy received.
func rescuePOSTs(p *faultproxy.HTTP) int { return p.Count(acctest.ServerAction("rescue", "")) }

func TestIntegrationLostRescueResponse(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	c := ctx(t)

	t.Run("accepted, answer lost", func(t *testing.T) {
		proxyURL, p := dropProxy(t, n, true)
		b := backendFor(t, n, proxyURL)
		id := n.CreateServer(t, acctest.ServerOpts{})
		res, inst, err := rescue.NewEngine(b).Rescue(c, rescue.Request{InstanceID: id})
		if err != nil {
			t.Fatalf("rescue whose answer was lost: %v", err)
		}
		if len(res.AdminPass) != nova.PasswordLength || inst.State != rescue.StateRescued {
			t.Fatalf("result %d chars, instance %+v", len(res.AdminPass), inst)
		}
		if rescuePOSTs(p) != 1 || n.CountAction(t, id, "rescue") != 1 {
			t.Fatalf("%d POSTs, %d rescues in Nova; want 1 and 1 (never repeated)", rescuePOSTs(p), n.CountAction(t, id, "rescue"))
		}
	})
	t.Run("never reached Nova", func(t *testing.T) {
		proxyURL, p := dropProxy(t, n, false)
		b := backendFor(t, n, proxyURL)
		id := n.CreateServer(t, acctest.ServerOpts{})
		// Without an answer we cannot know that Nova did not act: the server is watched
		// (here for the 5 s left of the context), then the rescue is reported as possibly
		// under way, with its password, so that the caller keeps track of it.
		short, cancel := context.WithTimeout(c, 5*time.Second)
		defer cancel()
		res, err := b.Rescue(short, rescue.Request{InstanceID: id})
		if !rescue.Accepted(err) || len(res.AdminPass) != nova.PasswordLength {
			t.Fatalf("rescue that never reached Nova: %v, want ErrAccepted with the password", err)
		}
		if !strings.Contains(err.Error(), "still ACTIVE") || strings.Contains(err.Error(), res.AdminPass) {
			t.Fatalf("message %q", err)
		}
		if rescuePOSTs(p) != 1 || n.CountAction(t, id, "rescue") != 0 {
			t.Fatalf("%d POSTs, %d rescues in Nova; want 1 and 0", rescuePOSTs(p), n.CountAction(t, id, "rescue"))
		}
		if err := n.CheckStatus(id, "ACTIVE"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIntegrationConcurrent(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	e := rescue.NewEngine(b)
	c := ctx(t)
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = n.CreateServer(t, acctest.ServerOpts{Name: "concurrent-" + string(rune('a'+i))})
	}
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			if _, _, err := e.Rescue(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID}); err != nil {
				errs <- err
				return
			}
			_, _, err := e.Unrescue(c, id)
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, id := range ids {
		if err := n.CheckStatus(id, "ACTIVE"); err != nil {
			t.Error(err)
		}
	}
}

// TestIntegrationOwnImageGone: a server whose image was deleted from Glance. Without
// image_id, Nova's compute host cannot find the image and reverts the rescue, so Validate
// (and Rescue, before any POST) refuses it on image_id; with image_id it is fine.
func TestIntegrationOwnImageGone(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	c := ctx(t)
	img := n.CreateImage(t, "own-image-gone", nil)
	id := n.CreateServer(t, acctest.ServerOpts{ImageRef: img})
	if err := images.Delete(c, n.Image, img).ExtractErr(); err != nil {
		t.Fatalf("delete image %s: %v", img, err)
	}

	_, err := b.Validate(c, rescue.Request{InstanceID: id})
	wantInvalid(t, err, "image_id", img, "no longer in Glance", "set image_id")
	_, err = b.Validate(c, rescue.Request{InstanceID: id, Device: "cdrom"})
	wantInvalid(t, err, "image_id", img)
	_, err = b.Rescue(c, rescue.Request{InstanceID: id})
	wantInvalid(t, err, "image_id", img)
	if got := n.CountAction(t, id, "rescue"); got != 0 {
		t.Fatalf("Nova recorded %d rescues", got)
	}
	if plan, err := b.Validate(c, rescue.Request{InstanceID: id, ImageID: acctest.RescueImageID}); err != nil || plan.Device != "cdrom" {
		t.Fatalf("with image_id: %+v %v", plan, err)
	}

	// Rescued out of band anyway: Nova accepts, its compute host reverts the rescue, and the
	// server is ACTIVE again without a fault. The reason is in the instance action's events.
	if why, err := b.LastActionError(c, id, "rescue"); err != nil || why != "" {
		t.Fatalf("no rescue yet: %q %v", why, err)
	}
	if _, err := servers.Rescue(c, n.Compute, id, servers.RescueOpts{}).Extract(); err != nil {
		t.Fatalf("rescue out of band: %v", err)
	}
	s := n.WaitStatus(t, id, "ACTIVE")
	if s.Fault.Message != "" {
		t.Fatalf("reverted rescue with a fault: %+v", s.Fault)
	}
	why, err := b.LastActionError(c, id, "rescue")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reason: %s", why)
	for _, want := range []string{"Nova's rescue", "req-", "compute_rescue_instance", "Image " + img + " could not be found"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q lacks %q", why, want)
		}
	}
	if why, err := b.LastActionError(c, id, "unrescue"); err != nil || why != "" {
		t.Fatalf("no unrescue: %q %v", why, err)
	}
	// Get shows no more than ACTIVE without a fault: the engine asks LastActionError why.
	inst, err := b.Get(c, id)
	if err != nil || inst.State != rescue.StateActive {
		t.Fatalf("after the revert: %+v %v", inst, err)
	}

	// A rescue that worked has no reason.
	plain := n.CreateServer(t, acctest.ServerOpts{})
	n.RescueOOB(t, plain, "")
	if why, err := b.LastActionError(c, plain, "rescue"); err != nil || why != "" {
		t.Fatalf("successful rescue: %q %v", why, err)
	}
	missing := "00000000-0000-4000-8000-000000000002"
	if _, err := b.LastActionError(c, missing, "rescue"); !rescue.IsNotFound(err) {
		t.Fatalf("missing server: %v", err)
	}
}
