// Package provider is the Terraform face of the project: the provider configuration and the
// rescue_instance resource. It converts plan and state to engine types; it does no HTTP or XML.
package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ provider.Provider = (*rescueProvider)(nil)
var _ provider.ProviderWithValidateConfig = (*rescueProvider)(nil)
var _ provider.ProviderWithListResources = (*rescueProvider)(nil)
var _ provider.ProviderWithActions = (*rescueProvider)(nil)

// rescueProvider is the "rescue" provider.
type rescueProvider struct {
	version string
	// backend, when set, is used instead of the backend the configuration names (the fast
	// test tier injects a fake, as terraform-provider-time injects its clock).
	backend func(ctx context.Context) (rescue.Backend, error)
}

// New returns a constructor of the provider for providerserver.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &rescueProvider{version: version} }
}

// NewWithBackend returns a constructor of the provider whose resources use the backend that open
// returns, whatever the configuration says: for the fast test tier.
func NewWithBackend(version string, open func(ctx context.Context) (rescue.Backend, error)) func() provider.Provider {
	return func() provider.Provider { return &rescueProvider{version: version, backend: open} }
}

type providerModel struct {
	OpenStack *openstackModel `tfsdk:"openstack"`
	Libvirt   *libvirtModel   `tfsdk:"libvirt"`
}

type openstackModel struct {
	Cloud                       types.String `tfsdk:"cloud"`
	AuthURL                     types.String `tfsdk:"auth_url"`
	Region                      types.String `tfsdk:"region"`
	UserName                    types.String `tfsdk:"user_name"`
	UserID                      types.String `tfsdk:"user_id"`
	Password                    types.String `tfsdk:"password"`
	TenantName                  types.String `tfsdk:"tenant_name"`
	TenantID                    types.String `tfsdk:"tenant_id"`
	UserDomainName              types.String `tfsdk:"user_domain_name"`
	UserDomainID                types.String `tfsdk:"user_domain_id"`
	ProjectDomainName           types.String `tfsdk:"project_domain_name"`
	ProjectDomainID             types.String `tfsdk:"project_domain_id"`
	DomainName                  types.String `tfsdk:"domain_name"`
	DomainID                    types.String `tfsdk:"domain_id"`
	DefaultDomain               types.String `tfsdk:"default_domain"`
	ApplicationCredentialID     types.String `tfsdk:"application_credential_id"`
	ApplicationCredentialName   types.String `tfsdk:"application_credential_name"`
	ApplicationCredentialSecret types.String `tfsdk:"application_credential_secret"`
	Token                       types.String `tfsdk:"token"`
	Insecure                    types.Bool   `tfsdk:"insecure"`
	CACertFile                  types.String `tfsdk:"cacert_file"`
	Cert                        types.String `tfsdk:"cert"`
	Key                         types.String `tfsdk:"key"`
	EndpointType                types.String `tfsdk:"endpoint_type"`
	EndpointOverrides           types.Map    `tfsdk:"endpoint_overrides"`
	MaxRetries                  types.Int64  `tfsdk:"max_retries"`
	AllowReauth                 types.Bool   `tfsdk:"allow_reauth"`

	// MaxRequestsPerSecond paces the connection (ratelimit.go).
	MaxRequestsPerSecond types.Float64 `tfsdk:"max_requests_per_second"`
}

type libvirtModel struct {
	URI types.String `tfsdk:"uri"`
	// MaxRequestsPerSecond paces the connections (ratelimit.go).
	MaxRequestsPerSecond types.Float64 `tfsdk:"max_requests_per_second"`
}

func (p *rescueProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "rescue"
	resp.Version = p.version
}

func str(desc string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Description: desc}
}

func secret(desc string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Sensitive: true, Description: desc}
}

