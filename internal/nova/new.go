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

	var (
		ao        gophercloud.AuthOptions
		eo        = gophercloud.EndpointOpts{Region: c.Region, Availability: gophercloud.Availability(availability)}
		tlsConfig *tls.Config
	)
	if c.Cloud != "" {
		explicit := cfg
		explicit.Cloud = c.Cloud
		ao, eo, tlsConfig, err = fromClouds(explicit, env)
		if err != nil {
			return nil, configErr("openstack cloud %q from clouds.yaml: %w (%s)", c.Cloud, err, cloudsFound(c.Cloud))
		}
	} else {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if err := applyTLS(tlsConfig, c); err != nil {
		return nil, configErr("openstack TLS configuration: %w", err)
	}

	transport := newHTTPTransport()
	transport.TLSClientConfig = tlsConfig
	transport.ResponseHeaderTimeout = responseHeaderTimeout
	rt := newRetryTransport(transport, retries, c.Logger)

	b := &Backend{log: c.Logger, transport: rt, images: newImageCache()}
	override := func(service string) string { return strings.TrimSpace(c.EndpointOverrides[service]) }

	var pc *gophercloud.ProviderClient
	if c.Cloud == "" && c.AuthURL == "" {
		if c.Token == "" || override("compute") == "" {
			return nil, configErr("openstack configuration: set auth_url (OS_AUTH_URL) or cloud (OS_CLOUD); " +
				"without Keystone, set token and endpoint_overrides for \"compute\"")
		}
		// No Keystone: the token goes to the endpoints as it is.
		pc = &gophercloud.ProviderClient{}
		pc.UseTokenLock()
		pc.SetToken(c.Token)
		pc.HTTPClient = http.Client{Transport: rt}
		addUserAgent(pc, c.UserAgent)
	} else {
		if c.Cloud == "" {
			ao, err = authOptions(c)
			if err != nil {
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
		pc, err = openstack.NewClient(ao.IdentityEndpoint)
		if err != nil {
			return nil, configErr("openstack auth_url %q: %w", ao.IdentityEndpoint, err)
		}
		pc.HTTPClient = http.Client{Transport: rt}
		addUserAgent(pc, c.UserAgent)
		start := time.Now()
		if err := openstack.Authenticate(ctx, pc, ao); err != nil {
			return nil, triedFor(authError(ao, err), time.Since(start))
		}
	}
	b.provider = pc
	noauth := ""
	if c.Cloud == "" && c.AuthURL == "" {
		noauth = c.Token
	}
	b.initOwnership(noauth)

	if u := override("compute"); u != "" {
		b.compute = gophercloud.ServiceClient{ProviderClient: pc, Endpoint: computeURL(u), Type: "compute"}
	} else {
		sc, err := openstack.NewComputeV2(pc, eo)
		if err != nil {
			return nil, configErr("find the compute endpoint in the service catalog (region %q, interface %s): %w",
				eo.Region, availability, err)
		}
		b.compute = *sc
	}
	if u := override("image"); u != "" {
		ep, base := imageURLs(u)
		b.image = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: ep, ResourceBase: base, Type: "image"}
	} else if c.Cloud == "" && c.AuthURL == "" {
		b.imageErr = rescue.Misconfigured(errors.New("no image endpoint: without Keystone, set endpoint_overrides for \"image\" (Glance)"))
	} else if sc, err := openstack.NewImageV2(pc, eo); err != nil {
		b.imageErr = configErr("find the image (Glance) endpoint in the service catalog (region %q, interface %s): %w",
			eo.Region, availability, err)
	} else {
		b.image = sc
	}
	b.debug(ctx, "openstack backend ready", map[string]any{
		"compute_endpoint": b.compute.Endpoint, "image_endpoint": imageEndpoint(b), "max_retries": retries,
	})
	return b, nil
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
