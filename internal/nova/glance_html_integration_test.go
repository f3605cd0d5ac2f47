package nova_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Glance answers a missing image with webob's text, line breaks as HTML: the message the
// user sees has the text without the markup.
func TestIntegrationGlanceMessageWithoutHTML(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	b := backendFor(t, n, "")
	missing := "00000000-0000-4000-8000-0000000000a1"
	_, err := b.Validate(ctx(t), rescue.Request{ImageID: missing})
	var nf *rescue.NotFoundError
	if !errors.As(err, &nf) || nf.What != "image" {
		t.Fatalf("missing image: %v", err)
	}
	t.Logf("Glance's message: %q", nf.Msg)
	if strings.Contains(nf.Msg, "<") || !strings.Contains(nf.Msg, missing) {
		t.Fatalf("message %q keeps markup or lost the image id", nf.Msg)
	}
}
