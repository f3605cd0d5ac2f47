package provider

import (
	"context"

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
	_ action.ActionWithConfigure      = (*rescueAction)(nil)
	_ action.ActionWithModifyPlan     = (*rescueAction)(nil)
	_ action.ActionWithValidateConfig = (*rescueAction)(nil)
)

// rescueAction is the action rescue_rescue: a rescue without state (break-glass), with the
// resource's validation, waits, leases and error classes.
type rescueAction struct{ actionBase }

// NewRescueAction returns the rescue_rescue action.
func NewRescueAction() action.Action { return &rescueAction{} }

type rescueActionModel struct {
	InstanceID      types.String `tfsdk:"instance_id"`
	ImageID         types.String `tfsdk:"image_id"`
	Device          types.String `tfsdk:"device"`
	Bus             types.String `tfsdk:"bus"`
	AdminPassWO     types.String `tfsdk:"admin_pass_wo"`
	ShutdownTimeout types.String `tfsdk:"shutdown_timeout"`
	Timeout         types.String `tfsdk:"timeout"`
}

// model is the resource's model of the same values (the shared request and log helpers).
func (m rescueActionModel) model() instanceModel {
	return instanceModel{
		InstanceID: m.InstanceID, ImageID: m.ImageID, Device: m.Device, Bus: m.Bus,
		AdminPassWO: m.AdminPassWO, ShutdownTimeout: m.ShutdownTimeout,
	}
}

func (m rescueActionModel) timeout() types.String { return m.Timeout }

// plannable: a rescue is checked at plan as far as its values are known.
func (m rescueActionModel) plannable() bool { return true }

// request is the engine request; the password is the write-only one.
func (m rescueActionModel) request() rescue.Request {
	im := m.model()
	rq := im.request()
	rq.AdminPass = known(m.AdminPassWO)
	rq.ImageUnknown = m.ImageID.IsUnknown()
	return rq
}

func (a *rescueAction) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_rescue"
}

