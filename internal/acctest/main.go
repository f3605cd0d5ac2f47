// Package acctest is the test harness: it starts real Nova/Keystone and a private libvirtd
// for the acceptance tests, once per test binary, and stops them by PID when the tests end.
package acctest

import (
	"os"
	"sync"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// AtExit registers f to run when RunMain ends (daemons started once per test binary).
func AtExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// RunMain runs the tests of a package and then stops everything the harness started.
// Use it from TestMain: os.Exit(acctest.RunMain(m)).
//
// The provider's operation records (internal/nova/oprecord) go to a temporary directory unless
// RESCUE_OPERATIONS_DIR is set: the in-process provider runs with the package's directory as
// its working directory, where they must not land. Tests of a real provider process through
// tfcli pass RESCUE_OPERATIONS_DIR= to keep them in the workspace's data directory.
func RunMain(m *testing.M) int {
	if os.Getenv(oprecord.EnvDir) == "" {
		if dir, err := os.MkdirTemp("", "rescue-operations-"); err == nil {
			_ = os.Setenv(oprecord.EnvDir, dir)
			AtExit(func() { _ = os.RemoveAll(dir) })
		}
	}
	code := m.Run()
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
	return code
}

// The provider binary that tfcli builds is removed with the rest.
func init() { AtExit(tfcli.Cleanup) }
