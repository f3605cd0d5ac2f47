package nova

import "github.com/rescue-labs/terraform-provider-rescue/internal/rescue"

var _ rescue.Scoper = (*Backend)(nil)

// Scope implements rescue.Scoper: the compute endpoint, which names the cloud and the region.
func (b *Backend) Scope() string { return "openstack:" + b.compute.Endpoint }
