package rescue

import "context"

// Preparer is implemented by backends that read the instance to validate a request (Nova
// reads the server for its state, lock and image): Engine.Validate keeps that read, and
// Engine.RescueChecked acts on it, so that a rescue reads the instance once before acting.
type Preparer interface {
	// Prepare is Validate that also returns the instance as it read it (as Get reports it;
	// nil when req.InstanceID is empty) and the backend's own note of that read, for
	// RescuePrepared.
	Prepare(ctx context.Context, req Request) (Plan, *Instance, any, error)
	// RescuePrepared is Rescue of a request that Prepare accepted with note, the instance
	// unchanged since: it neither reads the instance nor validates the request again.
	RescuePrepared(ctx context.Context, req Request, note any) (Result, error)
}

// Checked is a request the backend validated before any change (Engine.Validate).
type Checked struct {
	// Request is the request as it was checked.
	Request Request
	// Plan is what the backend resolved from it: device, bus, mode, warnings.
	Plan Plan
	// Instance is the instance as the validation read it; nil when the backend did not
	// read it (or Request.InstanceID was empty).
	Instance *Instance
	// note is the Preparer's own note of its read, given back to RescuePrepared.
	note any
}

// Validate checks req before any change and resolves device, bus and mode (the backend's
// Validate). When the backend reads the instance to validate it (Preparer), the read is kept
// in the result, for RescueChecked.
func (e *Engine) Validate(ctx context.Context, req Request) (*Checked, error) {
	if p, ok := e.Backend.(Preparer); ok {
		plan, inst, note, err := p.Prepare(ctx, req)
		if err != nil {
			return nil, err
		}
		return &Checked{Request: req, Plan: plan, Instance: inst, note: note}, nil
	}
	plan, err := e.Backend.Validate(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Checked{Request: req, Plan: plan}, nil
}

// RescueChecked is Rescue of a request that Validate accepted, with the device and bus its
// plan resolved. The instance Validate read is the one acted on: it is not read again before
// the rescue unless it had to be dealt with first (in rescue or on its way out of it).
func (e *Engine) RescueChecked(ctx context.Context, c *Checked) (Result, *Instance, error) {
	req := c.Request
	req.Device, req.Bus = c.Plan.Device, c.Plan.Bus
	cur := c.Instance
	if cur == nil {
		var err error
		if cur, err = e.read(ctx, req.InstanceID); err != nil {
			return Result{}, nil, err
		}
		return e.rescue(ctx, req, cur, nil)
	}
	return e.rescue(ctx, req, cur, c)
}