func (a *rescueAction) Schema(_ context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Break-glass rescue (Terraform 1.14 and later): rescues an instance without keeping anything in " +
			"state, with the checks, waits, leases and errors of `rescue_instance`, and reports its steps as " +
			"progress. Invoke it with `terraform apply -invoke=action.rescue_rescue.<name>`, or from a resource's " +
			"`lifecycle { action_trigger { ... } }`. Undo it with the action `rescue_unrescue`.",
		Attributes: map[string]schema.Attribute{
			"instance_id": schema.StringAttribute{
				Required:    true,
				Description: "The instance to rescue: a Nova server UUID, or a libvirt domain name or UUID.",
				Validators:  []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"image_id": schema.StringAttribute{
				Optional: true,
				Description: "The rescue image, as for `rescue_instance`: a Glance image UUID on Nova (omitted: the " +
					"server's own image); a file path or `pool/volume` on libvirt (omitted: the backing image of the root disk).",
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"device": schema.StringAttribute{
				Optional:    true,
				Description: "Stable-device rescue: `cdrom`, `disk` or `floppy` (on Nova it must match the image's `hw_rescue_device`).",
				Validators:  []validator.String{stringvalidator.OneOf(rescue.Devices...)},
			},
			"bus": schema.StringAttribute{
				Optional:    true,
				Description: "Stable-device rescue: `scsi`, `virtio`, `ide`, `usb`, `sata` or `fdc` (on Nova it must match the image's `hw_rescue_bus`).",
				Validators:  []validator.String{stringvalidator.OneOf(rescue.Buses...)},
			},
			"admin_pass_wo": schema.StringAttribute{
				Optional:  true,
				WriteOnly: true,
				Description: "Write-only: the password of the rescue system, never stored in the plan. Required on " +
					"Nova: an action has no outputs, so a password Nova or the provider made could never be shown " +
					"(the plan fails without it). libvirt: written to a config drive; none when omitted.",
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"shutdown_timeout": schema.StringAttribute{
				Optional: true,
				Description: "libvirt only: how long the guest gets to shut down cleanly before it is forced off, " +
					"such as `\"90s\"`; default `\"60s\"`. Not allowed on Nova (the cloud's setting).",
				Validators: []validator.String{durationValidator{}},
			},
			"timeout": timeoutAttr("rescue"),
		},
	}
}

func (a *rescueAction) ValidateConfig(ctx context.Context, req action.ValidateConfigRequest, resp *action.ValidateConfigResponse) {
	var m rescueActionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	checkDeviceBus(m.Device, m.Bus, &resp.Diagnostics)
}

// ModifyPlan checks at plan what the invocation would refuse: a missing password where the
// backend makes one (Nova), the backend's validation, and what a rescue would meet there.
func (a *rescueAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	m, ctx, cancel, eng := planAction[rescueActionModel](ctx, &a.actionBase, req.Config, &resp.Diagnostics)
	defer cancel()
	if eng == nil {
		return
	}
	if !needsPassword(eng.Backend, m.AdminPassWO, &resp.Diagnostics) {
		return
	}
	rq := m.request()
	if rq.AdminPass == "" && !m.AdminPassWO.IsNull() {
		rq.AdminPass = "write-only-placeholder" // given, not known yet
	}
	if m.InstanceID.IsUnknown() {
		return // known at apply (an instance created in the same run): checked before any change
	}
	p, err := eng.Backend.Validate(ctx, rq)
	if err != nil {
		actionErr(&resp.Diagnostics, titleInvalid, err)
		return
	}
	for _, w := range p.Warnings {
		resp.Diagnostics.AddWarning("Rescue", w)
	}
	w, err := eng.Preflight(ctx, rq)
	if err != nil {
		title, detail, _ := describeAction("The rescue will be refused", err)
		resp.Diagnostics.AddWarning(title, detail+"\n\nThe action refuses this rescue before any change, unless that changes by then.")
	} else if w != "" {
		resp.Diagnostics.AddWarning("Interrupted operation found", w)
	}
}

// needsPassword reports false (with an error on admin_pass_wo) when the backend makes a
// password (Nova) and none is given: an action cannot show it.
//
// An empty password is refused on every backend: NewServer hands the framework's validation the
// write-only attributes as null, so their validators (LengthAtLeast) never see the value.
func needsPassword(b rescue.Backend, pass types.String, diags *diag.Diagnostics) bool {
	if !pass.IsNull() && !pass.IsUnknown() && pass.ValueString() == "" {
		diags.AddAttributeError(path.Root("admin_pass_wo"), "Empty rescue password",
			"admin_pass_wo is an empty string: give the password the rescue system should have, or leave "+
				"the attribute out where the backend allows it (libvirt: no password).")
		return false
	}
	pm, ok := b.(rescue.PasswordMaker)
	if !ok || !pm.MakesPassword() || !pass.IsNull() {
		return true
	}
	diags.AddAttributeError(path.Root("admin_pass_wo"), "Rescue password required",
		"This backend gives every rescue a password, and an action has no outputs to show one it made: "+
			"set admin_pass_wo (write-only, for example from an ephemeral variable) to the password the rescue "+
			"system should have. To have a password made and kept, use the resource rescue_instance instead.")
	return false
}

func (a *rescueAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	m, inv := invokeAction[rescueActionModel](ctx, &a.actionBase, req.Config, resp)
	if inv == nil {
		return
	}
	defer inv.end()
	ctx, eng := inv.ctx, inv.eng
	if !needsPassword(eng.Backend, m.AdminPassWO, &resp.Diagnostics) {
		return
	}
	rq := m.request()
	id := rq.InstanceID
	// Every value is known now: everything is checked before the first change.
	p, err := eng.Backend.Validate(ctx, rq)
	if err != nil {
		actionErr(&resp.Diagnostics, titleInvalid, err)
		return
	}
	rq.Device, rq.Bus = p.Device, p.Bus
	inv.report("rescuing " + id + " (" + modeText(p) + ")")
	tflog.Info(ctx, "rescuing instance (action)", map[string]any{"image_id": rq.ImageID, "device": string(rq.Device), "bus": string(rq.Bus), "mode": string(p.Mode)})
	res, inst, err := eng.Rescue(ctx, rq)
	for _, w := range res.Warnings {
		resp.Diagnostics.AddWarning("Interrupted operation recovered", w)
	}
	if err != nil {
		actionErr(&resp.Diagnostics, "Rescue failed", err)
		if rescue.Accepted(err) {
			resp.Diagnostics.AddError("Instance may be in rescue",
				"The backend accepted the rescue of "+id+" before the error, so the instance may be in rescue or on "+
					"its way there. Nothing of it is in any state: invoke rescue_unrescue for "+id+" to undo it.")
		}
		return
	}
	if s, ok := eng.Backend.(settler); ok {
		// The rescue is complete and handed over (no state keeps it): the backend's record of it
		// is not one of a run that died.
		s.Settled(id)
	}
	inv.report("in rescue: " + id + " is " + inst.StatusText())
	tflog.Info(ctx, "instance in rescue (action)", map[string]any{"status": inst.StatusText()})
}

func modeText(p rescue.Plan) string {
	switch {
	case p.Device != "" && p.Bus != "":
		return "stable-device mode: " + string(p.Device) + " on " + string(p.Bus)
	case p.Mode == rescue.ModeStable || p.Device != "" || p.Bus != "":
		return "stable-device mode: " + string(p.Device) + string(p.Bus)
	}
	return "legacy mode"
}

// checkDeviceBus refuses at validation a device and bus that cannot go together (the rule the
// resource and the backends share).
func checkDeviceBus(device, bus types.String, diags *diag.Diagnostics) {
	if device.IsNull() || device.IsUnknown() || bus.IsNull() || bus.IsUnknown() {
		return
	}
	d, b := device.ValueString(), bus.ValueString()
	if p := rescue.CheckPair(d, b); p != nil {
		actionErr(diags, "Device and bus do not fit", p.Invalid(d, b))
	}
}
