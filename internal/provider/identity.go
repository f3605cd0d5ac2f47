package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ resource.ResourceWithIdentity = (*instanceResource)(nil)

// identityModel is rescue_instance's resource identity (Terraform 1.12 and later): the instance,
// and the backend that scopes its id.
type identityModel struct {
	InstanceID types.String `tfsdk:"instance_id"`
	Scope      types.String `tfsdk:"scope"`
}

func (r *instanceResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			"instance_id": identityschema.StringAttribute{
				RequiredForImport: true,
				Description:       "The instance: a Nova server UUID, or a libvirt domain name or UUID.",
			},
			"scope": identityschema.StringAttribute{
				OptionalForImport: true,
				Description: "What the instance id is unique in: `openstack:<compute endpoint>` (the cloud and " +
					"region), or `libvirt:<connection URI>` (the host). An import whose scope is not the " +
					"provider's is refused.",
			},
		},
	}
}

// scopeOf is the identity scope of the backend ("" when it has none).
func scopeOf(b rescue.Backend) string {
	if s, ok := b.(rescue.Scoper); ok {
		return s.Scope()
	}
	return ""
}

// setIdentity records the identity of an instance (no-op when Terraform does not support them).
func setIdentity(ctx context.Context, id *tfsdk.ResourceIdentity, instanceID string, b rescue.Backend) diag.Diagnostics {
	if id == nil {
		return nil
	}
	return id.Set(ctx, identityModel{InstanceID: types.StringValue(instanceID), Scope: strOrNull(scopeOf(b))})
}

// importID is the instance an import names: the import id, or the identity's instance_id (an
// `import` block with `identity`), whose scope, when given, must be the backend's.
func importID(ctx context.Context, req resource.ImportStateRequest, b rescue.Backend, diags *diag.Diagnostics) string {
	if req.ID != "" || req.Identity == nil {
		return req.ID
	}
	var m identityModel
	diags.Append(req.Identity.Get(ctx, &m)...)
	if diags.HasError() {
		return ""
	}
	if want, have := m.Scope.ValueString(), scopeOf(b); want != "" && have != "" && want != have {
		diags.AddAttributeError(path.Root("scope"), "Instance of another backend",
			"The identity's scope is "+want+", but this provider configuration reaches "+have+
				". Import it with a provider (alias) configured for that backend, or leave scope out.")
		return ""
	}
	return m.InstanceID.ValueString()
}
