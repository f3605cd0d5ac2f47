package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Status words of Get besides libvirt's state names.
const (
	// StatusRescued: the rescue guest runs (or was shut down from inside the rescue).
	StatusRescued = "rescued"
	// StatusIncomplete: a rescue stopped halfway (its process died); the journal keeps the
	// original, and an unrescue (terraform destroy) restores it, or a new rescue rolls it back
	// first.
	StatusIncomplete = "rescue-incomplete"
	// StatusUnrescueIncomplete: an unrescue stopped after the original definition was back
	// (its process died); unrescue again finishes the clean-up.
	StatusUnrescueIncomplete = "unrescue-incomplete"
)

// Get implements rescue.Backend. A domain without a journal is not in rescue (StateActive or
// StateStopped). With a journal:
//   - another live run holds its operation (its lease is alive): StateRescuing or
//     StateUnrescuing with InProgress set, so that nothing undoes it;
//   - the running guest was started from the rescue definition, or the journal says rescued and
//     the shut-off domain still has the rescue definition: StateRescued;
//   - this Backend is rescuing or unrescuing the domain right now: StateRescuing/StateUnrescuing;
//   - anything else is a rescue that stopped halfway: StateError with status rescue-incomplete,
//     so that the engine unrescues it on delete (restoring the original) and a new rescue
//     adopts or rolls it back before it starts.
//
// Device, Bus, Mode and ImageID come from the journal.
func (b *Backend) Get(ctx context.Context, instanceID string) (_ *rescue.Instance, err error) {
	l, done, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = done(err) }()
	d, err := lookup(l, instanceID)
	if err != nil {
		return nil, err
	}
	return b.instance(l, d, instanceID)
}

// instance reads domain d, asked for as instanceID, for Get and GetMany: its journal, its
// state and, with a journal, its definition (see Get). A domain that vanished meanwhile is a
// NotFoundError.
func (b *Backend) instance(l *golibvirt.Libvirt, d golibvirt.Domain, instanceID string) (*rescue.Instance, error) {
	inst := &rescue.Instance{ID: instanceID, Name: d.Name}
	if s := b.inflightState(d.UUID); s != "" {
		inst.State, inst.Status = s, string(s)
		return inst, nil
	}
	j, err := readJournal(l, d)
	if err != nil {
		return nil, notFound(err, instanceID)
	}
	if j == nil {
		state, err := domState(l, d)
		if err != nil {
			return nil, notFound(err, instanceID)
		}
		inst.Status = stateName(state)
		switch state {
		case golibvirt.DomainRunning, golibvirt.DomainBlocked:
			inst.State = rescue.StateActive
		case golibvirt.DomainShutoff:
			inst.State = rescue.StateStopped
		case golibvirt.DomainCrashed:
			inst.State, inst.Fault = rescue.StateError, "the domain crashed"
		default:
			inst.State = rescue.StateOther
		}
		return inst, nil
	}
	inst.ImageID, inst.Device, inst.Bus, inst.Mode = j.Image, rescue.Device(j.Device), rescue.Bus(j.Bus), rescue.Mode(j.Mode)
	if alive, _ := leaseAlive(j.Owner, time.Now()); alive {
		// Another live run's operation: in progress, not incomplete.
		inst.State, inst.Status = rescue.StateRescuing, "rescuing (another run)"
		if j.Owner.Kind == "unrescue" {
			inst.State, inst.Status = rescue.StateUnrescuing, "unrescuing (another run)"
		}
		inst.InProgress = inProgressError(instanceID, j)
		return inst, nil
	}
	c, err := b.classify(l, d, j)
	if err != nil {
		return nil, notFound(err, instanceID)
	}
	inst.State, inst.Status, inst.Fault = c.State, c.Status, c.Fault
	return inst, nil
}

var _ rescue.Recoverer = (*Backend)(nil)

// Recover implements rescue.Recoverer: an operation of a live run is in progress (an
// InProgressError); a rescue handed to Terraform (complete, its lease released) is Foreign;
// anything a dead run left is for Rescue to adopt or roll back (Resume), which says so in its
// warnings.
func (b *Backend) Recover(ctx context.Context, req rescue.Request, _ *rescue.Instance) (_ rescue.Resumption, err error) {
	l, done, err := b.client(ctx)
	if err != nil {
		return rescue.Resumption{}, err
	}
	defer func() { err = done(err) }()
	d, err := lookup(l, req.InstanceID)
	if err != nil {
		return rescue.Resumption{}, err
	}
	j, err := readJournal(l, d)
	if err != nil || j == nil {
		return rescue.Resumption{Action: rescue.Resume}, notFound(err, req.InstanceID)
	}
	if alive, _ := leaseAlive(j.Owner, time.Now()); alive {
		return rescue.Resumption{}, inProgressError(req.InstanceID, j)
	}
	if j.Owner == nil && j.State == stateRescued {
		if st, err := b.classify(l, d, j); err != nil || st.State == rescue.StateRescued {
			return rescue.Resumption{Action: rescue.Foreign}, notFound(err, req.InstanceID)
		}
	}
	return rescue.Resumption{Action: rescue.Resume}, nil
}

// classification is what a journal and the domain say together.
type classification struct {
	State  rescue.State
	Status string
	Fault  string
}

// classify decides whether a domain with a journal is in rescue or in a rescue that stopped
// halfway.
func (b *Backend) classify(l *golibvirt.Libvirt, d golibvirt.Domain, j *journal) (classification, error) {
	state, err := domState(l, d)
	if err != nil {
		return classification{}, err
	}
	if isActive(state) {
		live, err := runsRescue(l, d, j)
		if err != nil {
			return classification{}, err
		}
		if live {
			return classification{State: rescue.StateRescued, Status: StatusRescued}, nil
		}
	} else if j.State == stateRescued {
		def, err := definesRescue(l, d, j)
		if err != nil {
			return classification{}, err
		}
		if def {
			return classification{State: rescue.StateRescued, Status: StatusRescued + " (shut off)"}, nil
		}
	}
	if j.State == stateRestoring {
		return classification{
			State:  rescue.StateError,
			Status: StatusUnrescueIncomplete,
			Fault: fmt.Sprintf("an unrescue of domain %s stopped halfway: the original definition is back (domain %s), the clean-up of the rescue is not finished; "+
				"another unrescue finishes it", d.Name, stateName(state)),
		}, nil
	}
	return classification{
		State:  rescue.StateError,
		Status: StatusIncomplete,
		Fault: fmt.Sprintf("a rescue of domain %s started at %s stopped halfway (journal state %s, domain %s); "+
			"the original definition is kept in the journal: an unrescue restores it, and a new rescue takes it over when the rescue guest already runs what that rescue asks for, else rolls it back first",
			d.Name, j.Started, j.State, stateName(state)),
	}, nil
}
