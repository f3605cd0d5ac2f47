// Package rescuetest has a scripted in-memory rescue.Backend for the fast test tier: the provider
// is served with it (provider.NewWithBackend) to the real Terraform CLI, so that every resource
// path runs in seconds without root, daemons or network.
package rescuetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// DefaultImage is the image a rescue without image_id uses (the instance's own image).
const DefaultImage = "default-image"

// Fake is a scripted rescue.Backend. Instances live in memory; a rescue or unrescue passes
// through its transient state for Ticks reads of the instance. Its hooks inject failures. It is
// safe for concurrent use.
type Fake struct {
	mu        sync.Mutex
	instances map[string]*rescue.Instance
	// pending is the transient state Get returns for an instance, and left how many more reads
	// (negative: for ever), before its state.
	pending map[string]pendingState
	calls   []string
	pass    int
	last    rescue.Request
	// rescuedAt, metadata and tags per instance, for List.
	rescuedAt map[string]time.Time
	metadata  map[string]map[string]string
	tags      map[string][]string

	// Ticks is how many reads a rescue or unrescue stays in progress (default 1; negative: for
	// ever, a rescue that never ends).
	Ticks int
	// OnValidate, when set, may refuse a request at Validate (plan time and before a rescue).
	OnValidate func(req rescue.Request) error
	// OnRescue, when set, may fail a rescue: a returned error is the backend's answer, and
	// after = true means the rescue was accepted first (the error is then wrapped in
	// rescue.ErrAccepted as real backends do, and the instance goes on its way to rescue
	// unless Fail() turned it into an error).
	OnRescue func(req rescue.Request) (err error, after bool)
	// OnUnrescue, when set, may refuse an unrescue.
	OnUnrescue func(id string) error
	// RescueFault, when set, makes an accepted rescue end in an error with this fault (as Nova
	// puts a server in ERROR when its compute fails).
	RescueFault string
	// Images maps an image to its hw_rescue_device and hw_rescue_bus.
	Images map[string][2]string
}

var (
	_ rescue.Backend = (*Fake)(nil)
	_ rescue.Lister  = (*Fake)(nil)
)

// New returns a fake with the given instances, each active (running, not in rescue).
func New(ids ...string) *Fake {
	f := &Fake{instances: map[string]*rescue.Instance{}, pending: map[string]pendingState{}, Ticks: 1,
		rescuedAt: map[string]time.Time{}, metadata: map[string]map[string]string{}, tags: map[string][]string{}}
	for _, id := range ids {
		f.Set(id, rescue.StateActive)
	}
	return f
}

// Set puts an instance in a state (creating it), as an operator's out-of-band change would.
func (f *Fake) Set(id string, s rescue.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.instances[id]
	if !ok {
		i = &rescue.Instance{ID: id, Name: id}
		f.instances[id] = i
	}
	i.State, i.Status, i.Fault = s, string(s), ""
	if s == rescue.StateError {
		i.Fault = "the fake says it broke"
	}
	if s != rescue.StateRescued && s != rescue.StateError {
		i.ImageID, i.Device, i.Bus, i.Mode = "", "", "", ""
	}
	delete(f.pending, id)
}

// Remove deletes an instance, as if it was deleted out of band.
func (f *Fake) Remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.instances, id)
	delete(f.pending, id)
}

// State returns an instance's state ("" when it does not exist).
func (f *Fake) State(id string) rescue.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.instances[id]; ok {
		return i.State
	}
	return ""
}

