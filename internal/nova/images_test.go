package nova

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

func TestPropertiesOf(t *testing.T) {
	p := propertiesOf(&images.Image{Properties: map[string]any{"hw_rescue_device": "disk", "hw_rescue_bus": nil, "other": 1}})
	if p.device != "disk" || p.bus != "" {
		t.Fatalf("%+v", p)
	}
}
