package provider

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// frameworkServer is everything the framework's protocol 6 server serves.
type frameworkServer interface {
	tfprotov6.ProviderServer
	tfprotov6.ActionServer
	tfprotov6.ListResourceServer
	tfprotov6.StateStoreServer
}

// NewServer returns a constructor of the protocol 6 server of the provider that p makes (what
// main serves and the tests call). It is the framework's server, with one repair: the framework
// (v1.19.0) refuses every non-null write-only attribute of an action at ValidateActionConfig
// ("WriteOnly Attribute Not Allowed", it checks them as if the client could not send them),
// which makes an action's write-only password (rescue_rescue's admin_pass_wo) unusable. So
// ValidateActionConfig hands the framework the configuration with its write-only attributes
// null; PlanAction and InvokeAction get them as Terraform sent them.
func NewServer(p func() provider.Provider) func() (tfprotov6.ProviderServer, error) {
	return func() (tfprotov6.ProviderServer, error) {
		inner, err := providerserver.NewProtocol6WithError(p())()
		if err != nil {
			return nil, err
		}
		fs, ok := inner.(frameworkServer)
		if !ok {
			return nil, fmt.Errorf("the framework's server %T does not serve actions", inner)
		}
		return &server{frameworkServer: fs}, nil
	}
}

type server struct {
	frameworkServer

	once sync.Once
	// writeOnly are the write-only attributes of each action type, with its configuration type.
	writeOnly map[string]writeOnlyAttrs
}

type writeOnlyAttrs struct {
	typ   tftypes.Type
	names []string
}

func (s *server) ValidateActionConfig(ctx context.Context, req *tfprotov6.ValidateActionConfigRequest) (*tfprotov6.ValidateActionConfigResponse, error) {
	s.once.Do(func() { s.writeOnly = actionWriteOnly(ctx, s.frameworkServer) })
	wo := s.writeOnly[req.ActionType]
	if req.Config == nil || len(wo.names) == 0 {
		return s.frameworkServer.ValidateActionConfig(ctx, req)
	}
	r := *req
	cfg, err := nullAttributes(req.Config, wo)
	if err != nil {
		return nil, err
	}
	r.Config = cfg
	return s.frameworkServer.ValidateActionConfig(ctx, &r)
}

// actionWriteOnly lists the write-only attributes of every action's schema.
func actionWriteOnly(ctx context.Context, s tfprotov6.ProviderServer) map[string]writeOnlyAttrs {
	out := map[string]writeOnlyAttrs{}
	resp, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || resp == nil {
		return out
	}
	for name, as := range resp.ActionSchemas {
		if as == nil || as.Schema == nil || as.Schema.Block == nil {
			continue
		}
		wo := writeOnlyAttrs{typ: as.Schema.ValueType()}
		for _, a := range as.Schema.Block.Attributes {
			if a.WriteOnly {
				wo.names = append(wo.names, a.Name)
			}
		}
		out[name] = wo
	}
	return out
}

// nullAttributes returns the configuration with the write-only attributes set to null.
func nullAttributes(dv *tfprotov6.DynamicValue, wo writeOnlyAttrs) (*tfprotov6.DynamicValue, error) {
	typ := wo.typ
	v, err := dv.Unmarshal(typ)
	if err != nil {
		return nil, fmt.Errorf("decode the action configuration: %w", err)
	}
	if !v.IsKnown() || v.IsNull() {
		return dv, nil
	}
	attrs := map[string]tftypes.Value{}
	if err := v.As(&attrs); err != nil {
		return nil, fmt.Errorf("decode the action configuration: %w", err)
	}
	obj, ok := typ.(tftypes.Object)
	if !ok {
		return nil, fmt.Errorf("the action configuration type %s is not an object", typ)
	}
	for _, n := range wo.names {
		if at, ok := obj.AttributeTypes[n]; ok {
			attrs[n] = tftypes.NewValue(at, nil)
		}
	}
	out, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, attrs))
	if err != nil {
		return nil, fmt.Errorf("encode the action configuration: %w", err)
	}
	return &out, nil
}
