package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

const defaultTimeout = 10 * time.Minute

var (
	_ resource.Resource                   = (*instanceResource)(nil)
	_ resource.ResourceWithConfigure      = (*instanceResource)(nil)
	_ resource.ResourceWithImportState    = (*instanceResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*instanceResource)(nil)
	_ resource.ResourceWithValidateConfig = (*instanceResource)(nil)
)

// instanceResource is rescue_instance: create rescues, delete unrescues.
type instanceResource struct {
	client *client
}

// NewInstanceResource returns the rescue_instance resource.
func NewInstanceResource() resource.Resource { return &instanceResource{} }

type instanceModel struct {
	ID              types.String   `tfsdk:"id"`
	InstanceID      types.String   `tfsdk:"instance_id"`
	ImageID         types.String   `tfsdk:"image_id"`
	Device          types.String   `tfsdk:"device"`
	Bus             types.String   `tfsdk:"bus"`
	AdminPass       types.String   `tfsdk:"admin_pass"`
	AdminPassWO     types.String   `tfsdk:"admin_pass_wo"`
	AdminPassWOVer  types.Int64    `tfsdk:"admin_pass_wo_version"`
	ShutdownTimeout types.String   `tfsdk:"shutdown_timeout"`
	Mode            types.String   `tfsdk:"mode"`
	Timeouts        timeouts.Value `tfsdk:"timeouts"`
}

func (r *instanceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance"
}

func (r *instanceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replaceComputedAdopt := []planmodifier.String{replaceUnlessImported(true, true)}
	replaceComputed := []planmodifier.String{replaceUnlessImported(true, false)}
	resp.Schema = schema.Schema{
		Description: "An instance in rescue. Creating it rescues the instance (boots it from a rescue image with its " +
			"own disks attached) and waits until it is really in rescue; destroying it unrescues the instance and " +
			"waits until it runs from its own disks again. Every change is a replacement (unrescue, then rescue).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "Equals `instance_id`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"instance_id": schema.StringAttribute{
				Required: true,
				Description: "The instance to rescue: a Nova server UUID, or a libvirt domain name or UUID. " +
					"Changing it forces a new rescue.",
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"image_id": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "The rescue image. Nova: a Glance image UUID; omitted, the server's own image. libvirt: " +
					"a file path on the host, or `pool/volume`; omitted, the backing image of the root disk, " +
					"which is then shown here.",
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: replaceComputedAdopt,
			},
			"device": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "Stable-device rescue: the rescue device type, `cdrom`, `disk` or `floppy`. On Nova it " +
					"comes from the image's `hw_rescue_device` and must match it when set.",
				Validators:    []validator.String{stringvalidator.OneOf(rescue.Devices...)},
				PlanModifiers: replaceComputedAdopt,
			},
			"bus": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "Stable-device rescue: the bus of the rescue device, `scsi`, `virtio`, `ide`, `usb`, " +
					"`sata` or `fdc`. On Nova it comes from the image's `hw_rescue_bus` and must match it when set.",
				Validators:    []validator.String{stringvalidator.OneOf(rescue.Buses...)},
				PlanModifiers: replaceComputedAdopt,
			},
			"admin_pass": schema.StringAttribute{
				Optional:  true,
				Computed:  true,
				Sensitive: true,
				Description: "The password of the rescue system. Nova: generated by the provider when omitted and " +
					"kept in state. libvirt: given to the rescue system on a config drive (label config-2); " +
					"none when omitted.",
				Validators: []validator.String{
					stringvalidator.LengthAtLeast(1),
					stringvalidator.ConflictsWith(path.MatchRoot("admin_pass_wo")),
					stringvalidator.PreferWriteOnlyAttribute(path.MatchRoot("admin_pass_wo")),
				},
				PlanModifiers: replaceComputed,
			},
			"admin_pass_wo": schema.StringAttribute{
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				Description: "Write-only (Terraform 1.11 and later): the password of the rescue system, given to the " +
					"backend as `admin_pass` is, but never stored in the plan or the state. Conflicts with " +
					"`admin_pass`; `admin_pass` stays null. Change `admin_pass_wo_version` to rescue again with a new one.",
				Validators: []validator.String{
					stringvalidator.LengthAtLeast(1),
					stringvalidator.AlsoRequires(path.MatchRoot("admin_pass_wo_version")),
				},
			},
			"admin_pass_wo_version": schema.Int64Attribute{
				Optional: true,
				Description: "A version of `admin_pass_wo` (Terraform cannot compare write-only values): changing " +
					"it forces a new rescue with the current `admin_pass_wo`.",
				Validators:    []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("admin_pass_wo"))},
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"shutdown_timeout": schema.StringAttribute{
				Optional: true,
				Description: "libvirt only: how long the guest gets to shut down cleanly (ACPI) before it is forced " +
					"off, a duration such as `\"90s\"`. Default `\"60s\"`. On Nova, shutdown is the cloud's business " +
					"(`shutdown_timeout` in nova.conf, `os_shutdown_timeout` on the image).",
				Validators: []validator.String{durationValidator{}},
			},
			"mode": schema.StringAttribute{
				Computed:      true,
				Description:   "`stable` when device/bus are in effect (stable-device rescue), else `legacy`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"timeouts": timeouts.Attributes(ctx, timeouts.Opts{Create: true, Read: true, Delete: true, Update: true}),
		},
	}
}

func (r *instanceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientOf(req.ProviderData, &resp.Diagnostics)
}

// clientOf is the client Configure handed to resources and data sources (nil before the
// provider is configured).
func clientOf(data any, diags *diag.Diagnostics) *client {
	if data == nil {
		return nil
	}
	c, ok := data.(*client)
	if !ok {
		diags.AddError("Unexpected provider data", "This is a bug in the provider: please report it.")
	}
	return c
}

func (r *instanceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx, cancel := context.WithTimeout(ctx, defaultTimeout)
	defer cancel()
	eng, err := r.engine(ctx)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot import", err)
		return
	}
	id := importID(ctx, req, eng.Backend, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	inst, err := eng.Read(ctx, id)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot import", err)
		return
	}
	if inst.State != rescue.StateRescued {
		resp.Diagnostics.AddError("Instance is not in rescue",
			"Only an instance in rescue can be imported as rescue_instance; "+id+" is "+inst.StatusText()+
				". To rescue it, add the resource to the configuration and apply.")
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("instance_id"), id)...)
	resp.Diagnostics.Append(setIdentity(ctx, resp.Identity, id, eng.Backend)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateImported, []byte(`true`))...)
}

func (r *instanceResource) engine(ctx context.Context) (*rescue.Engine, error) {
	if r.client == nil {
		return nil, errConfigUnknown
	}
	return r.client.Engine(ctx)
}
