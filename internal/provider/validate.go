package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func (r *instanceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m instanceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateTimeouts(m.Timeouts, &resp.Diagnostics)
	if !m.Device.IsNull() && !m.Device.IsUnknown() && !m.Bus.IsNull() && !m.Bus.IsUnknown() {
		d, b := m.Device.ValueString(), m.Bus.ValueString()
		if p := rescue.CheckPair(d, b); p != nil {
			addErr(&resp.Diagnostics, "Device and bus do not fit", p.Invalid(d, b))
		}
	}
}
