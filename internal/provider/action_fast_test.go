package provider_test

// The actions' logic at the plugin-protocol level against the fake backend (fast tier): the
// schema, validation, plan-time errors, progress, and the error paths (no password where the
// backend makes one, an instance that does not exist, another run's lease, a rescue found).

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"github.com/hashicorp/terraform-plugin-log/tfsdklogtest"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// fakeActions is the provider over f with its two actions.
func fakeActions(t *testing.T, f *rescuetest.Fake) (rescueA, unrescueA actionCall) {
	t.Helper()
	srv, schemas := protoServer(t, f)
	return actionOf(t, srv, schemas, "rescue_rescue"), actionOf(t, srv, schemas, "rescue_unrescue")
}

// errorOn fails unless ds has an error whose summary holds summary, on attribute attr ("" for
// none expected), and returns its text.
func errorOn(t *testing.T, ds []*tfprotov6.Diagnostic, summary, attr string) string {
	t.Helper()
	for _, d := range ds {
		if d.Severity != tfprotov6.DiagnosticSeverityError || !strings.Contains(d.Summary, summary) {
			continue
		}
		if attr != "" && (d.Attribute == nil || !strings.Contains(d.Attribute.String(), attr)) {
			t.Fatalf("error %q is not on %s: %s", d.Summary, attr, diagText(ds))
		}
		return d.Summary + ": " + d.Detail
	}
	t.Fatalf("no error %q; got:\n%s", summary, diagText(ds))
	return ""
}

