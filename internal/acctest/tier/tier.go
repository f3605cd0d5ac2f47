// Package tier tells the fast test tier (`make unit`: no root, no daemons, seconds) from the
// acceptance tier (`make testacc`: real Terraform, Nova, Keystone and libvirtd). The harness's
// entry points call NeedsDaemons, so a test that needs a real component is skipped in the fast
// tier and fails loudly, with the install command, in the acceptance tier when it is missing.
package tier

import (
	"os"
	"testing"
)

// Env is the environment variable that selects the tier; `make unit` sets it to "fast".
const Env = "RESCUE_TEST_TIER"

// Fast reports whether the tests run in the fast tier.
func Fast() bool { return os.Getenv(Env) == "fast" }

// NeedsDaemons skips t in the fast tier: it needs what (a real component).
func NeedsDaemons(t testing.TB, what string) {
	t.Helper()
	if Fast() {
		t.Skipf("fast tier: needs %s (root, make deps); runs in make testacc and make test", what)
	}
}
