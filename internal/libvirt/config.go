// Package libvirt is the rescue Backend for libvirt hosts, over go-libvirt: it does what Nova's
// libvirt driver does for rescue, itself.
package libvirt

// Config is the provider's libvirt block.
type Config struct {
	// URI is the libvirt connection URI; empty means LIBVIRT_DEFAULT_URI, else qemu:///system.
	URI string
}
