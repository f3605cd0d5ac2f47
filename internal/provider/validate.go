package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
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
