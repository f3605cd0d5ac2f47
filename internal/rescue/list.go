package rescue

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Filter selects instances in a listing. Zero fields select everything.
type Filter struct {
	// NameRegex matches instance names (RE2, unanchored: anchor with ^ and $).
	NameRegex *regexp.Regexp
	// Statuses are backend status words (Nova: ACTIVE, SHUTOFF, ERROR, RESCUE, ...; libvirt:
	// running, shut off, paused, ...), compared without regard to case.
	Statuses []string
	// InRescue, when set, keeps only instances in rescue (true) or not in rescue (false).
	InRescue *bool
	// Metadata keeps instances whose metadata has every key with the given value (Nova).
	Metadata map[string]string
	// Tags keeps instances that have every one of these tags (Nova).
	Tags []string
	// AllProjects lists the instances of every project, for administrators (Nova).
	AllProjects bool
}

// Listed is an instance as a listing reports it.
type Listed struct {
	// ID is the canonical id (Nova UUID; libvirt domain UUID).
	ID string
	// Name is the instance's name.
	Name string
	// Status is the backend's word for its state (Nova's status, libvirt's state name).
	Status string
	// InRescue says the instance is in rescue (or a rescue of it is under way).
	InRescue bool
	// RescuedAt is when its current rescue began; zero when not in rescue or unknown.
	RescuedAt time.Time
	// Mode, Device, Bus and ImageID of the rescue in effect, when the backend knows them.
	Mode    Mode
	Device  string
	Bus     string
	ImageID string
	// ByProvider says whether the rescue was made by this provider; nil when the backend cannot
	// tell (Nova keeps no mark of who rescued a server).
	ByProvider *bool
	// Metadata and Tags are the instance's (Nova), for filtering.
	Metadata map[string]string
	Tags     []string
}

// Lister is implemented by backends that can list their instances. A backend applies what it can
// of the filter on its side (fewer requests); Match is applied to every result anyway.
type Lister interface {
	// List returns the instances that match f, ordered by name.
	List(ctx context.Context, f Filter) ([]Listed, error)
}

// Match reports whether an instance passes every part of the filter.
func (f Filter) Match(l Listed) bool {
	if f.NameRegex != nil && !f.NameRegex.MatchString(l.Name) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.ContainsFunc(f.Statuses, func(s string) bool { return strings.EqualFold(s, l.Status) }) {
		return false
	}
	if f.InRescue != nil && *f.InRescue != l.InRescue {
		return false
	}
	for k, v := range f.Metadata {
		if got, ok := l.Metadata[k]; !ok || got != v {
			return false
		}
	}
	for _, t := range f.Tags {
		if !slices.Contains(l.Tags, t) {
			return false
		}
	}
	return true
}

// Select keeps the instances that match f, ordered by name (then id).
func (f Filter) Select(all []Listed) []Listed {
	out := make([]Listed, 0, len(all))
	for _, l := range all {
		if f.Match(l) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Listed) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
