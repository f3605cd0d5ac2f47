package nova

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// confirmTimeout bounds the read that decides the outcome of an ambiguous unrescue POST, and
// the single read after an ambiguous rescue POST whose context has already ended.
const confirmTimeout = 30 * time.Second

// After an ambiguous rescue POST, the server is read every rescueConfirmEvery for up to
// rescueConfirmWindow (and never past the caller's deadline) to learn whether Nova acted.
const (
	rescueConfirmWindow = 25 * time.Second
	rescueConfirmEvery  = time.Second
)

// Backend rescues Nova servers through the compute API (and reads rescue image properties
// from Glance v2). It is safe for concurrent use.
type Backend struct {
	provider  *gophercloud.ProviderClient
	compute   gophercloud.ServiceClient // template; copied per request with the microversion
	image     *gophercloud.ServiceClient
	imageErr  error // why there is no image client
	transport *retryTransport
	log       Logger
	images    *imageCache

	mvMu sync.Mutex
	mv   *negotiated

	// confirmWindow and confirmEvery pace the reads after an ambiguous rescue POST
	// (rescueConfirmWindow, rescueConfirmEvery; shorter in tests).
	confirmWindow, confirmEvery time.Duration

	// own keeps the local records of operations in flight (ownership.go).
	own ownership
	// batch is what the batch reads know between listings (batch.go).
	batch batchState
	// reads coalesces concurrent reads of servers (reads.go).
	reads readGroup
	// mvFlight makes concurrent first negotiations one (microversion.go).
	mvFlight mvFlight
}

var _ rescue.Backend = (*Backend)(nil)
var _ rescue.Closer = (*Backend)(nil)

// Close releases idle connections.
func (b *Backend) Close() error {
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	return nil
}

func (b *Backend) debug(ctx context.Context, msg string, fields map[string]any) {
	if b.log != nil {
		b.log(ctx, msg, fields)
	}
}

// Microversion returns the compute microversion this backend sends (negotiating it with the
// endpoint on first use) and the highest one the endpoint supports.
func (b *Backend) Microversion(ctx context.Context) (use, highest string, err error) {
	n, err := b.negotiate(ctx)
	if err != nil {
		return "", "", err
	}
	return n.use, n.max.String(), nil
}

// negotiateOnce reads the compute endpoint's version document and picks the microversion.
// A failed negotiation is not remembered: the next call tries again.
func (b *Backend) negotiateOnce(ctx context.Context) (negotiated, error) {
	b.mvMu.Lock()
	defer b.mvMu.Unlock()
	if b.mv != nil {
		return *b.mv, nil
	}
	c := b.compute
	// gophercloud falls back to the version in the URL ("microversions not supported") when it
	// cannot read the version document at all: read it first, so that a 503 is an unavailable
	// backend, never remembered as an endpoint without microversions.
	start := time.Now()
	if _, err := c.ProviderClient.Request(ctx, http.MethodGet, c.Endpoint,
		&gophercloud.RequestOpts{OkCodes: []int{http.StatusOK, http.StatusMultipleChoices}}); err != nil {
		return negotiated{}, versionDocError(c.Endpoint, err, time.Since(start))
	}
	sm, err := utils.GetSupportedMicroversions(ctx, &c)
	var n negotiated
	switch {
	case err != nil && strings.Contains(err.Error(), "microversions not supported"):
		// A compute endpoint without microversions (legacy v2): no header.
		n = negotiated{min: microversion{2, 0}, max: microversion{2, 0}}
	case err != nil:
		return negotiated{}, versionDocError(c.Endpoint, err, time.Since(start))
	default:
		n.min = microversion{sm.MinMajor, sm.MinMinor}
		n.max = microversion{sm.MaxMajor, sm.MaxMinor}
		n.use = chooseMicroversion(n.min, n.max)
	}
	b.mv = &n
	b.debug(ctx, "negotiated compute microversion", map[string]any{
		"microversion": n.use, "max_microversion": n.max.String(), "min_microversion": n.min.String(),
	})
	return n, nil
}

// versionDocError describes a failed read of the compute version document (tried for d).
func versionDocError(endpoint string, err error, d time.Duration) error {
	return triedFor(markUnavailable(markAuth(fmt.Errorf("read the compute API version document at %s: %s",
		endpoint, describe(err)), err, http.StatusUnauthorized), err), d)
}

