package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.Lister = (*Backend)(nil)

// List implements rescue.Lister: every domain of the host in one call, each with its state and,
// when it has a rescue journal, its rescue (in rescue, since when, mode, device, bus, image). A
// domain whose rescue stopped halfway (rescue-incomplete, unrescue-incomplete) counts as in
// rescue: it still carries the journal and needs an apply or a destroy.
// Domains that vanish while they are read are left out.
func (b *Backend) List(ctx context.Context, f rescue.Filter) (_ []rescue.Listed, err error) {
	l, doms, done, err := b.allDomains(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = done(err) }()
	all := make([]rescue.Listed, 0, len(doms))
	for _, d := range doms {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		item, err := b.listed(l, d)
		if isCode(err, golibvirt.ErrNoDomain) {
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, item)
	}
	return f.Select(all), nil
}

// allDomains is the shared connection (as client returns it) and every domain of the host, in
// one call; the caller defers done(err) on its result as with client.
func (b *Backend) allDomains(ctx context.Context) (*golibvirt.Libvirt, []golibvirt.Domain, func(error) error, error) {
	l, done, err := b.client(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, nil, nil, done(fmt.Errorf("list the domains of %s: %w", b.target.Display, err))
	}
	return l, doms, done, nil
}

// listed reads one domain for List.
func (b *Backend) listed(l *golibvirt.Libvirt, d golibvirt.Domain) (rescue.Listed, error) {
	st, err := domState(l, d)
	if err != nil {
		return rescue.Listed{}, err
	}
	item := rescue.Listed{ID: uuidString(d.UUID), Name: d.Name, Status: stateName(st)}
	j, err := readJournal(l, d)
	if err != nil || j == nil {
		return item, err
	}
	// A journal is a rescue of this provider: done, under way, or stopped halfway (which an
	// audit must see too).
	yes := true
	item.ByProvider, item.InRescue = &yes, true
	if started, err := time.Parse(time.RFC3339, j.Started); err == nil {
		item.RescuedAt = started
	}
	item.Mode, item.Device, item.Bus, item.ImageID = rescue.Mode(j.Mode), j.Device, j.Bus, j.Image
	return item, nil
}
