package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

// max_requests_per_second reaches the Nova configuration; unset, it is 0 (the backend's default).
func TestMaxRequestsPerSecondReachesNova(t *testing.T) {
	for want, v := range map[float64]types.Float64{2.5: types.Float64Value(2.5), 0: types.Float64Null()} {
		c, unknown, diags := novaConfig(&openstackModel{MaxRequestsPerSecond: v})
		if diags.HasError() || unknown || c.MaxRequestsPerSecond != want {
			t.Fatalf("%v: got %v (unknown %v, %v)", v, c.MaxRequestsPerSecond, unknown, diags)
		}
	}
	if _, unknown, _ := novaConfig(&openstackModel{MaxRequestsPerSecond: types.Float64Unknown()}); !unknown {
		t.Fatal("an unknown rate does not make the configuration unknown")
	}
}
