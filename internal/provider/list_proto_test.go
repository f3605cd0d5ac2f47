package provider_test

// The rescue_instance list resource (`terraform query`, Terraform 1.14 and later; the CLI here is
// 1.11) at the plugin-protocol level: the provider server is called as Terraform would call it,
// against the fake (fast tier), the real Nova and the real libvirtd.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// listClient calls the list resource of rescue_instance on a configured provider server.
type listClient struct {
	t                  *testing.T
	srv                tfprotov6.ProviderServer
	cfg, state, idType tftypes.Type
}

// listed is one streamed result, decoded (resource nil when not asked for).
type listed struct {
	display  string
	identity map[string]string
	resource map[string]string
}

func newListClient(t *testing.T, srv tfprotov6.ProviderServer, schemas *tfprotov6.GetProviderSchemaResponse) *listClient {
	t.Helper()
	ls := schemas.ListResourceSchemas["rescue_instance"]
	if ls == nil {
		t.Fatalf("GetProviderSchema: no list resource schema for rescue_instance (have %v)", schemas.ListResourceSchemas)
	}
	ids, err := srv.GetResourceIdentitySchemas(context.Background(), &tfprotov6.GetResourceIdentitySchemasRequest{})
	if err != nil || len(ids.Diagnostics) > 0 {
		t.Fatalf("GetResourceIdentitySchemas: %v %v", err, ids.Diagnostics)
	}
	return &listClient{t: t, srv: srv, cfg: ls.ValueType(), state: schemas.ResourceSchemas["rescue_instance"].ValueType(),
		idType: ids.IdentitySchemas["rescue_instance"].ValueType()}
}

// validate calls ValidateListResourceConfig and returns its diagnostics' summaries.
func (c *listClient) validate(vals map[string]tftypes.Value) []string {
	c.t.Helper()
	cfg := dynamic(c.t, c.cfg, vals)
	resp, err := c.srv.(tfprotov6.ListResourceServer).ValidateListResourceConfig(context.Background(),
		&tfprotov6.ValidateListResourceConfigRequest{TypeName: "rescue_instance", Config: &cfg})
	if err != nil {
		c.t.Fatal(err)
	}
	return summaries(resp.Diagnostics)
}

// list calls ListResource and collects the stream: the results, and the summaries of any
// diagnostics.
func (c *listClient) list(vals map[string]tftypes.Value, include bool, limit int64) ([]listed, []string) {
	c.t.Helper()
	cfg := dynamic(c.t, c.cfg, vals)
	stream, err := c.srv.(tfprotov6.ListResourceServer).ListResource(context.Background(),
		&tfprotov6.ListResourceRequest{TypeName: "rescue_instance", Config: &cfg, IncludeResource: include, Limit: limit})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []listed
	var diags []string
	for r := range stream.Results {
		diags = append(diags, summaries(r.Diagnostics)...)
		if r.Identity == nil {
			continue
		}
		l := listed{display: r.DisplayName, identity: decode(c.t, c.idType, r.Identity.IdentityData)}
		if r.Resource != nil {
			l.resource = decode(c.t, c.state, r.Resource)
		}
		out = append(out, l)
	}
	return out, diags
}

func summaries(ds []*tfprotov6.Diagnostic) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s: %s", d.Summary, d.Detail))
	}
	return out
}

func str(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }

// strs is a list(string) value.
func strs(ss ...string) tftypes.Value {
	var vs []tftypes.Value
	for _, s := range ss {
		vs = append(vs, str(s))
	}
	return tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, vs)
}

// strMap is a map(string) value.
func strMap(m map[string]string) tftypes.Value {
	vs := map[string]tftypes.Value{}
	for k, v := range m {
		vs[k] = str(v)
	}
	return tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, vs)
}

// instanceIDs are the identities' instance ids, in stream order.
func instanceIDs(ls []listed) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.identity["instance_id"])
	}
	return out
}