// Calls returns the backend calls so far ("rescue web", "unrescue web", ...; reads are not
// recorded).
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Count returns how many times a call (such as "rescue web") was made.
func (f *Fake) Count(call string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

// LastRescue returns the request of the latest rescue.
func (f *Fake) LastRescue() rescue.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Validate implements rescue.Backend.
func (f *Fake) Validate(_ context.Context, req rescue.Request) (rescue.Plan, error) {
	f.mu.Lock()
	_, exists := f.instances[req.InstanceID]
	f.mu.Unlock()
	if req.InstanceID != "" && !exists {
		return rescue.Plan{}, &rescue.NotFoundError{What: "instance", ID: req.InstanceID}
	}
	if f.OnValidate != nil {
		if err := f.OnValidate(req); err != nil {
			return rescue.Plan{}, err
		}
	}
	return f.plan(req), nil
}

// plan resolves device, bus and mode: given values, else the image's.
func (f *Fake) plan(req rescue.Request) rescue.Plan {
	p := rescue.Plan{Device: req.Device, Bus: req.Bus}
	if img, ok := f.Images[req.ImageID]; ok && p.Device == "" && p.Bus == "" {
		p.Device, p.Bus = rescue.Device(img[0]), rescue.Bus(img[1])
	}
	p.Mode = rescue.ModeLegacy
	if p.Device != "" || p.Bus != "" {
		p.Mode = rescue.ModeStable
	}
	return p
}

// Rescue implements rescue.Backend: a password is generated when none is given, as on Nova.
func (f *Fake) Rescue(_ context.Context, req rescue.Request) (rescue.Result, error) {
	var hookErr error
	after := false
	if f.OnRescue != nil {
		hookErr, after = f.OnRescue(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "rescue "+req.InstanceID)
	f.last = req
	i, ok := f.instances[req.InstanceID]
	if !ok {
		return rescue.Result{}, &rescue.NotFoundError{What: "instance", ID: req.InstanceID}
	}
	if hookErr != nil && !after {
		return rescue.Result{}, hookErr
	}
	if i.State == rescue.StateRescued || i.State.Transient() {
		return rescue.Result{}, &rescue.ConflictError{Msg: fmt.Sprintf("instance %s is %s", i.ID, i.Status)}
	}
	pass := req.AdminPass
	if pass == "" {
		f.pass++
		pass = fmt.Sprintf("fake-generated-%d", f.pass)
	}
	p := f.plan(req)
	image := req.ImageID
	if image == "" {
		image = DefaultImage
	}
	f.transition(i, rescue.StateRescuing, rescue.StateRescued)
	i.ImageID, i.Device, i.Bus, i.Mode = image, p.Device, p.Bus, p.Mode
	f.rescuedAt[i.ID] = time.Now().UTC()
	if f.RescueFault != "" {
		i.State, i.Status, i.Fault = rescue.StateError, "ERROR", f.RescueFault
	}
	if hookErr != nil {
		return rescue.Result{AdminPass: pass}, fmt.Errorf("%w: %w", rescue.ErrAccepted, hookErr)
	}
	return rescue.Result{AdminPass: pass}, nil
}

type pendingState struct {
	inst rescue.Instance
	left int
}

// transition moves i to final after Ticks reads in the transient state (lock held).
func (f *Fake) transition(i *rescue.Instance, transient, final rescue.State) {
	t := *i
	t.State, t.Status = transient, string(transient)
	if f.Ticks != 0 {
		f.pending[i.ID] = pendingState{inst: t, left: f.Ticks}
	}
	i.State, i.Status, i.Fault = final, string(final), ""
}

// Fail turns an instance (or the rescue on its way) into an error with a fault.
func (f *Fake) Fail(id, fault string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.instances[id]; ok {
		i.State, i.Status, i.Fault = rescue.StateError, "ERROR", fault
		delete(f.pending, id)
	}
}

// Unrescue implements rescue.Backend.
func (f *Fake) Unrescue(_ context.Context, id string) error {
	if f.OnUnrescue != nil {
		if err := f.OnUnrescue(id); err != nil {
			f.record("unrescue " + id)
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "unrescue "+id)
	i, ok := f.instances[id]
	if !ok {
		return &rescue.NotFoundError{What: "instance", ID: id}
	}
	f.transition(i, rescue.StateUnrescuing, rescue.StateActive)
	i.ImageID, i.Device, i.Bus, i.Mode = "", "", "", ""
	return nil
}

func (f *Fake) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// Get implements rescue.Backend.
func (f *Fake) Get(_ context.Context, id string) (*rescue.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.instances[id]
	if !ok {
		return nil, &rescue.NotFoundError{What: "instance", ID: id}
	}
	if p, ok := f.pending[id]; ok {
		if p.left--; p.left == 0 {
			delete(f.pending, id)
		} else {
			f.pending[id] = p
		}
		c := p.inst
		return &c, nil
	}
	c := *i
	return &c, nil
}

// Label sets an instance's metadata and tags (what Nova has), and when its rescue began.
func (f *Fake) Label(id string, metadata map[string]string, tags []string, rescuedAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metadata[id], f.tags[id] = metadata, tags
	if !rescuedAt.IsZero() {
		f.rescuedAt[id] = rescuedAt
	}
}

// List implements rescue.Lister.
func (f *Fake) List(_ context.Context, flt rescue.Filter) ([]rescue.Listed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []rescue.Listed
	yes := true
	for id, i := range f.instances {
		l := rescue.Listed{ID: id, Name: i.Name, Status: i.Status, Metadata: f.metadata[id], Tags: f.tags[id]}
		if i.State == rescue.StateRescued || i.State == rescue.StateRescuing {
			l.InRescue, l.RescuedAt, l.ByProvider = true, f.rescuedAt[id], &yes
			l.Mode, l.Device, l.Bus, l.ImageID = i.Mode, string(i.Device), string(i.Bus), i.ImageID
		}
		all = append(all, l)
	}
	return flt.Select(all), nil
}

// Scope implements rescue.Scoper.
func (f *Fake) Scope() string { return "fake:test" }

// MakesPassword implements rescue.PasswordMaker: like Nova, a rescue without a password gets a
// generated one.
func (f *Fake) MakesPassword() bool { return true }

// Hold makes Get report an operation of another live run on the instance (ip; nil releases
// it), as a held lease does: the engine neither rescues nor unrescues it meanwhile.
func (f *Fake) Hold(id string, ip *rescue.InProgressError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.instances[id]; ok {
		i.InProgress = ip
	}
}
