package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.ChangeNotifier = (*Backend)(nil)

// changesSetup bounds the connect and the registration of an event subscription.
const changesSetup = 30 * time.Second

// Changes implements rescue.ChangeNotifier with libvirt's domain events on the shared
// connection: lifecycle events (defined, started, suspended, stopped, crashed, undefined...)
// and changes of the rescue journal in the domains' metadata (a rescue or unrescue of another
// process, a lease taken or released). Each event sends the domain's UUID and, when it
// differs, its name (Get's id is the domain as the caller named it); an id already waiting to
// be received is not queued twice, so a slow reader never blocks the connection and never
// piles up events.
//
// The channel is closed when ctx ends or the shared connection is lost (libvirtd restarted,
// the keepalive found the daemon dead, a read's timeout closed the connection): the events of
// the meantime are lost, so the caller reads everything again (its tick) and calls Changes
// again, which subscribes on the next connection.
func (b *Backend) Changes(ctx context.Context) (_ <-chan string, err error) {
	setup, cancel := context.WithTimeout(ctx, changesSetup)
	defer cancel()
	l, done, err := b.client(setup)
	if err != nil {
		return nil, err
	}
	sub, stop := context.WithCancel(ctx)
	lc, md, err := subscribe(sub, l)
	if err = done(err); err != nil {
		stop()
		return nil, fmt.Errorf("subscribe to the domain events of %s: %w", b.target.Display, err)
	}
	out := make(chan string)
	go relay(sub, stop, lc, md, out)
	return out, nil
}

// subscribe registers for lifecycle and metadata change events. A daemon without metadata
// change events (libvirt < 3.0) gives lifecycle events only (md nil).
func subscribe(ctx context.Context, l *golibvirt.Libvirt) (<-chan golibvirt.DomainEventLifecycleMsg, <-chan any, error) {
	lc, err := l.LifecycleEvents(ctx)
	if err != nil {
		return nil, nil, err
	}
	md, err := l.SubscribeEvents(ctx, golibvirt.DomainEventIDMetadataChange, nil)
	if err != nil {
		if _, ok := lverr(err); ok {
			return lc, nil, nil
		}
		return nil, nil, err
	}
	return lc, md, nil
}

// relay turns events into ids on out until ctx ends or an event stream closes (the connection
// was lost), then closes out. go-libvirt's senders block until their event is taken, so the
// streams are drained until they close (after stop, which deregisters them).
func relay(ctx context.Context, stop context.CancelFunc, lc <-chan golibvirt.DomainEventLifecycleMsg, md <-chan any, out chan<- string) {
	defer close(out)
	defer func() {
		stop()
		go func() {
			for range lc {
			}
		}()
		if md != nil {
			go func() {
				for range md {
				}
			}()
		}
	}()
	var q idQueue
	for {
		var send chan<- string
		if q.len() > 0 {
			send = out
		}
		select {
		case m, ok := <-lc:
			if !ok {
				return
			}
			q.add(m.Dom)
		case ev, ok := <-md:
			if !ok {
				return
			}
			if m, isMeta := ev.(*golibvirt.DomainEventCallbackMetadataChangeMsg); isMeta && journalChange(m) {
				q.add(m.Dom)
			}
		case send <- q.peek():
			q.pop()
		case <-ctx.Done():
			return
		}
	}
}

// journalChange reports whether a metadata change event is one of the rescue journal.
func journalChange(m *golibvirt.DomainEventCallbackMetadataChangeMsg) bool {
	if m.Type != int32(golibvirt.DomainMetadataElement) {
		return false
	}
	return len(m.Nsuri) == 0 || m.Nsuri[0] == MetadataNamespace
}

// idQueue is a FIFO of ids without duplicates.
type idQueue struct {
	ids []string
	in  map[string]bool
}

// add queues the UUID of d and, when it differs, its name, unless they are queued already.
func (q *idQueue) add(d golibvirt.Domain) {
	if q.in == nil {
		q.in = map[string]bool{}
	}
	for _, id := range []string{uuidString(d.UUID), d.Name} {
		if id != "" && !q.in[id] {
			q.in[id] = true
			q.ids = append(q.ids, id)
		}
	}
}

func (q *idQueue) len() int { return len(q.ids) }

// peek returns the first id ("" when empty).
func (q *idQueue) peek() string {
	if len(q.ids) == 0 {
		return ""
	}
	return q.ids[0]
}

func (q *idQueue) pop() {
	delete(q.in, q.ids[0])
	q.ids = q.ids[1:]
}
