package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
)

// maxRequestsPerSecond is the openstack block's max_requests_per_second.
func maxRequestsPerSecond() schema.Float64Attribute {
	return schema.Float64Attribute{
		Optional: true,
		Description: fmt.Sprintf("The most requests per second this provider sends to OpenStack, all resources "+
			"together (one token bucket per provider configuration; a 429 answer with Retry-After pauses every "+
			"request, not just the one that got it). Default %d: the API is shared by every user of the cloud and "+
			"often rate-limited per user, and a rescue of a hundred servers needs far fewer (the waits of all "+
			"resources share one server listing per tick); raise it for a private cloud that allows more.",
			nova.DefaultMaxRequestsPerSecond),
		Validators: []validator.Float64{positive{fallback: fmt.Sprintf("the default of %d", nova.DefaultMaxRequestsPerSecond)}},
	}
}

// libvirtMaxRequestsPerSecond is the libvirt block's max_requests_per_second.
func libvirtMaxRequestsPerSecond() schema.Float64Attribute {
	return schema.Float64Attribute{
		Optional: true,
		Description: "The most RPCs per second this provider sends to libvirtd, all resources together (one " +
			"token bucket per provider configuration, over all its connections). Default unlimited: a libvirt " +
			"host serves few clients, and the waits of all resources share one domain listing per tick and " +
			"libvirt's events; set it to spare a busy host.",
		Validators: []validator.Float64{positive{fallback: "no limit"}},
	}
}

// positive accepts a number greater than 0; fallback says what removing the attribute gives.
type positive struct{ fallback string }

func (positive) Description(context.Context) string { return "value must be greater than 0" }

func (p positive) MarkdownDescription(ctx context.Context) string { return p.Description(ctx) }

func (p positive) ValidateFloat64(_ context.Context, req validator.Float64Request, resp *validator.Float64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if v := req.ConfigValue.ValueFloat64(); !(v > 0) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid request rate",
			fmt.Sprintf("Attribute %s value must be greater than 0 (requests per second), got: %g. Remove it for "+
				"%s.", req.Path, v, p.fallback))
	}
}
