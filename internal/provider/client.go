package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

const (
	kindOpenStack = "openstack"
	kindLibvirt   = "libvirt"
)

// errConfigUnknown says the provider configuration depends on values known only at apply.
var errConfigUnknown = errors.New("the provider configuration has values that are known only after apply")

// client is what Configure hands to resources: one lazily opened backend per provider
// instance, shared by all its resources.
type client struct {
	kind    string
	unknown bool
	open    func(ctx context.Context) (rescue.Backend, error)
	// nova is the Nova configuration the backend is opened with (nil for libvirt).
	nova *nova.Config

	mu      sync.Mutex
	backend rescue.Backend
	// engine is the one engine over backend: its waits share one poller (rescue.DefaultPoller).
	engine *rescue.Engine
	// opening is closed when the connect in progress ends (nil when none is).
	opening chan struct{}
	// authErr is kept once the backend refused the credentials: every further resource of
	// the run gets it without another login (which could lock the account).
	authErr error
	// inState holds when this process last saw an instance in a resource's state (Read, or a
	// plan that replaces it): the create half of a replacement is planned with no prior
	// state, and must not take the resource's own rescue for someone else's.
	inState sync.Map
}

var (
	openMu  sync.Mutex
	opened  []*client
	clients = map[string]*client{}
)

// sharedClient returns the client made for the same configuration and environment before, or
// a new one: a process that configures the provider many times (the acceptance tests, which
// serve it in-process) keeps one connection per configuration.
func sharedClient(key string, mk func() (*client, diag.Diagnostics)) (*client, diag.Diagnostics) {
	openMu.Lock()
	defer openMu.Unlock()
	if c, ok := clients[key]; ok {
		return c, nil
	}
	c, diags := mk()
	if !diags.HasError() && !c.unknown {
		clients[key] = c
	}
	return c, diags
}

// configKey identifies a provider configuration together with the environment it falls back to.
func configKey(config string, environ []string) string {
	var env []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "OS_") || strings.HasPrefix(kv, "LIBVIRT_") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	return config + "\x00" + strings.Join(env, "\x00")
}

// Engine returns the engine over this provider's backend, connecting on first use. Connecting
// is bounded by ctx, and so is the wait for a connect that another resource started.
func (c *client) Engine(ctx context.Context) (*rescue.Engine, error) {
	if c.unknown {
		return nil, errConfigUnknown
	}
	for {
		c.mu.Lock()
		if c.authErr != nil {
			c.mu.Unlock()
			return nil, c.authErr
		}
		if c.backend != nil {
			e := c.engine
			c.mu.Unlock()
			return e, nil
		}
		if c.opening == nil {
			return c.connect(ctx)
		}
		opening := c.opening
		c.mu.Unlock()
		select {
		case <-opening:
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to the %s backend: %w", c.kind, ctx.Err())
		}
	}
}

// connect opens the backend; it is called with c.mu held and releases it while connecting.
func (c *client) connect(ctx context.Context) (*rescue.Engine, error) {
	opening := make(chan struct{})
	c.opening = opening
	c.mu.Unlock()
	b, err := c.open(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opening = nil
	close(opening)
	if err != nil {
		err = fmt.Errorf("connect to the %s backend: %w", c.kind, err)
		if errors.Is(err, rescue.ErrAuth) {
			c.authErr = err
		}
		return nil, err
	}
	c.backend, c.engine = b, rescue.NewEngine(b)
	openMu.Lock()
	opened = append(opened, c)
	openMu.Unlock()
	return c.engine, nil
}

func (c *client) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.backend.(rescue.Closer); ok {
		c.backend, c.engine = nil, nil
		return cl.Close()
	}
	return nil
}

