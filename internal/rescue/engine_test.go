package rescue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// fakeBackend scripts the states Get returns after each action (pure logic, no daemon).
type fakeBackend struct {
	mu        sync.Mutex
	states    []rescue.Instance // returned by successive Get calls; the last one repeats
	gets      int
	rescued   int
	unrescued int
	rescueErr error
	onRescue  []rescue.Instance
	onUnres   []rescue.Instance
}

func (f *fakeBackend) Name() string { return "fake" }
func (f *fakeBackend) Validate(context.Context, rescue.Request) (rescue.Plan, error) {
	return rescue.Plan{Mode: rescue.ModeLegacy}, nil
}
func (f *fakeBackend) Rescue(_ context.Context, r rescue.Request) (rescue.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rescued++
	if f.rescueErr != nil {
		return rescue.Result{}, f.rescueErr
	}
	f.states = f.onRescue
	return rescue.Result{AdminPass: r.AdminPass}, nil
}
func (f *fakeBackend) Unrescue(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unrescued++
	f.states = f.onUnres
	return nil
}
func (f *fakeBackend) Get(_ context.Context, id string) (*rescue.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if len(f.states) == 0 {
		return nil, &rescue.NotFoundError{What: "instance", ID: id}
	}
	s := f.states[0]
	if len(f.states) > 1 {
		f.states = f.states[1:]
	}
	s.ID = id
	return &s, nil
}

func st(s rescue.State) rescue.Instance { return rescue.Instance{State: s, Status: string(s)} }

func fastEngine(b rescue.Backend) *rescue.Engine {
	return &rescue.Engine{Backend: b, Poller: rescue.NewPoller(rescue.Backoff{First: time.Millisecond, Factor: 2, Max: 4 * time.Millisecond})}
}

func TestRescueWaitsUntilRescued(t *testing.T) {
	f := &fakeBackend{
		states:   []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescuing), st(rescue.StateRescued)},
	}
	res, inst, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1", AdminPass: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.State != rescue.StateRescued || res.AdminPass != "pw" {
		t.Fatalf("got %+v %+v", inst, res)
	}
	if f.rescued != 1 || f.gets != 4 {
		t.Fatalf("rescued %d times with %d gets, want 1 and 4", f.rescued, f.gets)
	}
}

func TestRescueErrorStateIsFailedWithReasonAndAccepted(t *testing.T) {
	fault := rescue.Instance{State: rescue.StateError, Status: "ERROR", Fault: "Driver Error: boom"}
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)}, onRescue: []rescue.Instance{st(rescue.StateRescuing), fault}}
	_, _, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
	var fe *rescue.FailedError
	if !errors.As(err, &fe) || fe.Reason != "Driver Error: boom" {
		t.Fatalf("want FailedError with the fault, got %v", err)
	}
	if !rescue.Accepted(err) {
		t.Fatalf("a failure after the POST must be marked accepted: %v", err)
	}
}

func TestRescueTimeoutIsAccepted(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)}, onRescue: []rescue.Instance{st(rescue.StateRescuing)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, _, err := fastEngine(f).Rescue(ctx, rescue.Request{InstanceID: "i1"})
	var te *rescue.TimeoutError
	if !errors.As(err, &te) || !rescue.Accepted(err) {
		t.Fatalf("want accepted TimeoutError, got %v", err)
	}
	if te.Last != "rescuing" {
		t.Fatalf("last state %q", te.Last)
	}
}

func TestRescueRefusedBeforeActionIsNotAccepted(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)}, rescueErr: &rescue.ConflictError{Msg: "Cannot 'rescue' instance while it is in vm_state paused"}}
	_, _, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
	if !rescue.IsConflict(err) || rescue.Accepted(err) {
		t.Fatalf("want a plain conflict, got %v", err)
	}
}

func TestRescueOfRescuedInstanceIsRefusedWithoutAction(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateRescued)}}
	_, _, err := fastEngine(f).Rescue(context.Background(), rescue.Request{InstanceID: "i1"})
	var ar *rescue.AlreadyRescuedError
	if !errors.As(err, &ar) || f.rescued != 0 {
		t.Fatalf("want AlreadyRescuedError and no action, got %v (%d)", err, f.rescued)
	}
}

func TestUnrescueOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		states []rescue.Instance
		want   rescue.Outcome
		calls  int
	}{
		{"rescued", []rescue.Instance{st(rescue.StateRescued)}, rescue.Unrescued, 1},
		{"already active", []rescue.Instance{st(rescue.StateActive)}, rescue.AlreadyUnrescued, 0},
		{"gone", nil, rescue.Gone, 0},
		{"rescuing settles first", []rescue.Instance{st(rescue.StateRescuing), st(rescue.StateRescued)}, rescue.Unrescued, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeBackend{states: c.states, onUnres: []rescue.Instance{st(rescue.StateUnrescuing), st(rescue.StateActive)}}
			out, _, err := fastEngine(f).Unrescue(context.Background(), "i1")
			if err != nil || out != c.want || f.unrescued != c.calls {
				t.Fatalf("got %v, %v, %d calls; want %v, %d calls", out, err, f.unrescued, c.want, c.calls)
			}
		})
	}
}

func TestReadWaitsOutTransientStates(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateUnrescuing), st(rescue.StateUnrescuing), st(rescue.StateActive)}}
	inst, err := fastEngine(f).Read(context.Background(), "i1")
	if err != nil || inst.State != rescue.StateActive {
		t.Fatalf("got %+v %v", inst, err)
	}
}

func TestWaitStopsOnCancel(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateRescuing)}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	_, err := fastEngine(f).Read(ctx, "i1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestBackoffIsBounded(t *testing.T) {
	b := rescue.Backoff{First: 100 * time.Millisecond, Factor: 2, Max: time.Second}
	var d time.Duration
	var seq []time.Duration
	for i := 0; i < 8; i++ {
		d = b.Next(d)
		seq = append(seq, d)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000, 1000}
	for i := range want {
		if seq[i] != want[i]*time.Millisecond {
			t.Fatalf("interval %d = %v, want %v (seq %v)", i, seq[i], want[i]*time.Millisecond, seq)
		}
	}
}

// reasoner adds the backend's reason for an undone action.
type reasoner struct{ *fakeBackend }

func (reasoner) LastActionError(_ context.Context, _, action string) (string, error) {
	return "Image 1234 could not be found (" + action + ")", nil
}

func TestRescueUndoneByTheBackendFailsAtOnceWithItsReason(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateActive)},
		onRescue: []rescue.Instance{st(rescue.StateRescuing), {State: rescue.StateActive, Status: "ACTIVE"}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := fastEngine(reasoner{f}).Rescue(ctx, rescue.Request{InstanceID: "i1"})
	var fe *rescue.FailedError
	if !errors.As(err, &fe) || !rescue.Accepted(err) {
		t.Fatalf("want an accepted FailedError, got %v", err)
	}
	if want := "the instance is ACTIVE again without a fault: Image 1234 could not be found (rescue)"; fe.Reason != want {
		t.Fatalf("reason %q, want %q", fe.Reason, want)
	}
	if ctx.Err() != nil {
		t.Fatal("waited until the deadline")
	}
}

func TestUnrescueUndoneByTheBackendFails(t *testing.T) {
	f := &fakeBackend{states: []rescue.Instance{st(rescue.StateRescued)},
		onUnres: []rescue.Instance{st(rescue.StateUnrescuing), st(rescue.StateRescued)}}
	_, _, err := fastEngine(f).Unrescue(context.Background(), "i1")
	var fe *rescue.FailedError
	if !errors.As(err, &fe) || fe.Op != "unrescue" {
		t.Fatalf("want FailedError for unrescue, got %v", err)
	}
}

func TestUnrescueOfAnErrorInstanceTheBackendRefuses(t *testing.T) {
	f := &errUnrescue{fakeBackend{states: []rescue.Instance{{State: rescue.StateError, Status: "ERROR"}}}}
	out, _, err := fastEngine(f).Unrescue(context.Background(), "i1")
	if out != rescue.LeftInError || !rescue.IsConflict(err) {
		t.Fatalf("got %v, %v; want LeftInError with the conflict", out, err)
	}
}

type errUnrescue struct{ fakeBackend }

func (e *errUnrescue) Unrescue(context.Context, string) error {
	return &rescue.ConflictError{Msg: "Cannot 'unrescue' instance i1 while it is in vm_state error"}
}
