package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// request converts the known values of a model to an engine request; unknown values are empty.
func (m *instanceModel) request() rescue.Request {
	r := rescue.Request{
		InstanceID: known(m.InstanceID),
		ImageID:    known(m.ImageID),
		Device:     known(m.Device),
		Bus:        known(m.Bus),
		AdminPass:  known(m.AdminPass),
	}
	if d, err := time.ParseDuration(known(m.ShutdownTimeout)); err == nil {
		r.ShutdownTimeout = d
	}
	return r
}

func known(v types.String) string {
	if v.IsNull() || v.IsUnknown() {
		return ""
	}
	return v.ValueString()
}

func strOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// logCtx masks the rescue password in every log line of this operation.
func logCtx(ctx context.Context, m *instanceModel) context.Context {
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, "admin_pass", "admin_pass_wo", "password", "token")
	ctx = maskSecret(ctx, known(m.AdminPass))
	ctx = maskSecret(ctx, known(m.AdminPassWO))
	return tflog.SetField(ctx, "instance_id", known(m.InstanceID))
}

// maskSecret masks a secret in every message and field of the logs of ctx.
func maskSecret(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	ctx = tflog.MaskMessageStrings(ctx, secret)
	return tflog.MaskAllFieldValuesStrings(ctx, secret)
}

// begin prepares one operation on m: secrets masked in its logs, its context bounded by the
// resource's timeout for it, and the engine. A nil engine means diags says why.
func (r *instanceResource) begin(ctx context.Context, m *instanceModel,
	timeout func(context.Context, time.Duration) (time.Duration, diag.Diagnostics), diags *diag.Diagnostics,
) (context.Context, context.CancelFunc, *rescue.Engine) {
	if diags.HasError() {
		return ctx, func() {}, nil
	}
	d, td := timeout(ctx, defaultTimeout)
	diags.Append(td...)
	if diags.HasError() {
		return ctx, func() {}, nil
	}
	ctx = logCtx(ctx, m)
	ctx, cancel := context.WithTimeout(ctx, d)
	eng, err := r.engine(ctx)
	if err != nil {
		addErr(diags, "Cannot reach the backend", err)
		return ctx, cancel, nil
	}
	return ctx, cancel, eng
}

func (r *instanceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m instanceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateTimeouts(m.Timeouts, &resp.Diagnostics)
	if !m.Device.IsNull() && !m.Device.IsUnknown() && !m.Bus.IsNull() && !m.Bus.IsUnknown() {
		d, b := m.Device.ValueString(), m.Bus.ValueString()
		if (d == "floppy") != (b == "fdc") {
			resp.Diagnostics.AddAttributeError(path.Root("bus"), "Device and bus do not fit",
				"device \""+d+"\" cannot be attached on bus \""+b+"\": a floppy needs bus \"fdc\", and \"fdc\" "+
					"takes only a floppy. Use device = \"floppy\" with bus = \"fdc\", or another bus.")
		} else if d == "cdrom" && b == "virtio" {
			resp.Diagnostics.AddAttributeError(path.Root("bus"), "Device and bus do not fit",
				"a cdrom cannot be attached on bus \"virtio\" (virtio disks have no ejectable media): use bus "+
					"\"scsi\", \"sata\" or \"ide\" for a cdrom, or device = \"disk\" with virtio.")
		}
	}
}

