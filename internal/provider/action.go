package provider

// What the break-glass actions (Terraform 1.14 and later) share: the client, the timeout, the
// progress stream, and the error classes of the resource.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// actionBase is the part every action has: the provider's client, set by Configure.
type actionBase struct {
	client *client
}

func (a *actionBase) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	a.client = clientOf(req.ProviderData, &resp.Diagnostics)
}

// engine is the engine over the provider's backend; nil (diags say why) before the provider is
// configured or when its configuration is not known yet.
func (a *actionBase) engine(ctx context.Context, diags *diag.Diagnostics) *rescue.Engine {
	if a.client == nil {
		diags.AddError("Provider not configured", "The action ran before the provider was configured. "+
			"This is a bug in the provider: please report it.")
		return nil
	}
	eng, err := a.client.Engine(ctx)
	if err != nil {
		actionErr(diags, titleUnreachable, err)
		return nil
	}
	return eng
}

// timeoutAttr is the action's `timeout` attribute (an action has no `timeouts` block).
func timeoutAttr(what string) schema.StringAttribute {
	return schema.StringAttribute{
		Optional: true,
		Description: "How long the " + what + " may take in all, a duration such as `\"15m\"`; default `\"10m\"` " +
			"like the resource's timeouts. Every backend call and wait is bounded by it.",
		Validators: []validator.String{durationValidator{}},
	}
}

// actionTimeout is the configured timeout, else the default.
func actionTimeout(v types.String) time.Duration {
	if d, err := time.ParseDuration(known(v)); err == nil && d > 0 {
		return d
	}
	return defaultTimeout
}

// actionErr is addErr for actions: the same classes and titles, with the action's words where
// the resource's would mislead (its timeout, no import of a rescue found).
func actionErr(diags *diag.Diagnostics, title string, err error) {
	var ar *rescue.AlreadyRescuedError
	if errors.As(err, &ar) {
		diags.AddAttributeError(path.Root("instance_id"), "Instance already in rescue",
			fmt.Sprintf("Instance %s is already in rescue (%s), by someone else than this action: nothing was changed. "+
				"Unrescue it first (action rescue_unrescue) to rescue it with this configuration, or keep that rescue.",
				ar.InstanceID, ar.Status))
		return
	}
	title, detail, attr := describeAction(title, err)
	if attr != "" {
		diags.AddAttributeError(path.Root(attr), title, detail)
		return
	}
	diags.AddError(title, detail)
}

// describeAction is describe in an action user's words.
func describeAction(title string, err error) (string, string, string) {
	title, detail, attr := describeClass(title, err)
	return title, actionWords.Replace(detail), attr
}

// actionWords turns the backends' words (and the resource's) into an action user's, as
// terraformWords does for the resource.
var actionWords = strings.NewReplacer(
	"another unrescue finishes it", "unrescue again (action rescue_unrescue) finishes it",
	"an unrescue restores it", "an unrescue (action rescue_unrescue) restores it",
	"a new rescue takes it over", "a new rescue (action rescue_rescue) takes it over",
	"what that rescue asks for", "what the action asks for",
	"remove shutdown_timeout from the request", "remove shutdown_timeout from the action",
	"not on the machine that asks for the rescue", "not where terraform runs",
	", then try again", ", then invoke again",
	"the resource's `timeouts`", "the action's `timeout`",
	"nothing of it is kept in this state", "nothing of it is changed",
	"then apply again", "then invoke again",
)

// progress sends an invocation's progress events in order, from a goroutine of its own, so that
// an operation never blocks on a stream nobody reads: the framework's SendProgress blocks until
// Terraform takes the event, and for ever once it stopped reading. Repeated messages are sent
// once, and secrets are masked.
type progress struct {
	ch      chan string
	done    chan struct{}
	secrets []string

	mu     sync.Mutex
	closed bool
	last   string
}

func newProgress(send func(action.InvokeProgressEvent), secrets ...string) *progress {
	p := &progress{ch: make(chan string, 256), done: make(chan struct{})}
	for _, s := range secrets {
		if s != "" {
			p.secrets = append(p.secrets, s)
		}
	}
	go func() {
		defer close(p.done)
		for m := range p.ch {
			if send != nil {
				send(action.InvokeProgressEvent{Message: m})
			}
		}
	}()
	return p
}