// computeClient returns a compute client for one request, at the negotiated microversion.
func (b *Backend) computeClient(ctx context.Context) (*gophercloud.ServiceClient, negotiated, error) {
	n, err := b.negotiate(ctx)
	if err != nil {
		return nil, n, err
	}
	c := b.compute
	c.Microversion = n.use
	return &c, n, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its canonical 8-4-4-4-12 form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// checkRequest validates what needs no API call.
func checkRequest(req rescue.Request) error {
	if req.ShutdownTimeout != 0 {
		return &rescue.InvalidError{Attribute: "shutdown_timeout", Msg: "on OpenStack the cloud shuts the server down " +
			"before a rescue: its time is nova.conf [DEFAULT] shutdown_timeout, or the image property " +
			"os_shutdown_timeout; remove shutdown_timeout from the request"}
	}
	if err := rescue.CheckValues(string(req.Device), string(req.Bus)); err != nil {
		return err
	}
	if req.InstanceID != "" && !IsUUID(req.InstanceID) {
		return &rescue.InvalidError{Attribute: "instance_id", Msg: fmt.Sprintf("%q is not a Nova server UUID", req.InstanceID)}
	}
	if req.ImageID != "" && !IsUUID(req.ImageID) {
		return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("%q is not a Glance image UUID", req.ImageID)}
	}
	return nil
}

// Validate implements rescue.Backend: it checks the request, refuses a server in a state Nova
// does not rescue from (PAUSED, SUSPENDED, SHELVED, ...; see stateProblem) or locked for these
// non-admin credentials, and resolves device, bus and mode from the rescue image's
// hw_rescue_device / hw_rescue_bus properties. Empty
// InstanceID or ImageID mean "not known yet": what depends on them is left unresolved
// (Plan.Mode empty when the rescue image is not known). Without image_id, a server whose own
// image is gone from Glance is an InvalidError on image_id: Nova would revert the rescue.
func (b *Backend) Validate(ctx context.Context, req rescue.Request) (rescue.Plan, error) {
	plan, _, err := b.validateWarn(ctx, req)
	return plan, err
}

var _ rescue.Preparer = (*Backend)(nil)

// Prepare implements rescue.Preparer: Validate, with the server it read (as Get reports it)
// and its note of that read for RescuePrepared.
func (b *Backend) Prepare(ctx context.Context, req rescue.Request) (rescue.Plan, *rescue.Instance, any, error) {
	plan, info, err := b.validateWarn(ctx, req)
	if err != nil || info == nil {
		return plan, nil, nil, err
	}
	return plan, b.serverInstance(req.InstanceID, info.server), info, nil
}

// RescuePrepared implements rescue.Preparer: Rescue of a request Prepare accepted, without
// reading the server again.
func (b *Backend) RescuePrepared(ctx context.Context, req rescue.Request, note any) (rescue.Result, error) {
	info, ok := note.(*serverInfo)
	if !ok || info == nil || req.InstanceID == "" {
		return b.Rescue(ctx, req)
	}
	return b.rescue(ctx, req, info)
}

// validateWarn is validate with the warning about the server's state among the plan's.
func (b *Backend) validateWarn(ctx context.Context, req rescue.Request) (rescue.Plan, *serverInfo, error) {
	plan, info, err := b.validate(ctx, req)
	if err == nil && info != nil && info.warning != "" {
		plan.Warnings = append(plan.Warnings, info.warning)
	}
	return plan, info, err
}

// serverInfo is what Validate learned about the server.
type serverInfo struct {
	imageID      string
	volumeBacked bool
	// state is the server's state when Validate read it.
	state rescue.State
	// warning is about the server's state (a lock that may not stop the rescue).
	warning string
	// server is the server as read.
	server *servers.Server
}

