package provider_test

// The actions at the plugin-protocol level against the real backends (acceptance tier): Nova's
// own code and a private libvirtd with a QEMU guest. The provider is configured as Terraform
// configures it, then each action is validated, planned and invoked; the instance's real state
// and the progress events are checked.

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"github.com/hashicorp/terraform-plugin-log/tfsdklogtest"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
)

// configuredServer is the provider (as main serves it) configured with one backend block whose
// attributes are attrs, and its two actions.
func configuredServer(t *testing.T, block string, attrs map[string]tftypes.Value) (rescueA, unrescueA actionCall) {
	t.Helper()
	ctx := context.Background()
	srv, err := provider.NewServer(provider.New("test"))()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatalf("GetProviderSchema: %v %v", err, schemas.Diagnostics)
	}
	pt := schemas.Provider.ValueType().(tftypes.Object)
	bt := pt.AttributeTypes[block].(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for name, at := range bt.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
		if v, ok := attrs[name]; ok {
			vals[name] = v
		}
	}
	cfg := dynamic(t, pt, map[string]tftypes.Value{block: tftypes.NewValue(bt, vals)})
	resp, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &cfg})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("ConfigureProvider: %v %s", err, diagText(resp.Diagnostics))
	}
	return actionOf(t, srv, schemas, "rescue_rescue"), actionOf(t, srv, schemas, "rescue_unrescue")
}

// runAction validates, plans and invokes a with cfg; every step must pass. It returns the
// progress messages.
func runAction(t *testing.T, a actionCall, cfg map[string]any) []string {
	t.Helper()
	if d := a.validate(t, cfg); hasError(d) {
		t.Fatalf("%s: ValidateActionConfig: %s", a.name, diagText(d))
	}
	if d := a.plan(t, cfg); hasError(d) {
		t.Fatalf("%s: PlanAction: %s", a.name, diagText(d))
	}
	msgs, d := a.invoke(t, cfg)
	if hasError(d) {
		t.Fatalf("%s: InvokeAction: %s\nprogress: %q", a.name, diagText(d), msgs)
	}
	t.Logf("%s progress: %q", a.name, msgs)
	return msgs
}

// On Nova: plan without a password fails on admin_pass_wo; rescue with one puts the server in
// RESCUE with that password (what the compute host got), a second rescue is refused (the first
// is handed over, not taken for a lost one), unrescue brings it back to ACTIVE; the
// TRACE log of the provider and the framework never holds the password.
func TestProtoNova_actions(t *testing.T) {
	n := acctest.StartNovaT(t)
	id := n.CreateServer(t, acctest.ServerOpts{})
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	rs, un := configuredServer(t, "openstack", map[string]tftypes.Value{
		"token": str(n.Token),
		"endpoint_overrides": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{
			"compute": str(n.ComputeURL), "image": str(n.ImageURL),
		}),
	})
	errorOn(t, rs.plan(t, map[string]any{"instance_id": id}), "Rescue password required", "admin_pass_wo")
	errorOn(t, rs.plan(t, map[string]any{"instance_id": id, "admin_pass_wo": "x", "shutdown_timeout": "30s"}), "", "shutdown_timeout")

	const pass = "Nova-Action-Pass-2718"
	logs := &lockedBuffer{}
	ctx := tflogtest.RootLogger(tfsdklogtest.RootLogger(context.Background(), logs), logs)
	rs.ctx, un.ctx = ctx, ctx
	msgs := runAction(t, rs, map[string]any{"instance_id": id, "admin_pass_wo": pass, "image_id": acctest.PlainImageID})
	inOrder(t, msgs, "rescuing "+id, "waiting for the rescue of "+id, id+" is RESCUE", "in rescue: "+id+" is RESCUE")
	if err := n.CheckStatus(id, "RESCUE"); err != nil {
		t.Fatal(err)
	}
	if got := n.RescuePasswords(t, id); len(got) != 1 || got[0] != pass {
		t.Fatalf("the compute host got the passwords %q", got)
	}
	// The action's rescue is handed over, not taken for one a dead run lost (which a later run
	// would replace): its operation record is gone, and a second rescue is refused unchanged.
	if _, err := os.Stat(oprecord.Open(os.Getenv(oprecord.EnvDir)).Path(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the rescue's operation record is kept (%v): a later run would take the rescue for a lost one", err)
	}
	_, d := rs.invoke(t, map[string]any{"instance_id": id, "admin_pass_wo": pass})
	errorOn(t, d, "Instance already in rescue", "instance_id")
	if r := n.CountAction(t, id, "rescue"); r != 1 {
		t.Fatalf("Nova recorded %d rescues: %v", r, n.InstanceActions(t, id))
	}
	msgs = runAction(t, un, map[string]any{"instance_id": id})
	inOrder(t, msgs, "unrescuing "+id, "waiting for the unrescue of "+id, "unrescued: "+id+" is ACTIVE")
	if err := n.CheckStatus(id, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "rescuing instance (action)") || strings.Contains(out, pass) {
		t.Fatalf("the TRACE log (%d bytes) lacks the provider's lines or holds the password", len(out))
	}
}

// On libvirt: a QEMU guest is rescued by the action (it boots the rescue image, the base image
// behind its root disk) and unrescued (it boots its own root disk again, with its original
// definition), with the steps of the rescue as progress, in order.
func TestProtoLibvirt_actions(t *testing.T) {
	lv, s := lvQEMU(t)
	const name = "proto-action"
	w := qemuGuestT(t, lv, name, libvirtd.GuestOptions{Backing: true, MemoryMiB: 32})
	orig := s.mustXML(t, name)
	rs, un := configuredServer(t, "libvirt", map[string]tftypes.Value{"uri": tftypes.NewValue(tftypes.String, lv.QEMUURI)})

	w.mark()
	msgs := runAction(t, rs, map[string]any{"instance_id": name, "shutdown_timeout": "20s"})
	inOrder(t, msgs, "rescuing "+name+" (legacy mode)", "rescue definition in place; shutting down "+name,
		"shut off; starting the rescue definition", "booted rescue", "in rescue: "+name)
	if err := w.next(libvirtd.BootBase); err != nil {
		t.Fatal(err)
	}
	if err := checkRescued(s, name, orig, rescueExpect{rootTarget: "vda"}); err != nil {
		t.Fatal(err)
	}
	_, d := rs.invoke(t, map[string]any{"instance_id": name})
	errorOn(t, d, "Instance already in rescue", "instance_id")
	msgs = runAction(t, un, map[string]any{"instance_id": name})
	inOrder(t, msgs, "unrescuing "+name, "shutting down the rescue guest of "+name, "original definition restored",
		"started from its own disks", "unrescued: "+name)
	if err := w.next(libvirtd.BootRoot); err != nil {
		t.Fatal(err)
	}
	if err := checkRestored(s, name, orig); err != nil {
		t.Fatal(err)
	}
}
