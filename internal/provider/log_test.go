package provider

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
)

// The rescue password never reaches a log line: not as a field, not inside a message or
// another field's text (for example an error that quotes a request).
func TestLogCtxMasksThePassword(t *testing.T) {
	const pass = "s3cr3t-Rescue-Pass"
	var buf bytes.Buffer
	ctx := tflogtest.RootLogger(context.Background(), &buf)
	m := &instanceModel{InstanceID: types.StringValue("vm1"), AdminPass: types.StringValue(pass)}
	ctx = logCtx(ctx, m)
	tflog.Info(ctx, "rescuing with "+pass, map[string]any{
		"admin_pass": pass,
		"password":   pass,
		"token":      "tok-123",
		"detail":     "backend said: adminPass=" + pass,
	})
	out := buf.String()
	if !strings.Contains(out, "rescuing with") || !strings.Contains(out, `"instance_id":"vm1"`) {
		t.Fatalf("the log line is missing or lacks its fields: %s", out)
	}
	for _, secret := range []string{pass, "tok-123"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q: %s", secret, out)
		}
	}
}
