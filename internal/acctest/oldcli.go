package acctest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// SmokeCLIEnv names another CLI for the smoke suite (e.g. OpenTofu's tofu, tried by hand).
const SmokeCLIEnv = "RESCUE_SMOKE_CLI"

var (
	oldCLIOnce sync.Once
	oldCLI     string
	oldCLIErr  string
)

// OldTerraform is the CLI of the smoke suite: $RESCUE_SMOKE_CLI when set, else Terraform 1.5.7,
// built once into a cache directory by scripts/terraform-old.sh (go install through the module
// proxy, about 2 minutes the first time; `make deps` builds it beforehand).
func OldTerraform(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(SmokeCLIEnv); p != "" {
		return p
	}
	oldCLIOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "terraform-old.sh")
		out, err := exec.Command(script).Output()
		if err != nil {
			msg := err.Error()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				msg += "\n" + string(ee.Stderr)
			}
			oldCLIErr = "build Terraform 1.5.7 (" + script + "): " + msg
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		oldCLI = lines[len(lines)-1]
	})
	if oldCLIErr != "" {
		t.Fatalf("%s\nNeeds Go and the Go module proxy; or set %s to a Terraform CLI.", oldCLIErr, SmokeCLIEnv)
	}
	return oldCLI
}
