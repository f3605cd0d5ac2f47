package nova

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// userAgent is put in front of gophercloud's User-Agent when the caller gives none (the provider
// gives terraform-provider-rescue/<version>).
const userAgent = "terraform-provider-rescue"

// New connects to the cloud described by cfg (with OS_* variables and clouds.yaml for what
// it leaves empty), authenticates, finds the compute and image endpoints and returns the
// Backend. The compute microversion is negotiated on first use.
//
// With a token, an endpoint_overrides entry for "compute" and no auth_url (nor cloud), no
// Keystone is contacted: the token is sent as it is (for example Nova's noauth2 "admin:admin").
func New(ctx context.Context, cfg Config) (*Backend, error) {
	c, err := cfg.withEnv(os.Getenv)
	if err != nil {
		return nil, configErr("openstack configuration: %w", err)
	}
	env, _ := Config{}.withEnv(os.Getenv) // the environment alone (its errors were reported above)
	retries, err := c.maxRetries()
	if err != nil {
		return nil, configErr("openstack configuration: %w", err)
	}
	availability, err := endpointAvailability(c.EndpointType)
	if err != nil {
		return nil, configErr("openstack configuration: %w", err)
	}
	ao, eo, tlsConfig, err := connectionOptions(cfg, c, env, availability)
	if err != nil {
		return nil, err
	}

	transport := newHTTPTransport()
	transport.TLSClientConfig = tlsConfig
	transport.ResponseHeaderTimeout = responseHeaderTimeout
	rt := newRetryTransport(transport, retries, c.Logger)
	rt.bucket = ratelimit.New(c.requestsPerSecond())

	b := &Backend{log: c.Logger, transport: rt, images: newImageCache()}
	// RESCUE_POLLER=per-instance is the code of before the shared poller, reads included: each
	// read of a server is its own GET (make bench compares the two).
	b.reads.alone = os.Getenv(rescue.PollerEnv) == "per-instance"
	if b.provider, err = providerClient(ctx, c, ao, rt); err != nil {
		return nil, err
	}
	noauth := ""
	if c.Cloud == "" && c.AuthURL == "" {
		noauth = c.Token
	}
	b.initOwnership(noauth)
	if err := b.findEndpoints(c, eo, availability); err != nil {
		return nil, err
	}
	b.debug(ctx, "openstack backend ready", map[string]any{
		"compute_endpoint": b.compute.Endpoint, "image_endpoint": imageEndpoint(b), "max_retries": retries,
	})
	return b, nil
}

// connectionOptions returns the auth options of the clouds.yaml entry (when c names a cloud;
// cfg is the block as written), the endpoint options and the TLS configuration.
func connectionOptions(cfg, c, env Config, availability string) (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	var (
		ao        gophercloud.AuthOptions
		eo        = gophercloud.EndpointOpts{Region: c.Region, Availability: gophercloud.Availability(availability)}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	)
	if c.Cloud != "" {
		explicit := cfg
		explicit.Cloud = c.Cloud
		var err error
		if ao, eo, tlsConfig, err = fromClouds(explicit, env); err != nil {
			return ao, eo, nil, configErr("openstack cloud %q from clouds.yaml: %w (%s)", c.Cloud, err, cloudsFound(c.Cloud))
		}
	}
	if err := applyTLS(tlsConfig, c); err != nil {
		return ao, eo, nil, configErr("openstack TLS configuration: %w", err)
	}
	return ao, eo, tlsConfig, nil
}

// override is the endpoint_overrides entry of a service ("" when none).
func (cfg Config) override(service string) string {
	return strings.TrimSpace(cfg.EndpointOverrides[service])
}

// providerClient authenticates with Keystone (with ao from clouds.yaml, else the options of
// c), or, without Keystone (no auth_url nor cloud), sends c's token to the endpoints as it is.
func providerClient(ctx context.Context, c Config, ao gophercloud.AuthOptions, rt *retryTransport) (*gophercloud.ProviderClient, error) {
	if c.Cloud == "" && c.AuthURL == "" {
		if c.Token == "" || c.override("compute") == "" {
			return nil, configErr("openstack configuration: set auth_url (OS_AUTH_URL) or cloud (OS_CLOUD); " +
				"without Keystone, set token and endpoint_overrides for \"compute\"")
		}
		pc := &gophercloud.ProviderClient{}
		pc.UseTokenLock()
		pc.SetToken(c.Token)
		pc.HTTPClient = http.Client{Transport: rt}
		addUserAgent(pc, c.UserAgent)
		return pc, nil
	}
	if c.Cloud == "" {
		var err error
		if ao, err = authOptions(c); err != nil {
			return nil, configErr("openstack configuration: %w", err)
		}
	}
	ao.AllowReauth = c.allowReauth()
	if ao.TokenID != "" && ao.Password == "" && (ao.Scope == nil || *ao.Scope == (gophercloud.AuthScope{})) {
		// A token passed through as it is cannot be renewed (gophercloud refuses reauth here).
		ao.AllowReauth = false
	}
	if ao.IdentityEndpoint == "" {
		return nil, configErr("openstack configuration: no auth_url (OS_AUTH_URL, or auth_url in clouds.yaml)")
	}
	pc, err := openstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, configErr("openstack auth_url %q: %w", ao.IdentityEndpoint, err)
	}
	pc.HTTPClient = http.Client{Transport: rt}
	addUserAgent(pc, c.UserAgent)
	start := time.Now()
	if err := openstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, triedFor(authError(ao, err), time.Since(start))
	}
	return pc, nil
}

// findEndpoints sets the compute and image clients: endpoint_overrides, else the service
// catalog. Without an image endpoint, imageErr says why (only image_id lookups need one).
func (b *Backend) findEndpoints(c Config, eo gophercloud.EndpointOpts, availability string) error {
	pc := b.provider
	if u := c.override("compute"); u != "" {
		b.compute = gophercloud.ServiceClient{ProviderClient: pc, Endpoint: computeURL(u), Type: "compute"}
	} else {
		sc, err := openstack.NewComputeV2(pc, eo)
		if err != nil {
			return configErr("find the compute endpoint in the service catalog (region %q, interface %s): %w",
				eo.Region, availability, err)
		}
		b.compute = *sc
	}
	switch u := c.override("image"); {
	case u != "":
		ep, base := imageURLs(u)
		b.image = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: ep, ResourceBase: base, Type: "image"}
	case c.Cloud == "" && c.AuthURL == "":
		b.imageErr = rescue.Misconfigured(errors.New("no image endpoint: without Keystone, set endpoint_overrides for \"image\" (Glance)"))
	default:
		sc, err := openstack.NewImageV2(pc, eo)
		if err != nil {
			b.imageErr = configErr("find the image (Glance) endpoint in the service catalog (region %q, interface %s): %w",
				eo.Region, availability, err)
		} else {
			b.image = sc
		}
	}
	return nil
}

func addUserAgent(pc *gophercloud.ProviderClient, ua string) {
	if ua == "" {
		ua = userAgent
	}
	pc.UserAgent.Prepend(ua)
}

// configErr is fmt.Errorf marked as a configuration error (rescue.ErrConfig).
func configErr(format string, a ...any) error {
	return rescue.Misconfigured(fmt.Errorf(format, a...))
}

// newHTTPTransport is a fresh transport with net/http's defaults (proxy from the environment,
// dial and TLS handshake timeouts, idle pool), or a plain one if DefaultTransport was replaced.
func newHTTPTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment}
}
