package provider

import (
	"context"
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
