package provider_test

// The break-glass actions at the plugin-protocol level (Terraform 1.14 and later speak it; the
// CLI here is 1.11): the provider server is called as Terraform calls it.

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// actionCall is one action type of a provider server, with its configuration type.
type actionCall struct {
	srv  tfprotov6.ActionServer
	name string
	typ  tftypes.Type
	// ctx is what the calls get (background when nil), e.g. one with TRACE loggers.
	ctx context.Context
}

func (a actionCall) context() context.Context {
	if a.ctx != nil {
		return a.ctx
	}
	return context.Background()
}

func actionOf(t *testing.T, srv tfprotov6.ProviderServer, schemas *tfprotov6.GetProviderSchemaResponse, name string) actionCall {
	t.Helper()
	s, ok := schemas.ActionSchemas[name]
	if !ok {
		t.Fatalf("GetProviderSchema has no action %s (has %v)", name, keys(schemas.ActionSchemas))
	}
	as, ok := srv.(tfprotov6.ActionServer)
	if !ok {
		t.Fatal("the provider server serves no actions")
	}
	return actionCall{srv: as, name: name, typ: s.Schema.ValueType()}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// config encodes an action configuration: attrs are Go values of its attributes (nil: unknown),
// the others null.
func (a actionCall) config(t *testing.T, attrs map[string]any) *tfprotov6.DynamicValue {
	t.Helper()
	obj := a.typ.(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for k, v := range attrs {
		at, ok := obj.AttributeTypes[k]
		if !ok {
			t.Fatalf("action %s has no attribute %s", a.name, k)
		}
		if v == nil {
			vals[k] = tftypes.NewValue(at, tftypes.UnknownValue)
		} else {
			vals[k] = tftypes.NewValue(at, v)
		}
	}
	dv := dynamic(t, a.typ, vals)
	return &dv
}

// diagText is the diagnostics as one string ("severity summary: detail [attribute]" each).
func diagText(ds []*tfprotov6.Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		sev := "warning"
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			sev = "error"
		}
		b.WriteString(sev + " " + d.Summary + ": " + d.Detail)
		if d.Attribute != nil {
			b.WriteString(" [" + d.Attribute.String() + "]")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func hasError(ds []*tfprotov6.Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return true
		}
	}
	return false
}

func (a actionCall) validate(t *testing.T, attrs map[string]any) []*tfprotov6.Diagnostic {
	t.Helper()
	r, err := a.srv.ValidateActionConfig(a.context(), &tfprotov6.ValidateActionConfigRequest{ActionType: a.name, Config: a.config(t, attrs)})
	if err != nil {
		t.Fatal(err)
	}
	return r.Diagnostics
}

func (a actionCall) plan(t *testing.T, attrs map[string]any) []*tfprotov6.Diagnostic {
	t.Helper()
	r, err := a.srv.PlanAction(a.context(), &tfprotov6.PlanActionRequest{ActionType: a.name, Config: a.config(t, attrs)})
	if err != nil {
		t.Fatal(err)
	}
	return r.Diagnostics
}

// invoke runs the action and returns its progress messages, in order, and the diagnostics of
// its completion event.
func (a actionCall) invoke(t *testing.T, attrs map[string]any) ([]string, []*tfprotov6.Diagnostic) {
	t.Helper()
	r, err := a.srv.InvokeAction(a.context(), &tfprotov6.InvokeActionRequest{ActionType: a.name, Config: a.config(t, attrs)})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	var diags []*tfprotov6.Diagnostic
	completed := 0
	for ev := range r.Events {
		switch e := ev.Type.(type) {
		case tfprotov6.ProgressInvokeActionEventType:
			if completed > 0 {
				t.Errorf("progress %q after the completion event", e.Message)
			}
			msgs = append(msgs, e.Message)
		case tfprotov6.CompletedInvokeActionEventType:
			completed++
			diags = e.Diagnostics
		}
	}
	if completed != 1 {
		t.Fatalf("%d completion events", completed)
	}
	return msgs, diags
}

// inOrder fails unless each of want is in a message of msgs, in this order.
func inOrder(t *testing.T, msgs []string, want ...string) {
	t.Helper()
	i := 0
	for _, m := range msgs {
		if i < len(want) && strings.Contains(m, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("progress events lack %q (in this order: %q); got:\n%s", want[i], want, strings.Join(msgs, "\n"))
	}
}