func (b *Backend) validate(ctx context.Context, req rescue.Request) (rescue.Plan, *serverInfo, error) {
	if err := checkRequest(req); err != nil {
		return rescue.Plan{}, nil, err
	}
	var info *serverInfo
	if req.InstanceID != "" {
		_, n, err := b.computeClient(ctx)
		if err != nil {
			return rescue.Plan{}, nil, err
		}
		s, lock, err := b.readServer(ctx, req.InstanceID)
		if err != nil {
			return rescue.Plan{}, nil, err
		}
		info = &serverInfo{imageID: serverImageID(s), volumeBacked: serverImageID(s) == "", state: instanceOf(s).State, server: s}
		if info.warning, err = b.checkState(req.InstanceID, lock, s); err != nil {
			return rescue.Plan{}, info, err
		}
		if info.volumeBacked && !n.supports(MicroversionBFVRescue) {
			return rescue.Plan{}, info, &rescue.UnsupportedError{Msg: fmt.Sprintf("instance %s is volume-backed: "+
				"rescuing it needs compute API microversion %s, and this cloud supports at most %s",
				req.InstanceID, MicroversionBFVRescue, n.max)}
		}
	}

	if req.ImageUnknown {
		// The rescue image is known only at apply: everything else was checked.
		return rescue.Plan{Device: req.Device, Bus: req.Bus}, info, nil
	}
	imageID := req.ImageID
	if imageID == "" && info != nil {
		imageID = info.imageID
	}
	given := rescue.Plan{Device: req.Device, Bus: req.Bus, Mode: rescue.ModeLegacy}
	if req.Device != "" || req.Bus != "" {
		given.Mode = rescue.ModeStable
	}
	if imageID == "" {
		if info == nil {
			// Image not known yet (instance_id unknown at plan time).
			given.Mode = ""
			return given, nil, nil
		}
		// A volume-backed server without image_id: Nova decides (and says why not).
		given.Warnings = append(given.Warnings, fmt.Sprintf("instance %s is volume-backed: Nova rescues it only "+
			"with image_id set to an image that has hw_rescue_device and hw_rescue_bus, on a host with the "+
			"COMPUTE_RESCUE_BFV trait", req.InstanceID))
		return given, info, nil
	}

	props, err := b.imageProps(ctx, imageID)
	if err != nil {
		if rescue.IsNotFound(err) && req.ImageID == "" {
			// The server's own image is gone from Glance: Nova accepts the rescue, but its
			// compute host cannot find the image (ImageNotFound) and reverts it.
			return rescue.Plan{}, info, &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf(
				"instance %s was built from image %s, which is no longer in Glance, and Nova rescues with "+
					"the instance's own image when image_id is omitted: its compute host would fail to find "+
					"the image and revert the rescue; set image_id to an existing rescue image",
				req.InstanceID, imageID)}
		}
		return rescue.Plan{}, info, err
	}
	plan, err := resolve(req, imageID, props)
	if err == nil {
		err = formatProblem(imageID, string(plan.Device), props)
	}
	return plan, info, err
}

// resolve compares the requested device/bus with the image's properties (pure logic).
func resolve(req rescue.Request, imageID string, p imageProperties) (rescue.Plan, error) {
	if err := imageGives(imageID, "device", "hw_rescue_device", string(req.Device), p.device); err != nil {
		return rescue.Plan{}, err
	}
	if err := imageGives(imageID, "bus", "hw_rescue_bus", string(req.Bus), p.bus); err != nil {
		return rescue.Plan{}, err
	}
	plan := rescue.Plan{Device: rescue.Device(p.device), Bus: rescue.Bus(p.bus), Mode: rescue.ModeLegacy}
	if p.device != "" || p.bus != "" {
		plan.Mode = rescue.ModeStable
	}
	return plan, nil
}

// imageGives checks that image imageID gives the requested value want of attr (device or
// bus): Nova takes it from the image's property prop, whose value is have.
func imageGives(imageID, attr, prop, want, have string) error {
	if want == "" || want == have {
		return nil
	}
	fix := fmt.Sprintf("`openstack image set --property %s=%s %s`", prop, want, imageID)
	if have == "" {
		return &rescue.InvalidError{Attribute: attr, Msg: fmt.Sprintf(
			"Nova takes the rescue %s from the rescue image, and image %s has no %s property: run %s, or remove %s",
			attr, imageID, prop, fix, attr)}
	}
	return &rescue.InvalidError{Attribute: attr, Msg: fmt.Sprintf(
		"Nova takes the rescue %s from the rescue image, and image %s has %s=%s, not %s: run %s, or set %s = %q",
		attr, imageID, prop, have, want, fix, attr, have)}
}

// serverImageID is the id of the server's image, "" for a volume-backed server.
func serverImageID(s *servers.Server) string {
	if s == nil || s.Image == nil {
		return ""
	}
	id, _ := s.Image["id"].(string)
	return id
}

// getError maps the error of GET /servers/{id}.
// 429, 5xx and transient transport errors are marked rescue.ErrUnavailable (waits retry them).
func getError(id string, err error) error {
	if code, body, ok := httpStatus(err); ok && code == http.StatusNotFound {
		return &rescue.NotFoundError{What: "instance", ID: id, Msg: serverMessage(body)}
	}
	if _, _, ok := httpStatus(err); ok {
		return markUnavailable(markAuth(fmt.Errorf("read instance %s: Nova answered %s", id, describe(err)), err, http.StatusUnauthorized), err)
	}
	return markUnavailable(markAuth(fmt.Errorf("read instance %s: %w", id, err), err), err)
}