// The list resource against the fake: schema, validation, filters, limit, identities and
// resource objects.
func TestProto_listResource(t *testing.T) {
	f := rescuetest.New("web-1", "web-2", "web-3", "db-1", "idle-1")
	for _, id := range []string{"web-1", "web-2", "db-1"} {
		f.Set(id, rescue.StateRescued)
	}
	f.Set("web-3", rescue.StateError) // a rescue stopped halfway: an import would refuse it
	f.Label("web-1", map[string]string{"tier": "web"}, []string{"prod"}, time.Time{})
	srv, schemas := protoServer(t, f)
	c := newListClient(t, srv, schemas)

	var attrs []string
	for _, a := range schemas.ListResourceSchemas["rescue_instance"].Block.Attributes {
		attrs = append(attrs, a.Name)
	}
	slices.Sort(attrs)
	if want := []string{"all_projects", "metadata", "name_regex", "status", "tags"}; !slices.Equal(attrs, want) {
		t.Fatalf("list schema attributes %v, want %v", attrs, want)
	}

	if d := c.validate(map[string]tftypes.Value{"name_regex": str("^web-")}); len(d) > 0 {
		t.Fatalf("valid config refused: %v", d)
	}
	if d := c.validate(map[string]tftypes.Value{"name_regex": str("web-(")}); len(d) != 1 || !strings.Contains(d[0], "Invalid regular expression") {
		t.Fatalf("invalid name_regex: diagnostics %v", d)
	}

	all, diags := c.list(nil, false, 0)
	if len(diags) > 0 || !slices.Equal(instanceIDs(all), []string{"db-1", "web-1", "web-2"}) {
		t.Fatalf("list all: %v %v", instanceIDs(all), diags)
	}
	for _, l := range all {
		if l.identity["scope"] != "fake:test" || l.resource != nil || l.display == "" {
			t.Fatalf("result %+v", l)
		}
	}

	web, diags := c.list(map[string]tftypes.Value{"name_regex": str("^web-")}, true, 0)
	if len(diags) > 0 || !slices.Equal(instanceIDs(web), []string{"web-1", "web-2"}) {
		t.Fatalf("list ^web- with resources: %v %v", instanceIDs(web), diags)
	}
	for _, l := range web {
		id := l.identity["instance_id"]
		if l.resource == nil || l.resource["id"] != id || l.resource["instance_id"] != id || l.resource["admin_pass"] != "" {
			t.Fatalf("resource object of %s: %v", id, l.resource)
		}
	}

	for name, tc := range map[string]struct {
		vals  map[string]tftypes.Value
		limit int64
		want  []string
	}{
		"limit":    {nil, 2, []string{"db-1", "web-1"}},
		"metadata": {map[string]tftypes.Value{"metadata": strMap(map[string]string{"tier": "web"}), "tags": strs("prod")}, 0, []string{"web-1"}},
		"status":   {map[string]tftypes.Value{"status": strs("active")}, 0, nil},
	} {
		got, diags := c.list(tc.vals, false, tc.limit)
		if len(diags) > 0 || !slices.Equal(instanceIDs(got), tc.want) {
			t.Errorf("%s: %v %v, want %v", name, instanceIDs(got), diags, tc.want)
		}
	}
}

// configuredListServer is the real provider (no injected backend) configured with one backend
// block, as Terraform configures it.
func configuredListServer(t *testing.T, block string, vals map[string]tftypes.Value) (tfprotov6.ProviderServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	ctx := context.Background()
	srv, err := providerserver.NewProtocol6WithError(provider.New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatalf("GetProviderSchema: %v %v", err, schemas.Diagnostics)
	}
	typ := schemas.Provider.ValueType()
	inner := dynamic(t, typ.(tftypes.Object).AttributeTypes[block], vals)
	innerVal, err := inner.Unmarshal(typ.(tftypes.Object).AttributeTypes[block])
	if err != nil {
		t.Fatal(err)
	}
	cfg := dynamic(t, typ, map[string]tftypes.Value{block: innerVal})
	resp, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &cfg})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("ConfigureProvider: %v %v", err, summaries(resp.Diagnostics))
	}
	return srv, schemas
}

