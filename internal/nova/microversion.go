package nova

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/singleflight"
)

// MicroversionBFVRescue is the compute microversion that allows rescuing volume-backed
// servers (stable device rescue for boot from volume).
const MicroversionBFVRescue = "2.87"

// wantedMicroversions are the compute microversions this backend can use, best first;
// 2.1 is the floor (the base of the v2.1 API, which has rescue with rescue_image_ref).
var wantedMicroversions = []string{MicroversionBFVRescue, "2.1"}

// microversion is a parsed "major.minor".
type microversion struct{ major, minor int }

func parseMicroversion(s string) (microversion, error) {
	maj, minor, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return microversion{}, fmt.Errorf("microversion %q is not major.minor", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return microversion{}, fmt.Errorf("microversion %q is not major.minor", s)
	}
	return microversion{a, b}, nil
}

func (v microversion) less(o microversion) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

func (v microversion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// chooseMicroversion picks the best wanted microversion within [lo, hi]; "" when none fits
// (a cloud without microversions: requests go without the header).
func chooseMicroversion(lo, hi microversion) string {
	for _, w := range wantedMicroversions {
		v, _ := parseMicroversion(w)
		if !v.less(lo) && !hi.less(v) {
			return w
		}
	}
	return ""
}

// negotiated is the outcome of the microversion negotiation with the compute endpoint.
type negotiated struct {
	// min and max are what the endpoint supports (0.0 when it has no microversions).
	min, max microversion
	// use is the microversion sent with every compute request ("" for none).
	use string
}

// supports reports whether the endpoint supports microversion s.
func (n negotiated) supports(s string) bool {
	v, err := parseMicroversion(s)
	if err != nil {
		return false
	}
	return !v.less(n.min) && !n.max.less(v)
}

// mvFlight makes the concurrent first negotiations of a backend one request.
type mvFlight struct{ g singleflight.Group }

// negotiate returns the negotiated microversion, negotiating it on first use (negotiateOnce):
// concurrent first callers share one negotiation, and each returns when its own ctx ends.
func (b *Backend) negotiate(ctx context.Context) (negotiated, error) {
	b.mvMu.Lock()
	mv := b.mv
	b.mvMu.Unlock()
	if mv != nil {
		return *mv, nil
	}
	return sharedLookup(ctx, &b.mvFlight.g, "the compute microversion", b.negotiateOnce)
}