// Rescue implements rescue.Backend: POST /servers/{id}/action {"rescue": ...} at the
// negotiated microversion, with the given admin password or one generated here (so that a
// lost response cannot lose it). The POST is never repeated blindly (only a 429, which says
// Nova did not act, is retried by the transport). Only a clear HTTP 4xx answer means the
// rescue was not carried out: after any other failure (no answer, timeout, 5xx) the server
// is watched briefly, and unless it shows the rescue under way the error wraps
// rescue.ErrAccepted with the password in the Result, because Nova may still act on it.
func (b *Backend) Rescue(ctx context.Context, req rescue.Request) (rescue.Result, error) {
	if req.InstanceID == "" {
		return rescue.Result{}, &rescue.InvalidError{Attribute: "instance_id", Msg: "is required"}
	}
	_, info, err := b.validate(ctx, req)
	if err != nil {
		return rescue.Result{}, err
	}
	return b.rescue(ctx, req, info)
}

// rescue is Rescue of a request validate accepted; info is what it read of the server (nil
// when it read nothing).
func (b *Backend) rescue(ctx context.Context, req rescue.Request, info *serverInfo) (rescue.Result, error) {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return rescue.Result{}, err
	}
	pass := req.AdminPass
	if pass == "" {
		if pass, err = GeneratePassword(PasswordLength); err != nil {
			return rescue.Result{}, err
		}
	}
	// The record of this rescue, held until the operation's context ends (ownership.go).
	rec, err := b.acquire(ctx, "rescue", req.InstanceID)
	if err != nil {
		return rescue.Result{}, err
	}
	r := servers.Rescue(ctx, c, req.InstanceID, servers.RescueOpts{
		AdminPass: pass, RescueImageRef: req.ImageID,
	})
	got, err := r.Extract()
	if err == nil {
		b.accepted(req.InstanceID, rec, r.Header)
		if got != "" {
			pass = got
		}
		b.debug(ctx, "rescue accepted by Nova", map[string]any{"instance_id": req.InstanceID, "microversion": c.Microversion})
		return rescue.Result{AdminPass: pass}, nil
	}
	if !ambiguous(err) {
		b.refused(rec)
		return rescue.Result{}, actionError("rescue", req.InstanceID, err, pass)
	}
	before := rescue.State("")
	if info != nil {
		before = info.state
	}
	// Nova's error bodies may echo the request: the password never shows.
	res, err := b.confirmRescue(ctx, req.InstanceID, pass, before, redact(describe(err), pass))
	if err == nil {
		b.accepted(req.InstanceID, rec, nil)
	}
	return res, err
}

// confirmRescue watches the server after a rescue POST that failed without a clear answer.
// When Nova shows the rescue under way (task rescuing, status RESCUE, or ERROR when the
// server was not in ERROR before), the rescue was accepted: a nil error, and the engine
// waits as usual. Otherwise the outcome stays unknown, and the error wraps
// rescue.ErrAccepted with the password, so that the caller keeps track of a rescue Nova may
// still carry out; its message says what the server looked like.
func (b *Backend) confirmRescue(ctx context.Context, id, pass string, before rescue.State, postErr string) (rescue.Result, error) {
	res := rescue.Result{AdminPass: pass}
	window, every := b.confirmWindow, b.confirmEvery
	if window <= 0 {
		window = rescueConfirmWindow
	}
	if every <= 0 {
		every = rescueConfirmEvery
	}
	pctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	if ctx.Err() != nil {
		// The caller's time is up (perhaps that is why the POST failed): one read, to say
		// what the server looks like.
		pctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), min(window, confirmTimeout))
		defer cancel()
	}
	start := time.Now()
	var (
		inst *rescue.Instance // the last server read
		gerr error            // the last read error, unless a read succeeded before the window closed
	)
	for {
		i, err := b.Get(pctx, id)
		switch {
		case err == nil:
			inst, gerr = i, nil
			if rescueStarted(i.State, before) {
				b.debug(ctx, "rescue request failed without a clear answer, but Nova started the rescue", map[string]any{
					"instance_id": id, "error": postErr, "state": i.Status,
				})
				return res, nil
			}
		case inst == nil || pctx.Err() == nil:
			gerr = err
		}
		if rescue.IsNotFound(err) || ctx.Err() != nil || rescue.Sleep(pctx, every) != nil {
			break
		}
	}
	waited := time.Since(start).Round(time.Second)
	b.debug(ctx, "rescue request failed without a clear answer; Nova shows no rescue", map[string]any{
		"instance_id": id, "error": postErr, "read_error": fmt.Sprint(gerr), "state": stateOf(inst),
		"watched": waited.String(),
	})
	head := fmt.Sprintf("the rescue request for instance %s failed without a clear answer from Nova (%s)", id, postErr)
	if gerr != nil {
		return res, fmt.Errorf("%w: %s, and reading the server failed too (%w): it may be in rescue or get there, "+
			"so it is kept with its rescue password", rescue.ErrAccepted, head, gerr)
	}
	return res, fmt.Errorf("%w: %s; the server is still %s after %s: Nova most likely did not act on it, "+
		"but it still may, so it is kept with its rescue password", rescue.ErrAccepted, head, inst.Status, waited)
}

