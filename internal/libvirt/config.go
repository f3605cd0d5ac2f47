package libvirt

// Config is the provider's libvirt block.
type Config struct {
	// URI is the libvirt connection URI; empty means LIBVIRT_DEFAULT_URI, else qemu:///system.
	URI string
	// MaxRequestsPerSecond paces the RPCs of all the Backend's connections together (one token
	// bucket); 0 means unlimited.
	MaxRequestsPerSecond float64
}
