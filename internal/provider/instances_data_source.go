package provider

import (
	"context"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/datasource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
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
	NameRegex   types.String   `tfsdk:"name_regex"`
	Status      []types.String `tfsdk:"status"`
	InRescue    types.Bool     `tfsdk:"in_rescue"`
	Metadata    types.Map      `tfsdk:"metadata"`
	Tags        []types.String `tfsdk:"tags"`
	AllProjects types.Bool     `tfsdk:"all_projects"`
	Instances   []listedModel  `tfsdk:"instances"`
	Timeouts    timeouts.Value `tfsdk:"timeouts"`
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
				Description: "Keep instances whose name matches this regular expression (RE2 syntax, unanchored).",
				Validators:  []validator.String{regexValidator{}},
			},
			"status": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Keep instances in one of these backend statuses, compared without regard to case: " +
					"Nova's (`ACTIVE`, `SHUTOFF`, `ERROR`, `RESCUE`, ...) or libvirt's domain states (`running`, " +
					"`shut off`, `paused`, ...).",
			},
			"in_rescue": schema.BoolAttribute{
				Optional:    true,
				Description: "`true` keeps only instances in rescue, `false` only those not in rescue.",
			},
			"metadata": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Nova only: keep servers whose metadata has every one of these keys with this value.",
			},
			"tags": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Nova only: keep servers that have every one of these tags.",
			},
			"all_projects": schema.BoolAttribute{
				Optional:    true,
				Description: "Nova only: list the servers of every project (administrators).",
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
	f, ok := m.filter(d.client, resp)
	if !ok {
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

// filter turns the configuration into an engine filter; Nova-only filters on libvirt are errors.
func (m *instancesModel) filter(c *client, resp *datasource.ReadResponse) (rescue.Filter, bool) {
	var f rescue.Filter
	if v := m.NameRegex.ValueString(); v != "" {
		f.NameRegex = regexp.MustCompile(v) // validated at plan
	}
	for _, s := range m.Status {
		f.Statuses = append(f.Statuses, s.ValueString())
	}
	if !m.InRescue.IsNull() {
		v := m.InRescue.ValueBool()
		f.InRescue = &v
	}
	if !m.Metadata.IsNull() {
		f.Metadata = map[string]string{}
		for k, v := range m.Metadata.Elements() {
			if s, ok := v.(types.String); ok {
				f.Metadata[k] = s.ValueString()
			}
		}
	}
	for _, t := range m.Tags {
		f.Tags = append(f.Tags, t.ValueString())
	}
	f.AllProjects = m.AllProjects.ValueBool()
	if c != nil && c.kind == kindLibvirt {
		for attr, set := range map[string]bool{"metadata": f.Metadata != nil, "tags": f.Tags != nil, "all_projects": f.AllProjects} {
			if set {
				resp.Diagnostics.AddAttributeError(path.Root(attr), "Not a libvirt filter",
					attr+" filters Nova servers; libvirt domains have no such thing. Remove it, or filter by name_regex, status or in_rescue.")
			}
		}
	}
	return f, !resp.Diagnostics.HasError()
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
