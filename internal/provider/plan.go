package provider

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

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
	broken := !creating && markedBroken(ctx, req)
	if broken {
		// Terraform replaces only for a path whose value changes: mode becomes unknown.
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root("mode"))
	}
	if !creating && len(resp.RequiresReplace) == 0 {
		r.planInPlace(ctx, req, &plan, config, resp)
		return
	}
	if !creating {
		r.planReplacement(ctx, req, &plan, config)
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
		resp.Diagnostics.AddWarning("Rescue", terraformWords.Replace(w))
	}
	if creating && !plan.InstanceID.IsUnknown() {
		r.preflight(ctx, &plan, resp)
	}
	// Everything that decides device and bus is known: show the outcome in the plan.
	if !plan.InstanceID.IsUnknown() && !config.ImageID.IsUnknown() {
		showResolved(&plan, p, broken)
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// markedBroken reports whether Read marked the rescue in error (replaced at this apply).
func markedBroken(ctx context.Context, req resource.ModifyPlanRequest) bool {
	if req.Private == nil {
		return false
	}
	v, d := req.Private.GetKey(ctx, privateBroken)
	return !d.HasError() && string(v) == "true"
}

// planInPlace plans an update that needs no new rescue: only when shutdown_timeout changes
// does the backend say whether it applies.
func (r *instanceResource) planInPlace(ctx context.Context, req resource.ModifyPlanRequest, plan *instanceModel, config instanceModel, resp *resource.ModifyPlanResponse) {
	var state instanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || plan.ShutdownTimeout.Equal(state.ShutdownTimeout) {
		return
	}
	r.validateOnly(ctx, plan, config, resp)
}

// planReplacement plans the create half of a replacement: the instance is this resource's (no
// preflight warning about its rescue), and what the backend computes is computed again.
func (r *instanceResource) planReplacement(ctx context.Context, req resource.ModifyPlanRequest, plan *instanceModel, config instanceModel) {
	r.client.seen(known(plan.InstanceID))
	var state instanceModel
	if d := req.State.Get(ctx, &state); !d.HasError() {
		r.client.seen(known(state.InstanceID))
	}
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

// showResolved puts the device, bus and mode the backend resolved in the plan where they are
// unknown (the mode of a broken rescue stays unknown: it is replaced).
func showResolved(plan *instanceModel, p rescue.Plan, broken bool) {
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
	c, err := eng.Validate(ctx, rq)
	if err != nil {
		addErr(&resp.Diagnostics, "Invalid rescue", err)
		return rescue.Plan{}, false
	}
	return c.Plan, true
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
	v, _ := c.inState.Load(id)
	at, ok := v.(time.Time)
	return ok && time.Since(at) < inStateFor
}

// preflight refuses at plan an instance already in rescue without state of it: another live
// run's operation, or someone else's rescue (with the import block). What a dead run of this
// provider left is a warning: apply takes it over or rolls it back. A refusal here is also met
// by `terraform destroy`, whose first plan is a normal one over the whole configuration: its
// detail names `-refresh=false`, which skips that plan.
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
	switch {
	case refusesPlan(err):
		title, detail, attr := describe("", err)
		resp.Diagnostics.AddAttributeError(path.Root(attr), title, detail+"\n\n"+planRefusalNote)
	case err != nil:
		title, detail, _ := describe("Apply will refuse this rescue", err)
		resp.Diagnostics.AddWarning(title, detail+"\n\nApply will refuse this rescue before any change.")
	case w != "":
		resp.Diagnostics.AddWarning("Interrupted operation found", terraformWords.Replace(w))
	}
}

// planRefusalNote ends the detail of a rescue refused at plan.
const planRefusalNote = "Refused at plan: nothing was changed. `terraform destroy` plans the configuration " +
	"first as well and stops here too; to destroy the other resources of this configuration meanwhile, run " +
	"`terraform destroy -refresh=false`, or remove this resource from the configuration."

// refusesPlan reports whether a preflight error refuses the plan: the instance is in rescue
// by someone else, or another live run is rescuing or unrescuing it.
func refusesPlan(err error) bool {
	var (
		ar *rescue.AlreadyRescuedError
		ip *rescue.InProgressError
	)
	return errors.As(err, &ar) || errors.As(err, &ip)
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
