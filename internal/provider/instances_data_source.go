package provider

import (
	"context"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/datasource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var (
	_ datasource.DataSource              = (*instancesDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*instancesDataSource)(nil)
)

// instancesDataSource is rescue_instances: the instances of the backend, filtered, with their
// rescue (for for_each mass rescue and CI audits of forgotten rescues).
type instancesDataSource struct {
	client *client
}

// NewInstancesDataSource returns the rescue_instances data source.
func NewInstancesDataSource() datasource.DataSource { return &instancesDataSource{} }

type instancesModel struct {
	filterModel
	InRescue  types.Bool     `tfsdk:"in_rescue"`
	Instances []listedModel  `tfsdk:"instances"`
	Timeouts  timeouts.Value `tfsdk:"timeouts"`
}

type listedModel struct {
	ID         types.String `tfsdk:"id"`
	Name       types.String `tfsdk:"name"`
	Status     types.String `tfsdk:"status"`
	InRescue   types.Bool   `tfsdk:"in_rescue"`
	RescuedAt  types.String `tfsdk:"rescued_at"`
	Mode       types.String `tfsdk:"mode"`
	Device     types.String `tfsdk:"device"`
	Bus        types.String `tfsdk:"bus"`
	ImageID    types.String `tfsdk:"image_id"`
	ByProvider types.Bool   `tfsdk:"by_provider"`
}

func (d *instancesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instances"
}

func (d *instancesDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "The instances of the backend (Nova servers, libvirt domains), filtered, with their rescue: " +
			"which are in rescue, since when and how. For `for_each` over broken instances, and for `check` " +
			"blocks that catch forgotten rescues in CI.",
		Attributes: map[string]schema.Attribute{
			"name_regex": schema.StringAttribute{
				Optional:    true,
				Description: descNameRegex,
				Validators:  []validator.String{regexValidator{}},
			},
			"status": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: descStatus,
			},
			"in_rescue": schema.BoolAttribute{
				Optional:    true,
				Description: "`true` keeps only instances in rescue, `false` only those not in rescue.",
			},
			"metadata": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: descMetadata,
			},
			"tags": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: descTags,
			},
			"all_projects": schema.BoolAttribute{
				Optional:    true,
				Description: descAllProjects,
			},
			"instances": schema.ListNestedAttribute{
				Computed:    true,
				Description: "The instances found, ordered by name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":        str("The instance id (Nova server UUID, libvirt domain UUID): what `instance_id` takes."),
					"name":      str("The instance's name."),
					"status":    str("The backend's status of the instance."),
					"in_rescue": schema.BoolAttribute{Computed: true, Description: "Whether the instance is in rescue (or a rescue of it is under way)."},
					"rescued_at": str("When its current rescue began (RFC 3339, UTC); null when not in rescue or unknown. " +
						"Nova: the start of the server's latest rescue action; libvirt: the rescue journal."),
					"mode":     str("`stable` or `legacy` when in rescue and known (libvirt)."),
					"device":   str("The rescue device when in rescue and known (libvirt)."),
					"bus":      str("The rescue bus when in rescue and known (libvirt)."),
					"image_id": str("The rescue image when in rescue and known (libvirt)."),
					"by_provider": schema.BoolAttribute{Computed: true, Description: "Whether the rescue was made by this " +
						"provider (libvirt: its journal is on the domain); null when the backend cannot tell (Nova)."},
				}},
			},
			"timeouts": timeouts.Attributes(ctx),
		},
	}
}

func (d *instancesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (d *instancesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m instancesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := m.Timeouts.Read(ctx, defaultTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := m.filter(d.client, &resp.Diagnostics)
	if !m.InRescue.IsNull() {
		v := m.InRescue.ValueBool()
		f.InRescue = &v
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if d.client == nil {
		resp.Diagnostics.AddError("Cannot list instances", errConfigUnknown.Error())
		return
	}
	eng, err := d.client.Engine(ctx)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot reach the backend", err)
		return
	}
	lister, ok := eng.Backend.(rescue.Lister)
	if !ok {
		resp.Diagnostics.AddError("Cannot list instances", "This backend cannot list its instances.")
		return
	}
	found, err := lister.List(ctx, f)
	if err != nil {
		addErr(&resp.Diagnostics, "Cannot list instances", err)
		return
	}
	m.Instances = make([]listedModel, 0, len(found))
	for _, l := range found {
		m.Instances = append(m.Instances, listedOf(l))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func listedOf(l rescue.Listed) listedModel {
	out := listedModel{
		ID: types.StringValue(l.ID), Name: types.StringValue(l.Name), Status: types.StringValue(l.Status),
		InRescue: types.BoolValue(l.InRescue), RescuedAt: types.StringNull(),
		Mode: strOrNull(string(l.Mode)), Device: strOrNull(l.Device), Bus: strOrNull(l.Bus), ImageID: strOrNull(l.ImageID),
		ByProvider: types.BoolNull(),
	}
	if !l.RescuedAt.IsZero() {
		out.RescuedAt = types.StringValue(l.RescuedAt.UTC().Format(time.RFC3339))
	}
	if l.ByProvider != nil {
		out.ByProvider = types.BoolValue(*l.ByProvider)
	}
	return out
}

// regexValidator refuses a name_regex that does not compile (RE2).
type regexValidator struct{}

func (regexValidator) Description(context.Context) string { return "a regular expression (RE2)" }

func (v regexValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (regexValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := regexp.Compile(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid regular expression",
			"name_regex must be an RE2 regular expression (Go's regexp syntax): "+err.Error())
	}
}
