package nova_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
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

// A compute API that answers 503 while the microversion is negotiated is an unavailable
// backend, not an endpoint without microversions: nothing is remembered, and once the API is
// back the negotiation finds 2.87.
func TestIntegrationNegotiationDuringOutage(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	p := n.ComputeProxy(t)
	out := p.Outage(faultproxy.HTTPAny, time.Hour)
	one := 1
	b, err := nova.New(ctx(t), nova.Config{Token: n.Token, MaxRetries: &one,
		EndpointOverrides: map[string]string{"compute": p.URLFor(n.ComputeURL), "image": n.ImageURL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	t0 := time.Now()
	_, _, err = b.Microversion(ctx(t))
	t.Logf("negotiation failed after %v: %v", time.Since(t0).Round(time.Millisecond), err)
	if !rescue.IsUnavailable(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("negotiation during an outage: %v, want an unavailable error", err)
	}
	p.Remove(out)
	if use, _, err := b.Microversion(ctx(t)); err != nil || use != acctest.HarnessMicroversion {
		t.Fatalf("negotiation after the outage: %q, %v; want %s", use, err, acctest.HarnessMicroversion)
	}
}