func (r *instanceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.client == nil || r.client.unknown {
		return
	}
	var plan, config instanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	creating := req.State.Raw.IsNull()
	broken := false
	if !creating && req.Private != nil {
		if v, d := req.Private.GetKey(ctx, privateBroken); !d.HasError() && string(v) == "true" {
			broken = true
			// Terraform replaces only for a path whose value changes: mode becomes unknown.
			resp.RequiresReplace = append(resp.RequiresReplace, path.Root("mode"))
		}
	}
	if !creating && len(resp.RequiresReplace) == 0 {
		var state instanceModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() || plan.ShutdownTimeout.Equal(state.ShutdownTimeout) {
			return
		}
		// Only shutdown_timeout changes (in place): the backend says whether it applies.
		r.validateOnly(ctx, &plan, config, resp)
		return
	}
	if !creating {
		r.client.seen(known(plan.InstanceID))
		if st := req.State.Raw; !st.IsNull() {
			var state instanceModel
			if d := req.State.Get(ctx, &state); !d.HasError() {
				r.client.seen(known(state.InstanceID))
			}
		}
		// A new rescue: what the backend computes is computed again.
		for _, c := range []struct {
			cfg types.String
			p   *types.String
		}{{config.ImageID, &plan.ImageID}, {config.Device, &plan.Device}, {config.Bus, &plan.Bus}, {config.AdminPass, &plan.AdminPass}} {
			if c.cfg.IsNull() {
				*c.p = types.StringUnknown()
			}
		}
		plan.Mode = types.StringUnknown()
	}
	if !config.AdminPassWO.IsNull() {
		// The password is write-only: nothing of it is stored, admin_pass stays null.
		plan.AdminPass = types.StringNull()
	}
	p, ok := r.validateOnly(ctx, &plan, config, resp)
	if !ok {
		return
	}
	for _, w := range p.Warnings {
		resp.Diagnostics.AddWarning("Rescue", w)
	}
	if creating && !plan.InstanceID.IsUnknown() {
		r.preflight(ctx, &plan, resp)
	}
	// Everything that decides device and bus is known: show the outcome in the plan.
	if !plan.InstanceID.IsUnknown() && !config.ImageID.IsUnknown() {
		if plan.Device.IsUnknown() {
			plan.Device = strOrNull(p.Device)
		}
		if plan.Bus.IsUnknown() {
			plan.Bus = strOrNull(p.Bus)
		}
		if plan.Mode.IsUnknown() && p.Mode != "" && !broken {
			plan.Mode = types.StringValue(string(p.Mode))
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// validateOnly asks the backend to check the planned rescue, within the resource's read
// timeout (a plan reads; connecting included).
func (r *instanceResource) validateOnly(ctx context.Context, plan *instanceModel, config instanceModel, resp *resource.ModifyPlanResponse) (rescue.Plan, bool) {
	ctx = maskSecret(logCtx(ctx, plan), known(config.AdminPassWO))
	ctx, cancel := context.WithTimeout(ctx, readTimeout(ctx, plan))
	defer cancel()
	eng, err := r.client.Engine(ctx)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot reach the backend to check the rescue", err)
		return rescue.Plan{}, false
	}
	rq := plan.request()
	rq.ImageUnknown = config.ImageID.IsUnknown()
	if !config.AdminPassWO.IsNull() {
		// A password will be given (its value may be unknown yet): the backend checks with one.
		rq.AdminPass = known(config.AdminPassWO)
		if rq.AdminPass == "" {
			rq.AdminPass = "write-only-placeholder"
		}
	}
	p, err := eng.Backend.Validate(ctx, rq)
	if err != nil {
		addErr(&resp.Diagnostics, "Invalid rescue", err)
		return rescue.Plan{}, false
	}
	return p, true
}

// inStateFor is how long an instance seen in a resource's state spares it the preflight.
const inStateFor = 15 * time.Minute

// seen records that an instance is in a resource's state.
func (c *client) seen(id string) {
	if id != "" {
		c.inState.Store(id, time.Now())
	}
}

// isInState reports whether an instance was seen in a resource's state lately.
func (c *client) isInState(id string) bool {
	v, ok := c.inState.Load(id)
	return ok && time.Since(v.(time.Time)) < inStateFor
}

// preflight tells at plan what the rescue will meet on an instance already in rescue without
// state of it: another live run's operation, someone else's rescue (with the import block), or
// what a dead run left (taken over or rolled back at apply). These are warnings, not errors:
// `terraform destroy` plans the configuration in normal mode first, and an error there would
// block the destroy of everything else; apply refuses before any change.
func (r *instanceResource) preflight(ctx context.Context, plan *instanceModel, resp *resource.ModifyPlanResponse) {
	if r.client.isInState(known(plan.InstanceID)) {
		// The create half of a replacement (or of a tainted resource): the rescue found
		// there is this resource's own, unrescued first at apply.
		return
	}
	ctx = logCtx(ctx, plan)
	ctx, cancel := context.WithTimeout(ctx, readTimeout(ctx, plan))
	defer cancel()
	eng, err := r.client.Engine(ctx)
	if err != nil {
		return // validateOnly reported it
	}
	w, err := eng.Preflight(ctx, plan.request())
	if err != nil {
		title, detail, _ := describe("Apply will refuse this rescue", err)
		resp.Diagnostics.AddWarning(title, detail+"\n\nApply will refuse this rescue before any change.")
		return
	}
	if w != "" {
		resp.Diagnostics.AddWarning("Interrupted operation found", w)
	}
}

// readTimeout is the resource's read timeout: timeouts.read, else the default. An invalid or
// non-positive value is reported by the configuration's validation and gets the default here.
func readTimeout(ctx context.Context, m *instanceModel) time.Duration {
	d, diags := m.Timeouts.Read(ctx, defaultTimeout)
	if diags.HasError() || d <= 0 {
		return defaultTimeout
	}
	return d
}

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
	// Values unknown at plan time are known now: check everything before the first change.
	p, err := eng.Backend.Validate(ctx, rq)
	if err != nil {
		addErr(&resp.Diagnostics, "Invalid rescue", err)
		return
	}
	rq.Device, rq.Bus = p.Device, p.Bus
	tflog.Info(ctx, "rescuing instance", map[string]any{"image_id": rq.ImageID, "device": rq.Device, "bus": rq.Bus, "mode": string(p.Mode)})
	res, inst, err := eng.Rescue(ctx, rq)
	for _, w := range res.Warnings {
		resp.Diagnostics.AddWarning("Interrupted operation recovered", w)
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
	tflog.Info(ctx, "instance in rescue", map[string]any{"status": statusOf(inst)})
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
		tflog.Warn(ctx, "instance is no longer in rescue; removing it from state", map[string]any{"status": statusOf(inst)})
		resp.State.RemoveResource(ctx)
		return
	default:
		// An error or unknown state (Nova's ERROR or UNKNOWN during a cell outage, a libvirt
		// rescue stopped halfway): keep the resource, so that destroy can still unrescue it
		// and its password is not dropped.
		detail := "Instance " + id + " is " + statusOf(inst) + "; the resource is kept in state so that " +
			"`terraform destroy` can unrescue it."
		if inst.Fault != "" {
			detail += " Reason: " + inst.Fault
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
	fill(&state.Device, inst.Device)
	fill(&state.Bus, inst.Bus)
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
			"Instance "+id+" is "+statusOf(inst)+" and the backend refused to unrescue it ("+err.Error()+
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
			"Instance "+id+" was already out of rescue ("+statusOf(inst)+"), so nothing was done.")
	default:
		tflog.Info(ctx, "instance unrescued", map[string]any{"status": statusOf(inst)})
	}
}
