package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func (r *instanceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan instanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	// admin_pass_wo is only in the configuration (write-only: never in plan or state).
	var wo types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("admin_pass_wo"), &wo)...)
	ctx, cancel, eng := r.begin(ctx, &plan, plan.Timeouts.Create, &resp.Diagnostics)
	defer cancel()
	if eng == nil {
		return
	}
	rq := plan.request()
	if p := known(wo); p != "" {
		ctx = maskSecret(ctx, p)
		rq.AdminPass = p
	}
	// Values unknown at plan time are known now: check everything before the first change. The
	// rescue acts on what the check read of the instance (Nova: one GET before the POST).
	checked, err := eng.Validate(ctx, rq)
	if err != nil {
		addErr(&resp.Diagnostics, "Invalid rescue", err)
		return
	}
	p := checked.Plan
	tflog.Info(ctx, "rescuing instance", map[string]any{"image_id": rq.ImageID, "device": string(p.Device), "bus": string(p.Bus), "mode": string(p.Mode)})
	res, inst, err := eng.RescueChecked(ctx, checked)
	for _, w := range res.Warnings {
		resp.Diagnostics.AddWarning("Interrupted operation recovered", terraformWords.Replace(w))
	}
	if err != nil && !rescue.Accepted(err) {
		addErr(&resp.Diagnostics, "Rescue failed", err)
		return
	}
	plan.ID = plan.InstanceID
	plan.Device = strOrNull(p.Device)
	plan.Bus = strOrNull(p.Bus)
	plan.Mode = types.StringValue(string(p.Mode))
	if plan.Mode.ValueString() == "" {
		plan.Mode = types.StringValue(string(rescue.ModeLegacy))
	}
	switch {
	case !wo.IsNull():
		plan.AdminPass = types.StringNull() // the write-only password is not kept
	case res.AdminPass != "":
		plan.AdminPass = types.StringValue(res.AdminPass)
	case plan.AdminPass.IsUnknown():
		plan.AdminPass = types.StringNull()
	}
	plan.AdminPassWO = types.StringNull()
	if inst != nil && inst.Mode != "" {
		plan.Mode = types.StringValue(string(inst.Mode))
	}
	if plan.ImageID.IsUnknown() {
		// Omitted: the backend's default image, shown where the backend can tell it.
		plan.ImageID = types.StringNull()
		if inst != nil {
			plan.ImageID = strOrNull(inst.ImageID)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, rq.InstanceID, eng.Backend)...)
	if err != nil {
		// The backend accepted the rescue: keep the resource in state (Terraform taints it) so
		// that destroy or the next apply unrescues it and the password is not lost.
		addErr(&resp.Diagnostics, "Rescue did not complete", err)
		resp.Diagnostics.AddError("Instance may be in rescue",
			"The rescue of "+rq.InstanceID+" was accepted, so the resource is kept in state (tainted). "+
				"`terraform destroy` unrescues it, and the next `terraform apply` unrescues and rescues it again.")
		return
	}
	tflog.Info(ctx, "instance in rescue", map[string]any{"status": inst.StatusText()})
}

func (r *instanceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state instanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	ctx, cancel, eng := r.begin(ctx, &state, state.Timeouts.Read, &resp.Diagnostics)
	defer cancel()
	if eng == nil {
		return
	}
	id := state.ID.ValueString()
	// The identity is set first: the framework refuses a read that returns none, also one that
	// removes the resource ("Missing Resource Identity After Read", e.g. for a state written by
	// Terraform < 1.12, which keeps none).
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, id, eng.Backend)...)
	inst, err := eng.Read(ctx, id)
	if rescue.IsNotFound(err) {
		tflog.Warn(ctx, "instance is gone; removing it from state")
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot read the instance", err)
		return
	}
	r.client.seen(id)
	// A rescue in error is replaced at the next apply (unrescue, then rescue): ModifyPlan reads
	// this mark from the private state.
	broken := []byte(nil)
	if inst.State == rescue.StateError {
		broken = []byte(`true`)
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateBroken, broken)...)
	switch inst.State {
	case rescue.StateRescued:
		if s, ok := eng.Backend.(settler); ok {
			s.Settled(id)
		}
	case rescue.StateActive, rescue.StateStopped:
		tflog.Warn(ctx, "instance is no longer in rescue; removing it from state", map[string]any{"status": inst.StatusText()})
		resp.State.RemoveResource(ctx)
		return
	default:
		// An error or unknown state (Nova's ERROR or UNKNOWN during a cell outage, a libvirt
		// rescue stopped halfway): keep the resource, so that destroy can still unrescue it
		// and its password is not dropped.
		detail := "Instance " + id + " is " + inst.StatusText() + "; the resource is kept in state so that " +
			"`terraform destroy` can unrescue it."
		if inst.Fault != "" {
			detail += " Reason: " + terraformWords.Replace(inst.Fault)
		}
		resp.Diagnostics.AddWarning("Instance is not cleanly in rescue", detail)
	}
	// Fill what the backend knows and the state lacks (after an import).
	fill := func(dst *types.String, v string) {
		if v != "" && (dst.IsNull() || dst.IsUnknown()) {
			*dst = types.StringValue(v)
		}
	}
	fill(&state.InstanceID, id)
	fill(&state.ImageID, inst.ImageID)
	fill(&state.Device, string(inst.Device))
	fill(&state.Bus, string(inst.Bus))
	fill(&state.Mode, string(inst.Mode))
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// settler is implemented by backends that keep local records of their operations (Nova): Read
// tells them that the state holds the instance's rescue, so its record is no longer needed.
type settler interface{ Settled(instanceID string) }

func (r *instanceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only attributes that need no new rescue change in place (shutdown_timeout, timeouts, and
	// values adopted after an import): record them.
	var plan instanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateImported, nil)...)
	// The framework wants an identity after every update too (a state written by Terraform
	// < 1.12 has none to carry over); its scope needs the backend.
	eng, err := r.engine(ctx)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot reach the backend", err)
		return
	}
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, plan.ID.ValueString(), eng.Backend)...)
}

func (r *instanceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state instanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	ctx, cancel, eng := r.begin(ctx, &state, state.Timeouts.Delete, &resp.Diagnostics)
	defer cancel()
	if eng == nil {
		return
	}
	id := state.ID.ValueString()
	tflog.Info(ctx, "unrescuing instance")
	out, inst, err := eng.Unrescue(ctx, id)
	if out == rescue.LeftInError {
		resp.Diagnostics.AddWarning("Instance left in error",
			"Instance "+id+" is "+inst.StatusText()+" and the backend refused to unrescue it ("+terraformWords.Replace(err.Error())+
				"). It was removed from state; repair it with the backend's own tools.")
		return
	}
	if err != nil {
		addErr(&resp.Diagnostics, "Unrescue failed", err)
		return
	}
	switch out {
	case rescue.Gone:
		resp.Diagnostics.AddWarning("Instance is gone",
			"Instance "+id+" no longer exists, so there was nothing to unrescue. It was removed from state.")
	case rescue.AlreadyUnrescued:
		resp.Diagnostics.AddWarning("Instance was not in rescue",
			"Instance "+id+" was already out of rescue ("+inst.StatusText()+"), so nothing was done.")
	default:
		tflog.Info(ctx, "instance unrescued", map[string]any{"status": inst.StatusText()})
	}
}
