package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// privateImported is the private-state key set by ImportState: values the backend cannot
// report after an import (Nova knows no rescue image) are adopted from the configuration
// instead of forcing a new rescue. The first update clears it.
const privateImported = "imported"

// privateBroken is set by Read when the instance is in an error state (a rescue stopped halfway,
// Nova's ERROR): the next plan replaces the resource, so that apply converges to a clean rescue.
const privateBroken = "broken"

// replaceUnlessImported forces a replacement when the configured value changes. For computed
// attributes a value missing from the configuration keeps the state's value. After an import,
// a configured value where the state has none is adopted without a replacement when adopt is
// true (image_id, device, bus), because the backend may not be able to report it.
type replaceModifier struct {
	computed bool
	adopt    bool
}

func replaceUnlessImported(computed, adopt bool) planmodifier.String {
	return replaceModifier{computed: computed, adopt: adopt}
}

func (m replaceModifier) Description(context.Context) string {
	return "Changing the value forces a new rescue (unrescue, then rescue)."
}

func (m replaceModifier) MarkdownDescription(ctx context.Context) string { return m.Description(ctx) }

func (m replaceModifier) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return
	}
	if m.computed && req.ConfigValue.IsNull() {
		if req.PlanValue.IsUnknown() {
			resp.PlanValue = req.StateValue
		}
		return
	}
	if req.ConfigValue.IsUnknown() {
		resp.RequiresReplace = true
		return
	}
	if req.PlanValue.Equal(req.StateValue) {
		return
	}
	if m.adopt && req.StateValue.IsNull() && req.Private != nil {
		v, diags := req.Private.GetKey(ctx, privateImported)
		resp.Diagnostics.Append(diags...)
		if string(v) == "true" {
			return
		}
	}
	resp.RequiresReplace = true
}

// durationValidator accepts a positive Go duration string such as "90s" or "2m".
type durationValidator struct{}

func (durationValidator) Description(context.Context) string {
	return `must be a positive duration such as "90s" or "2m"`
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := time.ParseDuration(req.ConfigValue.ValueString())
	if err != nil || d <= 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a positive duration: use a number with a unit, such as \"90s\" or \"5m\".",
				req.ConfigValue.ValueString()))
	}
}
