package libvirt

// Config is the provider's libvirt block.
type Config struct {
	// URI is the libvirt connection URI; empty means LIBVIRT_DEFAULT_URI, else qemu:///system.
	URI string
}
