package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// request converts the known values of a model to an engine request; unknown values are empty.
func (m *instanceModel) request() rescue.Request {
	r := rescue.Request{
		InstanceID: known(m.InstanceID),
		ImageID:    known(m.ImageID),
		Device:     rescue.Device(known(m.Device)),
		Bus:        rescue.Bus(known(m.Bus)),
		AdminPass:  known(m.AdminPass),
	}
	if d, err := time.ParseDuration(known(m.ShutdownTimeout)); err == nil {
		r.ShutdownTimeout = d
	}
	return r
}

func known(v types.String) string {
	if v.IsNull() || v.IsUnknown() {
		return ""
	}
	return v.ValueString()
}

// strOrNull is s, or null when s is empty.
func strOrNull[S ~string](s S) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(string(s))
}

// logCtx masks the rescue password in every log line of this operation.
func logCtx(ctx context.Context, m *instanceModel) context.Context {
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, "admin_pass", "admin_pass_wo", "password", "token")
	ctx = maskSecret(ctx, known(m.AdminPass))
	ctx = maskSecret(ctx, known(m.AdminPassWO))
	return tflog.SetField(ctx, "instance_id", known(m.InstanceID))
}

// maskSecret masks a secret in every message and field of the logs of ctx.
func maskSecret(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	ctx = tflog.MaskMessageStrings(ctx, secret)
	return tflog.MaskAllFieldValuesStrings(ctx, secret)
}

// begin prepares one operation on m: secrets masked in its logs, its context bounded by the
// resource's timeout for it, and the engine. A nil engine means diags says why.
func (r *instanceResource) begin(ctx context.Context, m *instanceModel,
	timeout func(context.Context, time.Duration) (time.Duration, diag.Diagnostics), diags *diag.Diagnostics,
) (context.Context, context.CancelFunc, *rescue.Engine) {
	if diags.HasError() {
		return ctx, func() {}, nil
	}
	d, td := timeout(ctx, defaultTimeout)
	diags.Append(td...)
	if diags.HasError() {
		return ctx, func() {}, nil
	}
	ctx = logCtx(ctx, m)
	ctx, cancel := context.WithTimeout(ctx, d)
	eng, err := r.engine(ctx)
	if err != nil {
		addErr(diags, "Cannot reach the backend", err)
		return ctx, cancel, nil
	}
	return ctx, cancel, eng
}
