package provider_test

import (
	"os"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

// TestMain starts the real test components lazily (on first use) and stops them at the end.
func TestMain(m *testing.M) {
	os.Exit(acctest.RunMain(m))
}
