package libvirt

import "github.com/rescue-labs/terraform-provider-rescue/internal/rescue"

var _ rescue.Scoper = (*Backend)(nil)

// Scope implements rescue.Scoper: the connection URI (without a password), which names the host.
func (b *Backend) Scope() string { return "libvirt:" + b.target.Display }
