package rescue

import "context"

type progressKey struct{}

// WithProgress returns a context whose operations report their steps to fn ("shutting down",
// "rescue definition in place", ...): a Terraform action shows them as progress events. fn
// must not block for long; messages never hold secrets.
func WithProgress(ctx context.Context, fn func(msg string)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Progress reports a step of the operation of ctx to its progress function, if it has one.
func Progress(ctx context.Context, msg string) {
	if fn, ok := ctx.Value(progressKey{}).(func(string)); ok && fn != nil {
		fn(msg)
	}
}
