package provider

import (
	"errors"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// filterModel is the instance filter that rescue_instances and the rescue_instance list resource
// (`terraform query`) share.
type filterModel struct {
	NameRegex   types.String   `tfsdk:"name_regex"`
	Status      []types.String `tfsdk:"status"`
	Metadata    types.Map      `tfsdk:"metadata"`
	Tags        []types.String `tfsdk:"tags"`
	AllProjects types.Bool     `tfsdk:"all_projects"`
}

// errNoLister: the backend cannot list its instances (every backend of the provider can).
var errNoLister = errors.New("this backend cannot list its instances")

// Descriptions of the filter attributes, the same in both schemas.
const (
	descNameRegex = "Keep instances whose name matches this regular expression (RE2 syntax, unanchored)."
	descStatus    = "Keep instances in one of these backend statuses, compared without regard to case: " +
		"Nova's (`ACTIVE`, `SHUTOFF`, `ERROR`, `RESCUE`, ...) or libvirt's domain states (`running`, " +
		"`shut off`, `paused`, ...)."
	descMetadata    = "Nova only: keep servers whose metadata has every one of these keys with this value."
	descTags        = "Nova only: keep servers that have every one of these tags."
	descAllProjects = "Nova only: list the servers of every project (administrators)."
)

// filter turns the configuration into an engine filter (InRescue is the caller's); Nova-only
// filters on a libvirt backend are errors on their attribute.
func (m filterModel) filter(c *client, diags *diag.Diagnostics) rescue.Filter {
	var f rescue.Filter
	if v := m.NameRegex.ValueString(); v != "" {
		f.NameRegex = regexp.MustCompile(v) // validated at plan (regexValidator)
	}
	for _, s := range m.Status {
		f.Statuses = append(f.Statuses, s.ValueString())
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
				diags.AddAttributeError(path.Root(attr), "Not a libvirt filter",
					attr+" filters Nova servers; libvirt domains have no such thing. Remove it, or filter by name_regex, status or in_rescue.")
			}
		}
	}
	return f
}
