package rescue

import "context"

// BatchGetter is implemented by backends that can read many instances in one request (Nova: a
// paged /servers/detail; libvirt: one list of all domains). The shared poller uses it so that
// one request per tick answers every waiting instance.
type BatchGetter interface {
	// GetMany reads the given instances. An id missing from the result does not exist (the
	// poller turns it into a NotFoundError for its waiter); an error applies to every id.
	GetMany(ctx context.Context, ids []string) (map[string]*Instance, error)
}

// ChangeNotifier is implemented by backends that push changes (libvirt lifecycle events). The
// shared poller reads a waiting instance again as soon as an event names it, and falls back to
// its tick when events stop.
type ChangeNotifier interface {
	// Changes returns a channel of instance ids (the canonical ids Get returns) that changed,
	// closed when ctx ends or the event stream is lost.
	Changes(ctx context.Context) (<-chan string, error)
}