// report queues a message; one that repeats the previous is dropped, and so is any after close.
func (p *progress) report(msg string) {
	for _, s := range p.secrets {
		msg = strings.ReplaceAll(msg, s, "(sensitive value)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || msg == p.last {
		return
	}
	p.last = msg
	select {
	case p.ch <- msg:
	default: // 256 events behind: Terraform does not read them, the operation goes on
	}
}

// close sends what is queued before the invocation completes, for at most grace (Terraform
// may have stopped reading).
func (p *progress) close(grace time.Duration) {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	p.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
}

// progressPoller reports the states a wait sees ("web is ACTIVE/rescuing") as progress, and
// otherwise waits as the engine's own poller does.
type progressPoller struct {
	rescue.Poller
	report func(string)
}

func (p progressPoller) Wait(ctx context.Context, op, id string, get rescue.GetFunc, done rescue.DoneFunc) (*rescue.Instance, error) {
	if op != "read" {
		p.report(fmt.Sprintf("waiting for the %s of %s", op, id))
	}
	return p.Poller.Wait(ctx, op, id, get, func(i *rescue.Instance) (bool, error) {
		p.report(fmt.Sprintf("%s is %s", id, i.StatusText()))
		return done(i)
	})
}

// invocation is one run of an action: its context (secrets masked in logs, bounded by the
// timeout, reporting to the progress stream) and the engine whose waits report too.
type invocation struct {
	ctx    context.Context
	eng    *rescue.Engine
	report func(string)
	end    func()
}

// actionModel is what every action's configuration model tells the shared plan and invoke steps.
type actionModel interface {
	// model is the resource's model of the same values (log fields, the request).
	model() instanceModel
	// timeout is the action's `timeout` attribute.
	timeout() types.String
	// plannable is false when ModifyPlan has nothing to check yet (values known at apply).
	plannable() bool
}

// planAction reads an action's configuration for ModifyPlan and returns it with the engine,
// under a context with the instance's log fields and bounded by the action's timeout (the
// caller defers cancel). eng is nil when there is nothing to check: errors (diags say which),
// a provider not configured or not known yet, or values known only at apply.
func planAction[T actionModel](ctx context.Context, a *actionBase, cfg tfsdk.Config, diags *diag.Diagnostics) (T, context.Context, context.CancelFunc, *rescue.Engine) {
	var m T
	diags.Append(cfg.Get(ctx, &m)...)
	if diags.HasError() || a.client == nil || a.client.unknown || !m.plannable() {
		return m, ctx, func() {}, nil
	}
	im := m.model()
	ctx, cancel := context.WithTimeout(logCtx(ctx, &im), actionTimeout(m.timeout()))
	return m, ctx, cancel, a.engine(ctx, diags)
}

// invokeAction reads an action's configuration for Invoke and prepares its invocation; a nil
// invocation means diags say why.
func invokeAction[T actionModel](ctx context.Context, a *actionBase, cfg tfsdk.Config, resp *action.InvokeResponse) (T, *invocation) {
	var m T
	resp.Diagnostics.Append(cfg.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return m, nil
	}
	return m, a.invoke(ctx, m.model(), m.timeout(), resp)
}

// invoke prepares an invocation for the instance in m. A nil result means diags say why.
func (a *actionBase) invoke(ctx context.Context, m instanceModel, timeout types.String, resp *action.InvokeResponse) *invocation {
	ctx, cancel := context.WithTimeout(logCtx(ctx, &m), actionTimeout(timeout))
	p := newProgress(resp.SendProgress, known(m.AdminPassWO))
	end := func() {
		cancel()
		p.close(5 * time.Second)
	}
	ctx = rescue.WithProgress(ctx, p.report)
	eng := a.engine(ctx, &resp.Diagnostics)
	if eng == nil {
		end()
		return nil
	}
	// A copy: the client's engine is shared by every resource of the provider.
	e := *eng
	e.Poller = progressPoller{Poller: eng.Poller, report: p.report}
	return &invocation{ctx: ctx, eng: &e, report: p.report, end: end}
}