// rescueStarted reports whether a server in state now shows a rescue that it did not show
// in state before (the state read before the POST; "" when unknown).
func rescueStarted(now, before rescue.State) bool {
	switch now {
	case rescue.StateRescuing, rescue.StateRescued:
		return true
	case rescue.StateError:
		return before != "" && before != rescue.StateError
	default:
		return false
	}
}

// confirm reads the server after an ambiguous unrescue POST: on its way to or back in
// ACTIVE, the action was accepted.
func (b *Backend) confirm(ctx context.Context, op, id string, postErr error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmTimeout)
	defer cancel()
	inst, gerr := b.Get(cctx, id)
	b.debug(ctx, op+" request failed without a clear answer; read the server", map[string]any{
		"instance_id": id, "error": describe(postErr), "read_error": fmt.Sprint(gerr), "state": stateOf(inst),
	})
	if gerr != nil {
		return fmt.Errorf("%s of instance %s: %s (reading the server failed too: %w)", op, id, describe(postErr), gerr)
	}
	if inst.State == rescue.StateUnrescuing || inst.State == rescue.StateActive {
		return nil
	}
	if _, _, ok := httpStatus(postErr); ok {
		return fmt.Errorf("%s of instance %s: Nova answered %s (the server is %s)", op, id, describe(postErr), inst.Status)
	}
	return fmt.Errorf("%s of instance %s (the server is %s): %w", op, id, inst.Status, postErr)
}

func stateOf(i *rescue.Instance) string {
	if i == nil {
		return ""
	}
	return i.Status
}

// Unrescue implements rescue.Backend: POST /servers/{id}/action {"unrescue": null}.
func (b *Backend) Unrescue(ctx context.Context, instanceID string) error {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return err
	}
	rec, err := b.acquire(ctx, "unrescue", instanceID)
	if err != nil {
		return err
	}
	err = servers.Unrescue(ctx, c, instanceID).ExtractErr()
	if err == nil {
		b.accepted(instanceID, rec, nil)
		return nil
	}
	if !ambiguous(err) {
		b.refused(rec)
		return actionError("unrescue", instanceID, err)
	}
	if err := b.confirm(ctx, "unrescue", instanceID, err); err != nil {
		return err
	}
	b.accepted(instanceID, rec, nil)
	return nil
}

// Get implements rescue.Backend: GET /servers/{id}, mapped to the engine's states; concurrent
// Gets share one listing (reads.go).
func (b *Backend) Get(ctx context.Context, instanceID string) (*rescue.Instance, error) {
	s, _, err := b.readServer(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	return b.serverInstance(instanceID, s), nil
}

// instanceOf maps a Nova server to the engine's Instance (pure logic).
func instanceOf(s *servers.Server) *rescue.Instance {
	inst := &rescue.Instance{ID: s.ID, Name: s.Name, Status: s.Status}
	if s.TaskState != "" {
		inst.Status = s.Status + "/" + s.TaskState
	}
	switch {
	case s.TaskState == "rescuing":
		inst.State = rescue.StateRescuing
	case s.TaskState == "unrescuing":
		inst.State = rescue.StateUnrescuing
	case s.Status == "RESCUE":
		inst.State = rescue.StateRescued
	case s.Status == "ACTIVE":
		inst.State = rescue.StateActive
	case s.Status == "SHUTOFF":
		inst.State = rescue.StateStopped
	case s.Status == "ERROR":
		inst.State = rescue.StateError
		inst.Fault = faultText(s.Fault)
	default:
		inst.State = rescue.StateOther
	}
	return inst
}

// faultText is Nova's fault message with its code, or a note that Nova gave none.
func faultText(f servers.Fault) string {
	msg := strings.TrimSpace(f.Message)
	switch {
	case msg == "" && f.Code == 0:
		return "the server is in ERROR and Nova reports no fault"
	case f.Code == 0:
		return msg
	case msg == "":
		return fmt.Sprintf("fault code %d", f.Code)
	}
	return fmt.Sprintf("%s (code %d)", msg, f.Code)
}