// CloseAll closes every backend connection the provider opened; main calls it on exit.
func CloseAll() error {
	openMu.Lock()
	list := opened
	opened = nil
	clients = map[string]*client{}
	openMu.Unlock()
	var errs []error
	for _, c := range list {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

func newClient(cfg providerModel, getenv func(string) string, version string) (*client, diag.Diagnostics) {
	var diags diag.Diagnostics
	switch {
	case cfg.OpenStack != nil:
		nc, unknown, d := novaConfig(cfg.OpenStack)
		diags.Append(d...)
		return novaClient(nc, unknown, version), diags
	case cfg.Libvirt != nil:
		lc := libvirt.Config{URI: cfg.Libvirt.URI.ValueString(), MaxRequestsPerSecond: cfg.Libvirt.MaxRequestsPerSecond.ValueFloat64()}
		unknown := cfg.Libvirt.URI.IsUnknown() || cfg.Libvirt.MaxRequestsPerSecond.IsUnknown()
		return &client{kind: kindLibvirt, unknown: unknown, open: func(ctx context.Context) (rescue.Backend, error) {
			return libvirt.New(ctx, lc)
		}}, diags
	}
	osSel := getenv("OS_CLOUD") != "" || getenv("OS_AUTH_URL") != ""
	lvSel := getenv("LIBVIRT_DEFAULT_URI") != ""
	switch {
	case osSel && lvSel:
		diags.AddError("Backend is ambiguous",
			"The provider has no backend block, and the environment selects both OpenStack (OS_CLOUD or OS_AUTH_URL) "+
				"and libvirt (LIBVIRT_DEFAULT_URI). Add an `openstack { }` or a `libvirt { }` block to the provider.")
		return nil, diags
	case osSel:
		return novaClient(nova.Config{}, false, version), diags
	case lvSel:
		return &client{kind: kindLibvirt, open: func(ctx context.Context) (rescue.Backend, error) {
			return libvirt.New(ctx, libvirt.Config{})
		}}, diags
	}
	diags.AddError("No backend configured",
		"Configure the provider with an `openstack { ... }` block (or set OS_CLOUD or OS_AUTH_URL), or with a "+
			"`libvirt { uri = \"qemu:///system\" }` block (or set LIBVIRT_DEFAULT_URI).")
	return nil, diags
}

// novaClient is the client of a Nova backend, configured by a block or by the environment alone:
// either way its requests carry the provider's User-Agent and its events reach the debug log.
func novaClient(nc nova.Config, unknown bool, version string) *client {
	nc.UserAgent = "terraform-provider-rescue/" + version
	nc.Logger = func(ctx context.Context, msg string, fields map[string]any) {
		tflog.Debug(ctx, msg, fields)
	}
	return &client{kind: kindOpenStack, unknown: unknown, nova: &nc, open: func(ctx context.Context) (rescue.Backend, error) {
		return nova.New(ctx, nc)
	}}
}

func novaConfig(m *openstackModel) (nova.Config, bool, diag.Diagnostics) {
	var diags diag.Diagnostics
	unknown := false
	s := func(v types.String) string {
		if v.IsUnknown() {
			unknown = true
		}
		return v.ValueString()
	}
	b := func(v types.Bool) *bool {
		if v.IsUnknown() {
			unknown = true
		}
		if v.IsNull() || v.IsUnknown() {
			return nil
		}
		x := v.ValueBool()
		return &x
	}
	c := nova.Config{
		Cloud: s(m.Cloud), AuthURL: s(m.AuthURL), Region: s(m.Region),
		UserName: s(m.UserName), UserID: s(m.UserID), Password: s(m.Password),
		TenantName: s(m.TenantName), TenantID: s(m.TenantID),
		UserDomainName: s(m.UserDomainName), UserDomainID: s(m.UserDomainID),
		ProjectDomainName: s(m.ProjectDomainName), ProjectDomainID: s(m.ProjectDomainID),
		DomainName: s(m.DomainName), DomainID: s(m.DomainID), DefaultDomain: s(m.DefaultDomain),
		ApplicationCredentialID:     s(m.ApplicationCredentialID),
		ApplicationCredentialName:   s(m.ApplicationCredentialName),
		ApplicationCredentialSecret: s(m.ApplicationCredentialSecret),
		Token:                       s(m.Token),
		Insecure:                    b(m.Insecure), AllowReauth: b(m.AllowReauth),
		CACertFile: s(m.CACertFile), Cert: s(m.Cert), Key: s(m.Key),
		EndpointType: s(m.EndpointType),
	}
	if m.MaxRequestsPerSecond.IsUnknown() {
		unknown = true
	}
	c.MaxRequestsPerSecond = m.MaxRequestsPerSecond.ValueFloat64()
	if m.MaxRetries.IsUnknown() {
		unknown = true
	} else if !m.MaxRetries.IsNull() {
		n := int(m.MaxRetries.ValueInt64())
		c.MaxRetries = &n
	}
	if m.EndpointOverrides.IsUnknown() {
		unknown = true
	} else if !m.EndpointOverrides.IsNull() {
		c.EndpointOverrides = map[string]string{}
		for k, v := range m.EndpointOverrides.Elements() {
			sv, ok := v.(types.String)
			if !ok || sv.IsUnknown() {
				unknown = unknown || (ok && sv.IsUnknown())
				continue
			}
			if sv.IsNull() {
				diags.AddAttributeError(path.Root("openstack").AtName("endpoint_overrides").AtMapKey(k),
					"Empty endpoint override", "Give a URL for "+k+" or remove the key.")
				continue
			}
			c.EndpointOverrides[k] = sv.ValueString()
		}
	}
	return c, unknown, diags
}