func TestProto_actionSchemas(t *testing.T) {
	srv, schemas := protoServer(t, rescuetest.New())
	_ = srv
	for name, want := range map[string][]string{
		"rescue_rescue":   {"instance_id", "image_id", "device", "bus", "admin_pass_wo", "shutdown_timeout", "timeout"},
		"rescue_unrescue": {"instance_id", "wait_for_lease", "timeout"},
	} {
		s := schemas.ActionSchemas[name]
		if s == nil {
			t.Fatalf("no action %s in GetProviderSchema (%v)", name, keys(schemas.ActionSchemas))
		}
		got := map[string]*tfprotov6.SchemaAttribute{}
		for _, a := range s.Schema.Block.Attributes {
			got[a.Name] = a
		}
		for _, n := range want {
			if got[n] == nil {
				t.Errorf("%s has no attribute %s", name, n)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s has attributes %v, want %v", name, keys(got), want)
		}
	}
	if a := schemas.ActionSchemas["rescue_rescue"].Schema.Block.Attributes; !writeOnly(a, "admin_pass_wo") {
		t.Fatal("admin_pass_wo is not write-only")
	}
}

func writeOnly(attrs []*tfprotov6.SchemaAttribute, name string) bool {
	for _, a := range attrs {
		if a.Name == name {
			return a.WriteOnly
		}
	}
	return false
}

// A rescue and an unrescue through the protocol: validated, planned, invoked with progress in
// order; the write-only password reaches the backend, and no TRACE log line holds it.
func TestProto_actionsFlowFake(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	rs, un := fakeActions(t, f)
	const pass = "Wo-Action-Secret-4711"
	logs := &lockedBuffer{}
	ctx := tfsdklogtest.RootLogger(context.Background(), logs)
	ctx = tflogtest.RootLogger(ctx, logs)
	rs.ctx, un.ctx = ctx, ctx
	cfg := map[string]any{"instance_id": "web", "admin_pass_wo": pass, "device": "disk", "bus": "virtio"}
	if d := rs.validate(t, cfg); hasError(d) {
		t.Fatalf("ValidateActionConfig: %s", diagText(d))
	}
	if d := rs.plan(t, cfg); hasError(d) {
		t.Fatalf("PlanAction: %s", diagText(d))
	}
	if len(f.Calls()) != 0 {
		t.Fatalf("validate or plan changed something: %v", f.Calls())
	}
	msgs, d := rs.invoke(t, cfg)
	if hasError(d) {
		t.Fatalf("InvokeAction: %s", diagText(d))
	}
	inOrder(t, msgs, "rescuing web (stable-device mode: disk on virtio)", "waiting for the rescue of web", "web is rescuing", "in rescue: web is rescued")
	if got := f.LastRescue(); f.State("web") != rescue.StateRescued || got.AdminPass != pass || got.Device != "disk" {
		t.Fatalf("state %s, request %+v", f.State("web"), got)
	}
	msgs, d = un.invoke(t, map[string]any{"instance_id": "web"})
	if hasError(d) {
		t.Fatalf("unrescue: %s", diagText(d))
	}
	inOrder(t, msgs, "unrescuing web", "waiting for the unrescue of web", "web is unrescuing", "unrescued: web is active")
	if f.State("web") != rescue.StateActive {
		t.Fatalf("state %s after the unrescue", f.State("web"))
	}
	out := logs.String()
	if !strings.Contains(out, "rescuing instance (action)") || !strings.Contains(out, "Calling provider defined Action Invoke") {
		t.Fatalf("the TRACE log lacks the provider's or the framework's lines (%d bytes)", len(out))
	}
	if strings.Contains(out, pass) {
		t.Fatal("the TRACE log holds the write-only password")
	}
	// Unrescuing again: nothing to do, a warning.
	_, d = un.invoke(t, map[string]any{"instance_id": "web"})
	if hasError(d) || !strings.Contains(diagText(d), "was not in rescue") {
		t.Fatalf("second unrescue: %s", diagText(d))
	}
}

// Where the backend makes a password (Nova, the fake), an action without admin_pass_wo fails at
// plan on that attribute, and its invocation changes nothing. A password whose value is not
// known yet (ephemeral, from another resource) is fine at plan; an empty one is refused.
func TestProto_actionPasswordRequired(t *testing.T) {
	f := rescuetest.New("web")
	rs, _ := fakeActions(t, f)
	errorOn(t, rs.plan(t, map[string]any{"instance_id": "web"}), "Rescue password required", "admin_pass_wo")
	if d := rs.plan(t, map[string]any{"instance_id": "web", "admin_pass_wo": nil}); hasError(d) {
		t.Fatalf("plan with an unknown password: %s", diagText(d))
	}
	_, d := rs.invoke(t, map[string]any{"instance_id": "web"})
	errorOn(t, d, "Rescue password required", "admin_pass_wo")
	errorOn(t, rs.plan(t, map[string]any{"instance_id": "web", "admin_pass_wo": ""}), "Empty rescue password", "admin_pass_wo")
	_, d = rs.invoke(t, map[string]any{"instance_id": "web", "admin_pass_wo": ""})
	errorOn(t, d, "Empty rescue password", "admin_pass_wo")
	if len(f.Calls()) != 0 || f.State("web") != rescue.StateActive {
		t.Fatalf("the invocation changed something: %v", f.Calls())
	}
}

func TestProto_actionValidation(t *testing.T) {
	f := rescuetest.New("web")
	f.OnValidate = func(req rescue.Request) error {
		if req.ImageID == "no-boot" {
			return &rescue.InvalidError{Attribute: "image_id", Msg: "the image cannot boot"}
		}
		return nil
	}
	rs, _ := fakeActions(t, f)
	errorOn(t, rs.validate(t, map[string]any{"instance_id": "web", "device": "cdrom", "bus": "virtio"}), "Device and bus do not fit", "bus")
	errorOn(t, rs.validate(t, map[string]any{"instance_id": "web", "device": "tape"}), "Invalid Attribute Value", "device")
	errorOn(t, rs.validate(t, map[string]any{"instance_id": "web", "timeout": "0s"}), "Invalid duration", "timeout")
	errorOn(t, rs.plan(t, map[string]any{"instance_id": "web", "admin_pass_wo": "p", "image_id": "no-boot"}), "Invalid rescue", "image_id")
	if len(f.Calls()) != 0 {
		t.Fatalf("validation changed something: %v", f.Calls())
	}
}

// An instance that does not exist is an error at plan and at invocation, on instance_id, for
// both actions (unlike destroy, an unrescue of a wrong id must not look done).
func TestProto_actionInstanceGone(t *testing.T) {
	f := rescuetest.New("web")
	rs, un := fakeActions(t, f)
	errorOn(t, rs.plan(t, map[string]any{"instance_id": "gone", "admin_pass_wo": "p"}), "Invalid rescue", "instance_id")
	_, d := rs.invoke(t, map[string]any{"instance_id": "gone", "admin_pass_wo": "p"})
	errorOn(t, d, "Invalid rescue", "instance_id")
	errorOn(t, un.plan(t, map[string]any{"instance_id": "gone"}), "Cannot unrescue", "instance_id")
	_, d = un.invoke(t, map[string]any{"instance_id": "gone"})
	errorOn(t, d, "Instance not found", "instance_id")
	if len(f.Calls()) != 0 {
		t.Fatalf("calls %v", f.Calls())
	}
}

// Another live run's lease: the unrescue action refuses (warning at plan, error at invoke,
// nothing changed); with wait_for_lease it waits until the lease is released, then unrescues;
// a lease that outlives the timeout ends the wait with the holder named.
func TestProto_actionLeaseHeld(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.Set("web", rescue.StateRescued)
	ip := &rescue.InProgressError{Op: "rescue", InstanceID: "web", PID: 4242, Host: "ci-runner-7", Operation: "op-1"}
	f.Hold("web", ip)
	rs, un := fakeActions(t, f)
	if d := un.plan(t, map[string]any{"instance_id": "web"}); hasError(d) || !strings.Contains(diagText(d), "pid 4242 on ci-runner-7") {
		t.Fatalf("plan: want a warning naming the holder, got %s", diagText(d))
	}
	_, d := un.invoke(t, map[string]any{"instance_id": "web"})
	if msg := errorOn(t, d, "Operation in progress by another run", "instance_id"); !strings.Contains(msg, "wait_for_lease") {
		t.Fatalf("the refusal does not say how to wait: %s", msg)
	}
	_, d = rs.invoke(t, map[string]any{"instance_id": "web", "admin_pass_wo": "p"})
	if msg := errorOn(t, d, "in progress by another run", "instance_id"); !strings.Contains(msg, "invoke again") || strings.Contains(msg, "apply") {
		t.Fatalf("the rescue's refusal is not in an action's words: %s", msg)
	}
	_, d = un.invoke(t, map[string]any{"instance_id": "web", "wait_for_lease": true, "timeout": "1s"})
	errorOn(t, d, "Operation in progress by another run", "instance_id")
	if len(f.Calls()) != 0 || f.State("web") != rescue.StateRescued {
		t.Fatalf("a held lease was not respected: %v", f.Calls())
	}
	release := time.AfterFunc(700*time.Millisecond, func() { f.Hold("web", nil) })
	defer release.Stop()
	msgs, d := un.invoke(t, map[string]any{"instance_id": "web", "wait_for_lease": true, "timeout": "1m"})
	if hasError(d) {
		t.Fatalf("unrescue after the lease was released: %s", diagText(d))
	}
	inOrder(t, msgs, "waiting for another run to end its rescue of web", "unrescued: web is active")
	if f.State("web") != rescue.StateActive || f.Count("unrescue web") != 1 {
		t.Fatalf("state %s, calls %v", f.State("web"), f.Calls())
	}
}

// A rescue found that is no dead run's (by hand, another workspace): the rescue action refuses
// it without change, and says how to go on (not the resource's import advice).
func TestProto_actionAlreadyRescued(t *testing.T) {
	f := rescuetest.New("web")
	f.Set("web", rescue.StateRescued)
	rs, _ := fakeActions(t, f)
	if d := rs.plan(t, map[string]any{"instance_id": "web", "admin_pass_wo": "p"}); hasError(d) || !strings.Contains(diagText(d), "already in rescue") {
		t.Fatalf("plan: want a warning, got %s", diagText(d))
	}
	_, d := rs.invoke(t, map[string]any{"instance_id": "web", "admin_pass_wo": "p"})
	if msg := errorOn(t, d, "Instance already in rescue", "instance_id"); !strings.Contains(msg, "rescue_unrescue") {
		t.Fatalf("detail: %s", msg)
	}
	if len(f.Calls()) != 0 {
		t.Fatalf("calls %v", f.Calls())
	}
}

// An accepted rescue that then fails says so, and how to undo it.
func TestProto_actionAcceptedThenFailed(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	f.RescueFault = "compute host exploded"
	rs, _ := fakeActions(t, f)
	_, d := rs.invoke(t, map[string]any{"instance_id": "web", "admin_pass_wo": "p"})
	if msg := errorOn(t, d, "Rescue failed", ""); !strings.Contains(msg, "compute host exploded") {
		t.Fatalf("the backend's reason is missing: %s", msg)
	}
}

// lockedBuffer is a bytes.Buffer for loggers of several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
