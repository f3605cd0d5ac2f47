package provider

import (
	"context"
	"iter"

	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var (
	_ list.ListResource              = (*instanceList)(nil)
	_ list.ListResourceWithConfigure = (*instanceList)(nil)
)

// instanceList is the list resource of rescue_instance (`terraform query`, Terraform 1.14 and
// later): the instances in rescue, each with its identity and, when asked, the resource as an
// import would read it, so that -generate-config-out turns rescues into import blocks and code.
type instanceList struct {
	client *client
}

// NewInstanceListResource returns the list resource of rescue_instance.
func NewInstanceListResource() list.ListResource { return &instanceList{} }

func (l *instanceList) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance"
}

func (l *instanceList) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The instances in rescue (Nova servers, libvirt domains), filtered as `rescue_instances` filters, " +
			"as `rescue_instance` resources: `terraform query -generate-config-out=FILE` writes an `import` block and " +
			"the configuration of each, so that rescues made by hand or left by an interrupted run become code. " +
			"Instances not in rescue, or whose rescue is under way or failed, are not listed (an import would refuse them).",
		Attributes: map[string]schema.Attribute{
			"name_regex":   schema.StringAttribute{Optional: true, Description: descNameRegex, Validators: []validator.String{regexValidator{}}},
			"status":       schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: descStatus},
			"metadata":     schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: descMetadata},
			"tags":         schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: descTags},
			"all_projects": schema.BoolAttribute{Optional: true, Description: descAllProjects},
		},
	}
}

func (l *instanceList) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	l.client = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (l *instanceList) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	var m filterModel
	diags := req.Config.Get(ctx, &m)
	if diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	f := m.filter(l.client, &diags)
	inRescue := true
	f.InRescue = &inRescue
	if l.client == nil {
		diags.AddError("Cannot list instances", errConfigUnknown.Error())
	}
	if diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	stream.Results = l.results(ctx, req, f)
}

// results lists the backend's instances in rescue and reads each (as an import would), bounded
// by the default timeout; an error ends the stream with it.
func (l *instanceList) results(ctx context.Context, req list.ListRequest, f rescue.Filter) iter.Seq[list.ListResult] {
	return func(push func(list.ListResult) bool) {
		ctx, cancel := context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
		fail := func(summary string, err error) {
			r := list.ListResult{}
			addErr(&r.Diagnostics, summary, err)
			push(r)
		}
		eng, err := l.client.Engine(ctx)
		if err != nil {
			fail("Cannot reach the backend", err)
			return
		}
		lister, ok := eng.Backend.(rescue.Lister)
		if !ok {
			fail("Cannot list instances", errNoLister)
			return
		}
		found, err := lister.List(ctx, f)
		if err != nil {
			fail("Cannot list instances", err)
			return
		}
		var n int64
		for _, item := range found {
			if req.Limit > 0 && n >= req.Limit {
				return
			}
			inst, err := eng.Read(ctx, item.ID)
			if rescue.IsNotFound(err) {
				continue // gone since the listing
			}
			if err != nil {
				fail("Cannot read the instance", err)
				return
			}
			if inst.State != rescue.StateRescued {
				tflog.Info(ctx, "not listed: not cleanly in rescue", map[string]any{"instance_id": item.ID, "status": inst.StatusText()})
				continue
			}
			n++
			if !push(l.result(ctx, req, eng.Backend, item, inst)) {
				return
			}
		}
	}
}

// result is one instance in rescue: its identity and, when asked, the resource as an import of
// it followed by a read stores it (secrets and timeouts null).
func (l *instanceList) result(ctx context.Context, req list.ListRequest, b rescue.Backend, item rescue.Listed, inst *rescue.Instance) list.ListResult {
	r := req.NewListResult(ctx)
	r.DisplayName = item.Name
	r.Diagnostics.Append(setIdentity(ctx, r.Identity, item.ID, b)...)
	if !req.IncludeResource {
		return r
	}
	for attr, v := range map[string]types.String{
		"id": types.StringValue(item.ID), "instance_id": types.StringValue(item.ID),
		"image_id": strOrNull(inst.ImageID), "device": strOrNull(inst.Device), "bus": strOrNull(inst.Bus),
		"mode": strOrNull(string(inst.Mode)),
	} {
		r.Diagnostics.Append(r.Resource.SetAttribute(ctx, path.Root(attr), v)...)
	}
	return r
}
