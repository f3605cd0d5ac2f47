// Package rescue is the backend-neutral engine of the provider: the request and instance
// types, the Backend interface every backend implements, typed errors and the waiter.
// It knows nothing of Terraform, Nova or libvirt.
package rescue

import (
	"context"
	"time"
)

// Mode says how the rescue image is attached.
type Mode string

const (
	// ModeLegacy boots the rescue image as the first disk, the original root follows it.
	ModeLegacy Mode = "legacy"
	// ModeStable keeps every original device in place and appends the rescue device (device/bus).
	ModeStable Mode = "stable"
)

// State is the backend-neutral state of an instance as far as rescue is concerned.
type State string

const (
	// StateRescued means the instance runs from the rescue image.
	StateRescued State = "rescued"
	// StateRescuing means a rescue is in progress.
	StateRescuing State = "rescuing"
	// StateUnrescuing means an unrescue is in progress.
	StateUnrescuing State = "unrescuing"
	// StateActive means the instance runs (or can run) from its own disks, not in rescue.
	StateActive State = "active"
	// StateStopped means the instance is shut off and not in rescue.
	StateStopped State = "stopped"
	// StateError means the backend reports the instance in error; Instance.Fault says why.
	StateError State = "error"
	// StateOther is any other state (building, migrating, ...); Instance.Status has the backend's word.
	StateOther State = "other"
)

// Transient reports whether the state is a rescue or unrescue in progress.
func (s State) Transient() bool { return s == StateRescuing || s == StateUnrescuing }

// Request is what the resource asks a backend to do. Empty strings mean "not set".
type Request struct {
	// InstanceID is the Nova server UUID or the libvirt domain name or UUID.
	InstanceID string
	// ImageID is the rescue image: Glance UUID on Nova, a path or pool/volume on libvirt.
	ImageID string
	// Device is the rescue device type (cdrom, disk, floppy) for stable-device mode.
	Device Device
	// Bus is the rescue bus (scsi, virtio, ide, usb, sata, fdc) for stable-device mode.
	Bus Bus
	// AdminPass is the rescue password; empty means the backend's default behaviour.
	AdminPass string
	// ShutdownTimeout is how long a clean shutdown may take (libvirt); zero means the default.
	ShutdownTimeout time.Duration
	// ImageUnknown says that image_id is set but not known yet (plan time): Validate must not
	// take the empty ImageID for "omitted" and checks only the rest.
	ImageUnknown bool
}

// Plan is a request with the values a backend resolved from it before any change.
type Plan struct {
	// Device and Bus in effect; empty in legacy mode.
	Device Device
	Bus    Bus
	// Mode in effect.
	Mode Mode
	// Warnings the user should see (for example a value inferred from the image).
	Warnings []string
}

// Instance is what a backend reports about an instance.
type Instance struct {
	// ID is the canonical id (Nova UUID; libvirt domain name as the user gave it or its UUID).
	ID string
	// Name is the human name of the instance.
	Name string
	// State is the backend-neutral state.
	State State
	// Status is the backend's own word for the state (e.g. "ACTIVE/rescuing", "running").
	Status string
	// Fault is the backend's reason when State is StateError.
	Fault string
	// ImageID is the rescue image in effect, when the backend knows it.
	ImageID string
	// Device, Bus and Mode of the rescue in effect, when known.
	Device Device
	Bus    Bus
	Mode   Mode
	// InProgress is set when a live run of the provider other than this one is rescuing or
	// unrescuing the instance (State is then StateRescuing or StateUnrescuing): the engine
	// neither rescues nor unrescues it and returns this error.
	InProgress *InProgressError
}

// StatusText is what to call the instance's state in a message: the backend's Status, else
// the neutral State; "unknown" for no instance.
func (i *Instance) StatusText() string {
	switch {
	case i == nil:
		return "unknown"
	case i.Status != "":
		return i.Status
	}
	return string(i.State)
}

// Result is what a started rescue returns.
type Result struct {
	// AdminPass is the rescue password in effect (the given one, or one the backend made).
	AdminPass string
	// Warnings the user should see (e.g. an interrupted operation of a dead run was finished
	// or rolled back first).
	Warnings []string
}

// Backend is one way to rescue instances (Nova API, libvirt host). Implementations must be
// safe for concurrent use by many resources of one provider process.
type Backend interface {
	// Validate checks a request before any change and resolves device, bus and mode.
	// Fields the caller does not know yet are empty; it validates what it can.
	Validate(ctx context.Context, req Request) (Plan, error)
	// Rescue starts the rescue. It may return before the instance is in rescue; the engine
	// waits with Get. Once the backend accepted the action it must return a nil error or an
	// error wrapping ErrAccepted, so that the caller knows a rescue may be under way.
	Rescue(ctx context.Context, req Request) (Result, error)
	// Unrescue starts the unrescue of an instance in rescue.
	Unrescue(ctx context.Context, instanceID string) error
	// Get reads an instance; a missing one is a NotFoundError.
	Get(ctx context.Context, instanceID string) (*Instance, error)
}

// ActionReasoner is implemented by backends that can say why an accepted action came to nothing
// (Nova reverts a rescue to ACTIVE without a fault when its compute fails early).
type ActionReasoner interface {
	// LastActionError returns the backend's reason for the failure of the latest action
	// ("rescue" or "unrescue") on the instance, or "" when it has none.
	LastActionError(ctx context.Context, instanceID, action string) (string, error)
}

// Closer is implemented by backends that hold a connection.
type Closer interface {
	Close() error
}

// Scoper is implemented by backends whose instance ids are unique only within a scope (a cloud
// and region, a libvirt host): the scope is part of the resource identity.
type Scoper interface {
	// Scope names where the backend's instance ids are unique, e.g. "openstack:<compute
	// endpoint>" or "libvirt:<connection URI>".
	Scope() string
}
