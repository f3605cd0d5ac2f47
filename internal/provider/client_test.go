package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestNovaClientDefaults: a Nova backend configured by a block and one chosen by the environment
// alone both send the provider's User-Agent with its version and log their events.
func TestNovaClientDefaults(t *testing.T) {
	env := map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3"}
	getenv := func(k string) string { return env[k] }
	for name, cfg := range map[string]providerModel{
		"environment": {},
		"block":       {OpenStack: &openstackModel{Cloud: types.StringValue("prod")}},
	} {
		c, diags := newClient(cfg, getenv, "1.2.3")
		if diags.HasError() {
			t.Fatalf("%s: %v", name, diags)
		}
		if c.nova == nil || c.nova.UserAgent != "terraform-provider-rescue/1.2.3" || c.nova.Logger == nil {
			t.Fatalf("%s: nova config %+v", name, c.nova)
		}
	}
}
