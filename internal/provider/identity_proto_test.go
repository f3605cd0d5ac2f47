package provider_test

// Resource identity at the plugin-protocol level (Terraform 1.12 and later speak it; the CLI here
// is 1.11): the provider server itself is called as Terraform would call it.

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// protoServer is the provider over f, configured (empty configuration) as Terraform does first.
func protoServer(t *testing.T, f *rescuetest.Fake) (tfprotov6.ProviderServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	ctx := context.Background()
	open := func(context.Context) (rescue.Backend, error) { return f, nil }
	srv, err := provider.NewServer(provider.NewWithBackend("test", open))()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatalf("GetProviderSchema: %v %v", err, schemas.Diagnostics)
	}
	cfg := dynamic(t, schemas.Provider.ValueType(), nil)
	resp, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &cfg})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("ConfigureProvider: %v %v", err, resp.Diagnostics)
	}
	return srv, schemas
}

// dynamic encodes an object of type typ whose attributes are vals (the others null).
func dynamic(t *testing.T, typ tftypes.Type, vals map[string]tftypes.Value) tfprotov6.DynamicValue {
	t.Helper()
	obj := typ.(tftypes.Object)
	all := map[string]tftypes.Value{}
	for name, at := range obj.AttributeTypes {
		if v, ok := vals[name]; ok {
			all[name] = v
		} else {
			all[name] = tftypes.NewValue(at, nil)
		}
	}
	dv, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, all))
	if err != nil {
		t.Fatal(err)
	}
	return dv
}

// decode returns the string attributes of a dynamic value of type typ.
func decode(t *testing.T, typ tftypes.Type, dv *tfprotov6.DynamicValue) map[string]string {
	t.Helper()
	v, err := dv.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, a := range attrs {
		var s string
		if a.Type().Is(tftypes.String) && a.IsKnown() && !a.IsNull() && a.As(&s) == nil {
			out[k] = s
		}
	}
	return out
}

func TestProto_identity(t *testing.T) {
	f := rescuetest.New("web", "db")
	f.Set("web", rescue.StateRescued)
	srv, schemas := protoServer(t, f)
	ctx := context.Background()

	ids, err := srv.GetResourceIdentitySchemas(ctx, &tfprotov6.GetResourceIdentitySchemasRequest{})
	if err != nil || len(ids.Diagnostics) > 0 {
		t.Fatalf("GetResourceIdentitySchemas: %v %v", err, ids.Diagnostics)
	}
	is := ids.IdentitySchemas["rescue_instance"]
	if is == nil || len(is.IdentityAttributes) != 2 {
		t.Fatalf("identity schema %+v", is)
	}
	for _, a := range is.IdentityAttributes {
		if (a.Name == "instance_id") != a.RequiredForImport || (a.Name == "scope") != a.OptionalForImport {
			t.Fatalf("identity attribute %+v", a)
		}
	}
	idType := is.ValueType()
	stateType := schemas.ResourceSchemas["rescue_instance"].ValueType()

	// import { to = ..., identity = { instance_id = "web" } }
	identity := dynamic(t, idType, map[string]tftypes.Value{"instance_id": tftypes.NewValue(tftypes.String, "web")})
	imp, err := srv.ImportResourceState(ctx, &tfprotov6.ImportResourceStateRequest{
		TypeName: "rescue_instance", Identity: &tfprotov6.ResourceIdentityData{IdentityData: &identity},
	})
	if err != nil || len(imp.Diagnostics) > 0 || len(imp.ImportedResources) != 1 {
		t.Fatalf("ImportResourceState by identity: %v %v", err, imp.Diagnostics)
	}
	got := imp.ImportedResources[0]
	if st := decode(t, stateType, got.State); st["id"] != "web" || st["instance_id"] != "web" {
		t.Fatalf("imported state %v", st)
	}
	if id := decode(t, idType, got.Identity.IdentityData); id["instance_id"] != "web" || id["scope"] != "fake:test" {
		t.Fatalf("imported identity %v", id)
	}

	// Read keeps the identity.
	read, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{
		TypeName: "rescue_instance", CurrentState: got.State, CurrentIdentity: got.Identity, Private: got.Private,
	})
	if err != nil || len(read.Diagnostics) > 0 || read.NewIdentity == nil {
		t.Fatalf("ReadResource: %v %v", err, read.Diagnostics)
	}
	if id := decode(t, idType, read.NewIdentity.IdentityData); id["instance_id"] != "web" || id["scope"] != "fake:test" {
		t.Fatalf("identity after read %v", id)
	}

	// An identity of another backend is refused; one not in rescue too.
	for name, vals := range map[string]map[string]tftypes.Value{
		"other scope":      {"instance_id": tftypes.NewValue(tftypes.String, "web"), "scope": tftypes.NewValue(tftypes.String, "libvirt:qemu+ssh://elsewhere/system")},
		"not in rescue db": {"instance_id": tftypes.NewValue(tftypes.String, "db")},
	} {
		other := dynamic(t, idType, vals)
		bad, err := srv.ImportResourceState(ctx, &tfprotov6.ImportResourceStateRequest{
			TypeName: "rescue_instance", Identity: &tfprotov6.ResourceIdentityData{IdentityData: &other},
		})
		if err != nil || len(bad.Diagnostics) == 0 {
			t.Fatalf("%s: import accepted (%v)", name, err)
		}
	}
}

// The same through a Terraform CLI that speaks identities (1.12 and later; skipped with 1.11).
func TestFast_identityThroughTheCLI(t *testing.T) {
	t.Parallel()
	f := rescuetest.New("web")
	want := map[string]knownvalue.Check{"instance_id": knownvalue.StringExact("web"), "scope": knownvalue.StringExact("fake:test")}
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_12_0)},
		ProtoV6ProviderFactories: fastFactories(t, f),
		Steps: []resource.TestStep{{
			Config:            fastConfig(`instance_id = "web"`),
			ConfigStateChecks: []statecheck.StateCheck{statecheck.ExpectIdentity(fastAddr, want)},
		}, {
			Config:          fastConfig(`instance_id = "web"`),
			ResourceName:    fastAddr,
			ImportState:     true,
			ImportStateKind: resource.ImportBlockWithResourceIdentity,
		}},
	})
}
