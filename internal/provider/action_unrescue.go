package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var (
	_ action.ActionWithConfigure  = (*unrescueAction)(nil)
	_ action.ActionWithModifyPlan = (*unrescueAction)(nil)
)

// unrescueAction is the action rescue_unrescue: an unrescue without state (break-glass). It
// never undoes another live run's rescue or unrescue (a held lease): it refuses, or with
// wait_for_lease waits until that run's operation is over.
type unrescueAction struct{ actionBase }

// NewUnrescueAction returns the rescue_unrescue action.
func NewUnrescueAction() action.Action { return &unrescueAction{} }

type unrescueActionModel struct {
	InstanceID   types.String `tfsdk:"instance_id"`
	WaitForLease types.Bool   `tfsdk:"wait_for_lease"`
	Timeout      types.String `tfsdk:"timeout"`
}

func (m unrescueActionModel) model() instanceModel  { return instanceModel{InstanceID: m.InstanceID} }
func (m unrescueActionModel) timeout() types.String { return m.Timeout }

// plannable: an instance known only at apply (created in the same run) is checked then.
func (m unrescueActionModel) plannable() bool { return !m.InstanceID.IsUnknown() }

func (a *unrescueAction) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_unrescue"
}

func (a *unrescueAction) Schema(_ context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Break-glass unrescue (Terraform 1.14 and later): unrescues an instance, whoever rescued it, and " +
			"waits until it runs from its own disks again; nothing is kept in state. An instance not in rescue is " +
			"left as it is (a warning). A rescue or unrescue that another live run of the provider is doing right " +
			"now (it holds the instance's lease) is never interrupted: the action refuses, or waits with `wait_for_lease`. " +
			"A `rescue_instance` that managed the rescue sees it gone at its next refresh and plans to rescue again.",
		Attributes: map[string]schema.Attribute{
			"instance_id": schema.StringAttribute{
				Required:    true,
				Description: "The instance to unrescue: a Nova server UUID, or a libvirt domain name or UUID.",
				Validators:  []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"wait_for_lease": schema.BoolAttribute{
				Optional: true,
				Description: "When another live run of the provider holds the instance's lease (its rescue or " +
					"unrescue is in progress), wait within `timeout` until that operation is over, then unrescue. " +
					"Default false: refuse at once, naming that run (operation, process, host, lease expiry). There " +
					"is no way to break a live lease: its process is between two steps of its own, and a lease ends " +
					"by itself when its process dies.",
			},
			"timeout": timeoutAttr("unrescue"),
		},
	}
}

// ModifyPlan says at plan what the invocation will meet: an instance that does not exist
// (an error), one not in rescue or held by another run (warnings: that may change by then).
func (a *unrescueAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	m, ctx, cancel, eng := planAction[unrescueActionModel](ctx, &a.actionBase, req.Config, &resp.Diagnostics)
	defer cancel()
	if eng == nil {
		return
	}
	id := m.InstanceID.ValueString()
	inst, err := eng.Backend.Get(ctx, id)
	switch {
	case rescue.IsNotFound(err):
		actionErr(&resp.Diagnostics, "Cannot unrescue", err)
	case err != nil:
		// Reported at apply, where the reads ride out outages.
	case inst.InProgress != nil && !m.WaitForLease.ValueBool():
		resp.Diagnostics.AddWarning("Operation in progress by another run", inst.InProgress.Error()+
			". The action refuses to unrescue while that run holds the instance's lease, unless it is over by then; "+
			"set wait_for_lease = true to wait for it.")
	case inst.InProgress == nil && inst.State != rescue.StateRescued && !inst.State.Transient() && inst.State != rescue.StateError:
		resp.Diagnostics.AddWarning("Instance is not in rescue",
			"Instance "+id+" is "+inst.StatusText()+": unless it is rescued by then, the action has nothing to do.")
	}
}

func (a *unrescueAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	m, inv := invokeAction[unrescueActionModel](ctx, &a.actionBase, req.Config, resp)
	if inv == nil {
		return
	}
	defer inv.end()
	id := m.InstanceID.ValueString()
	inv.report("unrescuing " + id)
	tflog.Info(inv.ctx, "unrescuing instance (action)")
	out, inst, err := unrescueWaiting(inv, id, m.WaitForLease.ValueBool())
	unrescueOutcome(id, out, inst, err, &resp.Diagnostics)
	if err == nil && out == rescue.Unrescued {
		inv.report("unrescued: " + id + " is " + inst.StatusText())
	}
}

// unrescueWaiting is Engine.Unrescue; with wait, another live run's operation is waited out
// (polled with the engine's backoff) within the invocation's time.
func unrescueWaiting(inv *invocation, id string, wait bool) (rescue.Outcome, *rescue.Instance, error) {
	var interval time.Duration
	for {
		out, inst, err := inv.eng.Unrescue(inv.ctx, id)
		var ip *rescue.InProgressError
		if !wait || !errors.As(err, &ip) {
			return out, inst, err
		}
		inv.report("waiting for another run to end its " + ip.Op + " of " + id + " (it holds the lease)")
		interval = rescue.DefaultBackoff.Next(interval)
		t := time.NewTimer(interval)
		select {
		case <-inv.ctx.Done():
			t.Stop()
			return out, inst, fmt.Errorf("timed out waiting for another run's operation to end: %w (%w)", ip, inv.ctx.Err())
		case <-t.C:
		}
	}
}

// unrescueOutcome turns an unrescue's outcome into diagnostics: unlike destroy, an instance
// that does not exist is an error (a break-glass action on a wrong id must not look done).
func unrescueOutcome(id string, out rescue.Outcome, inst *rescue.Instance, err error, diags *diag.Diagnostics) {
	var ip *rescue.InProgressError
	switch {
	case out == rescue.LeftInError:
		diags.AddError("Instance left in error", "Instance "+id+" is "+inst.StatusText()+
			" and the backend refused to unrescue it ("+err.Error()+"). Repair it with the backend's own tools.")
	case errors.As(err, &ip):
		diags.AddAttributeError(path.Root("instance_id"), "Operation in progress by another run", err.Error()+
			". That run's work is left alone: its lease ends when its operation does, or when its process dies. "+
			"Invoke again then, or set wait_for_lease = true to wait for it.")
	case err != nil:
		actionErr(diags, "Unrescue failed", err)
	case out == rescue.Gone:
		diags.AddAttributeError(path.Root("instance_id"), "Instance not found",
			"Instance "+id+" does not exist (or is not visible to these credentials): nothing was unrescued.")
	case out == rescue.AlreadyUnrescued:
		diags.AddWarning("Instance was not in rescue",
			"Instance "+id+" was already out of rescue ("+inst.StatusText()+"), so nothing was done.")
	}
}
