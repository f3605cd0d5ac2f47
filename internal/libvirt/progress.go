package libvirt

// startedText is the progress message once the rescue definition runs: with the boot watch, its
// first boot got past the firmware as far as the watch can tell.
func startedText(watched bool) string {
	if watched {
		return "booted rescue (past the firmware)"
	}
	return "rescue guest started"
}