// Against Nova's own code: a server rescued by hand is listed with its identity and resource
// object; one not in rescue is not.
func TestProtoNova_listResource(t *testing.T) {
	n := acctest.StartNovaT(t)
	prefix := fmt.Sprintf("lst-%d-", time.Now().UnixNano())
	rescued := n.CreateServer(t, acctest.ServerOpts{Name: prefix + "rescued"})
	plain := n.CreateServer(t, acctest.ServerOpts{Name: prefix + "plain"})
	n.RescueOOB(t, rescued, "")
	srv, schemas := configuredListServer(t, "openstack", map[string]tftypes.Value{
		"token":              str(n.Token),
		"endpoint_overrides": strMap(map[string]string{"compute": n.ComputeURL, "image": n.ImageURL}),
	})
	c := newListClient(t, srv, schemas)
	got, diags := c.list(map[string]tftypes.Value{"name_regex": str("^" + prefix)}, true, 0)
	if len(diags) > 0 || len(got) != 1 {
		t.Fatalf("listed %+v %v; want only %s (not %s)", got, diags, rescued, plain)
	}
	l := got[0]
	if l.identity["instance_id"] != rescued || !strings.HasPrefix(l.identity["scope"], "openstack:"+strings.TrimSuffix(n.ComputeURL, "/")) {
		t.Fatalf("identity %v, want instance_id %s and scope openstack:%s", l.identity, rescued, n.ComputeURL)
	}
	if l.display != prefix+"rescued" || l.resource["id"] != rescued || l.resource["instance_id"] != rescued {
		t.Fatalf("display %q, resource %v", l.display, l.resource)
	}
	// Filters reach Nova too: a status that the rescued server is not in finds nothing.
	if got, diags := c.list(map[string]tftypes.Value{"name_regex": str("^" + prefix), "status": strs("ACTIVE")}, false, 0); len(got) != 0 || len(diags) > 0 {
		t.Fatalf("status ACTIVE: %+v %v", got, diags)
	}
}

// Against the private libvirtd (test driver): a domain rescued by hand through the backend is
// listed with its identity (domain UUID, the URI's scope) and resource object; one not in
// rescue is not; Nova-only filters are refused.
func TestProtoLibvirt_listResource(t *testing.T) {
	_, s := lvTD(t)
	img := tdVolume(t, s, "lst-rescue.iso", "raw", "")
	tdDomain(t, s, "lst-rescued", "pc", false)
	tdDomain(t, s, "lst-plain", "pc", false)
	s.rescueOOB(t, rescue.Request{InstanceID: "lst-rescued", ImageID: img, ShutdownTimeout: 10 * time.Second})
	t.Cleanup(func() { s.unrescueOOB(t, "lst-rescued") })
	uuid, scope := lvIdentity(t, s, "lst-rescued")

	srv, schemas := configuredListServer(t, "libvirt", map[string]tftypes.Value{"uri": str(s.uri)})
	c := newListClient(t, srv, schemas)
	got, diags := c.list(map[string]tftypes.Value{"name_regex": str("^lst-")}, true, 0)
	if len(diags) > 0 || len(got) != 1 {
		t.Fatalf("listed %+v %v; want only lst-rescued", got, diags)
	}
	l := got[0]
	if l.identity["instance_id"] != uuid || l.identity["scope"] != scope {
		t.Fatalf("identity %v, want instance_id %s scope %s", l.identity, uuid, scope)
	}
	if l.display != "lst-rescued" || l.resource["id"] != uuid || l.resource["image_id"] != img || l.resource["mode"] != "legacy" {
		t.Fatalf("display %q, resource %v", l.display, l.resource)
	}
	_, diags = c.list(map[string]tftypes.Value{"tags": strs("prod")}, false, 0)
	if len(diags) != 1 || !strings.Contains(diags[0], "Not a libvirt filter") {
		t.Fatalf("tags on libvirt: %v", diags)
	}
}

// lvIdentity is the domain's UUID and the identity scope of a backend for s, asked on a
// connection of the test's own.
func lvIdentity(t *testing.T, s *lvSide, name string) (string, string) {
	t.Helper()
	d, err := s.conn().DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := rlibvirt.New(ctx, rlibvirt.Config{URI: s.uri})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	return uuidOf(d), b.Scope()
}

func uuidOf(d golibvirt.Domain) string {
	u := d.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
