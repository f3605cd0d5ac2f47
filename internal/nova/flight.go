package nova

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/singleflight"
)

// flightRetries bounds how often a caller starts a shared lookup again after the one it joined
// failed only because the context of the caller that ran it ended.
const flightRetries = 3

// sharedLookup runs fn once for the concurrent callers of the same key (a lookup that many
// resources repeat: an image's properties, the microversion). The call runs with the context
// of the caller that started it; each caller still returns when its own ctx ends, and a caller
// whose ctx is alive starts the lookup again when the one it joined failed after the starter's
// context ended.
func sharedLookup[T any](ctx context.Context, g *singleflight.Group, key string, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return zero, fmt.Errorf("look up %s: %w", key, err)
		}
		ch := g.DoChan(key, func() (any, error) {
			v, err := fn(ctx)
			if err != nil && ctx.Err() != nil {
				return v, &starterGone{err: err}
			}
			return v, err
		})
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("wait for the lookup of %s: %w", key, ctx.Err())
		case r := <-ch:
			var gone *starterGone
			if errors.As(r.Err, &gone) {
				if ctx.Err() == nil && try < flightRetries {
					continue
				}
				return zero, gone.err
			}
			if r.Err != nil {
				return zero, r.Err
			}
			v, ok := r.Val.(T)
			if !ok {
				return zero, fmt.Errorf("look up %s: got a %T", key, r.Val)
			}
			return v, nil
		}
	}
}

// starterGone is the error of a shared lookup that failed after the context of the caller that
// ran it ended: not an answer for the callers whose context is alive.
type starterGone struct{ err error }

func (e *starterGone) Error() string { return e.err.Error() }