func (p *rescueProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Makes instance rescue declarative: `terraform apply` rescues an instance (boots it from a " +
			"rescue image with its own disks attached), `terraform destroy` unrescues it. Configure exactly one " +
			"backend block: `openstack` (the Nova API) or `libvirt` (any libvirt host). Without a block, the " +
			"environment decides: `OS_CLOUD` or `OS_AUTH_URL` selects OpenStack, `LIBVIRT_DEFAULT_URI` selects libvirt.",
		Blocks: map[string]schema.Block{
			"openstack": schema.SingleNestedBlock{
				Description: "The OpenStack Compute (Nova) backend. Attribute names and `OS_*` variables are those of " +
					"terraform-provider-openstack; empty attributes fall back to the environment and to clouds.yaml.",
				Attributes: map[string]schema.Attribute{
					"cloud":                       str("An entry of clouds.yaml (`OS_CLOUD`)."),
					"auth_url":                    str("The Identity (Keystone) endpoint (`OS_AUTH_URL`)."),
					"region":                      str("The region (`OS_REGION_NAME`)."),
					"user_name":                   str("User name for password auth (`OS_USERNAME`)."),
					"user_id":                     str("User ID for password auth (`OS_USER_ID`)."),
					"password":                    secret("Password (`OS_PASSWORD`)."),
					"tenant_name":                 str("Project name (`OS_TENANT_NAME`, `OS_PROJECT_NAME`)."),
					"tenant_id":                   str("Project ID (`OS_TENANT_ID`, `OS_PROJECT_ID`)."),
					"user_domain_name":            str("Domain name of the user (`OS_USER_DOMAIN_NAME`)."),
					"user_domain_id":              str("Domain ID of the user (`OS_USER_DOMAIN_ID`)."),
					"project_domain_name":         str("Domain name of the project (`OS_PROJECT_DOMAIN_NAME`)."),
					"project_domain_id":           str("Domain ID of the project (`OS_PROJECT_DOMAIN_ID`)."),
					"domain_name":                 str("Domain name for user and project (`OS_DOMAIN_NAME`)."),
					"domain_id":                   str("Domain ID for user and project (`OS_DOMAIN_ID`)."),
					"default_domain":              str("Domain ID used when no other domain is given (`OS_DEFAULT_DOMAIN`)."),
					"application_credential_id":   str("Application credential ID (`OS_APPLICATION_CREDENTIAL_ID`)."),
					"application_credential_name": str("Application credential name (`OS_APPLICATION_CREDENTIAL_NAME`)."),
					"application_credential_secret": secret(
						"Application credential secret (`OS_APPLICATION_CREDENTIAL_SECRET`)."),
					"token": secret("An existing token (`OS_AUTH_TOKEN`). With `endpoint_overrides.compute` and no " +
						"`auth_url`, no Identity request is made."),
					"insecure":    schema.BoolAttribute{Optional: true, Description: "Skip TLS verification (`OS_INSECURE`)."},
					"cacert_file": str("CA bundle to verify endpoints, a path or PEM contents (`OS_CACERT`)."),
					"cert":        str("Client certificate, a path or PEM contents (`OS_CERT`)."),
					"key":         secret("Client key, a path or PEM contents (`OS_KEY`)."),
					"endpoint_type": schema.StringAttribute{
						Optional:    true,
						Description: "Catalog interface: `public`, `internal` or `admin` (`OS_ENDPOINT_TYPE`, `OS_INTERFACE`).",
						Validators: []validator.String{stringvalidator.OneOf(
							"public", "publicURL", "internal", "internalURL", "admin", "adminURL")},
					},
					"endpoint_overrides": schema.MapAttribute{
						Optional:    true,
						ElementType: types.StringType,
						Description: "Service type (`compute`, `image`, `identity`) to URL, used instead of the catalog.",
					},
					"max_retries": schema.Int64Attribute{
						Optional:    true,
						Description: "How often a request is retried on 429 (after Retry-After) and a GET also on 502/503/504 and transport errors. Default 5. Waits retry beyond this until the resource's timeout.",
						Validators:  []validator.Int64{int64validator.Between(0, 100)},
					},
					"allow_reauth": schema.BoolAttribute{
						Optional:    true,
						Description: "Authenticate again when the token expires. Default true (`OS_ALLOW_REAUTH`).",
					},
					"max_requests_per_second": maxRequestsPerSecond(),
				},
			},
			"libvirt": schema.SingleNestedBlock{
				Description: "The libvirt backend: rescue is done the way Nova's libvirt driver does it.",
				Attributes: map[string]schema.Attribute{
					"uri": schema.StringAttribute{
						Optional: true,
						Description: "Connection URI (`LIBVIRT_DEFAULT_URI`, default `qemu:///system`): " +
							"`qemu:///system`, `qemu+unix:///system?socket=PATH`, `qemu+ssh://user@host/system?keyfile=PATH`, " +
							"`qemu+tcp://host/system`, `qemu+tls://host/system?pkipath=DIR`, `test+unix:///default?socket=PATH`.",
					},
					"max_requests_per_second": libvirtMaxRequestsPerSecond(),
				},
			},
		},
	}
}

func (p *rescueProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.OpenStack != nil && cfg.Libvirt != nil {
		resp.Diagnostics.AddAttributeError(path.Root("libvirt"), "Two backend blocks",
			"Configure exactly one backend block: either `openstack` or `libvirt`. Use a provider alias for each backend.")
	}
}

func (p *rescueProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if p.backend != nil {
		c := &client{kind: "injected", open: p.backend}
		resp.ResourceData, resp.DataSourceData, resp.ListResourceData, resp.ActionData = c, c, c, c
		return
	}
	data, diags := sharedClient(configKey(req.Config.Raw.String(), os.Environ()), func() (*client, diag.Diagnostics) {
		return newClient(cfg, os.Getenv, p.version)
	})
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	tflog.Debug(ctx, "rescue provider configured", map[string]any{"backend": data.kind})
	resp.ResourceData, resp.DataSourceData, resp.ListResourceData, resp.ActionData = data, data, data, data
}

func (p *rescueProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewInstanceResource}
}

// ListResources are what `terraform query` lists (Terraform 1.14 and later).
func (p *rescueProvider) ListResources(context.Context) []func() list.ListResource {
	return []func() list.ListResource{NewInstanceListResource}
}

// Actions are the break-glass actions (Terraform 1.14 and later).
func (p *rescueProvider) Actions(context.Context) []func() action.Action {
	return []func() action.Action{NewRescueAction, NewUnrescueAction}
}

func (p *rescueProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewInstancesDataSource}
}
