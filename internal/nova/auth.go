package nova

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v2"

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
	rt.bucket = ratelimit.New(c.requestsPerSecond())

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

func imageEndpoint(b *Backend) string {
	if b.image == nil {
		return ""
	}
	return b.image.ResourceBaseURL()
}

func addUserAgent(pc *gophercloud.ProviderClient, ua string) {
	if ua == "" {
		ua = userAgent
	}
	pc.UserAgent.Prepend(ua)
}

// computeURL normalises a compute endpoint override: trailing slash, and /v2.1/ when the
// URL has no version in its path.
func computeURL(u string) string {
	u = strings.TrimRight(u, "/") + "/"
	if p, err := url.Parse(u); err == nil && !strings.Contains(p.Path, "/v2") {
		u += "v2.1/"
	}
	return u
}

// imageURLs normalises an image endpoint override into gophercloud's Endpoint and
// ResourceBase (".../v2/"), accepting the URL with or without /v2.
func imageURLs(u string) (endpoint, resourceBase string) {
	u = strings.TrimRight(u, "/") + "/"
	if strings.HasSuffix(u, "/v2/") {
		return u, u
	}
	return u, u + "v2/"
}

// authOptions builds the Keystone v3 auth options from an explicit configuration: an
// application credential, a token, or a password, with domains and project scope.
func authOptions(c Config) (gophercloud.AuthOptions, error) {
	ao := gophercloud.AuthOptions{IdentityEndpoint: c.AuthURL}
	dd := c.DefaultDomain
	if dd == "" {
		dd = defaultDomain
	}
	userDomain := func() {
		if c.UserName == "" || c.UserID != "" {
			return
		}
		ao.DomainID = first(c.UserDomainID, c.DomainID)
		if ao.DomainID == "" {
			ao.DomainName = first(c.UserDomainName, c.DomainName)
		}
		if ao.DomainID == "" && ao.DomainName == "" {
			ao.DomainID = dd
		}
	}
	switch {
	case c.ApplicationCredentialID != "" || c.ApplicationCredentialName != "":
		if c.ApplicationCredentialSecret == "" {
			return ao, errors.New("application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET) is required with an application credential")
		}
		ao.ApplicationCredentialID = c.ApplicationCredentialID
		ao.ApplicationCredentialSecret = c.ApplicationCredentialSecret
		if c.ApplicationCredentialID == "" {
			ao.ApplicationCredentialName = c.ApplicationCredentialName
			if c.UserID == "" && c.UserName == "" {
				return ao, errors.New("application_credential_name needs user_id or user_name (with its domain)")
			}
			ao.UserID = c.UserID
			if c.UserID == "" {
				ao.Username = c.UserName
			}
			userDomain()
		}
		return ao, nil
	case c.Password != "":
		if c.UserID == "" && c.UserName == "" {
			return ao, errors.New("password authentication needs user_name (OS_USERNAME) or user_id (OS_USER_ID)")
		}
		ao.Password = c.Password
		ao.UserID = c.UserID
		if c.UserID == "" {
			ao.Username = c.UserName
		}
		userDomain()
	case c.Token != "":
		ao.TokenID = c.Token
	default:
		return ao, errors.New("no credentials: set password (with user_name or user_id), token, " +
			"application_credential_id/secret or cloud")
	}
	ao.Scope = scope(c, dd)
	return ao, nil
}

// scope is the project (or domain) scope of a password or token authentication.
func scope(c Config, dd string) *gophercloud.AuthScope {
	switch {
	case c.TenantID != "":
		return &gophercloud.AuthScope{ProjectID: c.TenantID}
	case c.TenantName != "":
		s := &gophercloud.AuthScope{ProjectName: c.TenantName, DomainID: first(c.ProjectDomainID, c.DomainID)}
		if s.DomainID == "" {
			s.DomainName = first(c.ProjectDomainName, c.DomainName)
		}
		if s.DomainID == "" && s.DomainName == "" {
			s.DomainID = dd
		}
		return s
	case c.DomainID != "":
		return &gophercloud.AuthScope{DomainID: c.DomainID}
	case c.DomainName != "":
		return &gophercloud.AuthScope{DomainName: c.DomainName}
	}
	return nil
}

func first(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// fromClouds reads the cloud entry of clouds.yaml (and secure.yaml, clouds-public.yaml) with
// gophercloud's clouds package, which follows OS_CLIENT_CONFIG_FILE and the usual search path.
// Precedence, as in terraform-provider-openstack (gophercloud-utils clientconfig): a value set
// in the block (explicit) wins over the entry, and the entry wins over the OS_* environment
// (env), which only fills what both leave empty. Credentials are taken as a set: the
// environment's password, token or application credential is used only when neither the
// block nor the entry has any.
func fromClouds(explicit, env Config) (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	// Region and interface are always passed, even empty: clouds.Parse would otherwise let
	// OS_REGION_NAME and OS_INTERFACE win over the entry.
	opts := []clouds.ParseOption{clouds.WithCloudName(explicit.Cloud), clouds.WithRegion(explicit.Region),
		clouds.WithEndpointType(explicit.EndpointType)}
	add := func(v string, f func(string) clouds.ParseOption) {
		if v != "" {
			opts = append(opts, f(v))
		}
	}
	add(explicit.AuthURL, clouds.WithIdentityEndpoint)
	add(explicit.UserName, clouds.WithUsername)
	add(explicit.UserID, clouds.WithUserID)
	add(explicit.Password, clouds.WithPassword)
	add(explicit.TenantName, clouds.WithProjectName)
	add(explicit.TenantID, clouds.WithProjectID)
	add(explicit.Token, clouds.WithToken)
	add(explicit.ApplicationCredentialID, clouds.WithApplicationCredentialID)
	add(explicit.ApplicationCredentialName, clouds.WithApplicationCredentialName)
	add(explicit.ApplicationCredentialSecret, clouds.WithApplicationCredentialSecret)
	ao, eo, tlsConfig, err := clouds.Parse(opts...)
	if err != nil {
		return ao, eo, nil, err
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}

	// The environment fills what the block and the entry leave empty.
	ao.IdentityEndpoint = first(ao.IdentityEndpoint, env.AuthURL)
	eo.Region = first(eo.Region, env.Region)
	if explicit.EndpointType == "" && env.EndpointType != "" && !entrySetsInterface(explicit.Cloud) {
		if a, err := endpointAvailability(env.EndpointType); err == nil {
			eo.Availability = gophercloud.Availability(a)
		}
	}
	appCred := func() bool { return ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != "" }
	if ao.Password == "" && ao.TokenID == "" && ao.ApplicationCredentialSecret == "" {
		switch {
		case (env.ApplicationCredentialID != "" || env.ApplicationCredentialName != "") && env.ApplicationCredentialSecret != "":
			ao.ApplicationCredentialID = first(ao.ApplicationCredentialID, env.ApplicationCredentialID)
			if ao.ApplicationCredentialID == "" {
				ao.ApplicationCredentialName = first(ao.ApplicationCredentialName, env.ApplicationCredentialName)
			}
			ao.ApplicationCredentialSecret = env.ApplicationCredentialSecret
		case env.Password != "":
			ao.Password = env.Password
		case env.Token != "":
			ao.TokenID = env.Token
		}
	}
	if ao.Username == "" && ao.UserID == "" && (ao.Password != "" || ao.ApplicationCredentialName != "") {
		ao.UserID = env.UserID
		if ao.UserID == "" {
			ao.Username = env.UserName
		}
	}
	dd := first(explicit.DefaultDomain, env.DefaultDomain, defaultDomain)
	if ao.Scope == nil && !appCred() {
		ao.Scope = scope(Config{
			TenantID:          env.TenantID,
			TenantName:        env.TenantName,
			ProjectDomainID:   first(explicit.ProjectDomainID, env.ProjectDomainID),
			ProjectDomainName: first(explicit.ProjectDomainName, env.ProjectDomainName),
			DomainID:          first(explicit.DomainID, env.DomainID),
			DomainName:        first(explicit.DomainName, env.DomainName),
		}, dd)
		if ao.Scope != nil {
			ao.TenantID, ao.TenantName = ao.Scope.ProjectID, ao.Scope.ProjectName
		}
	}
	// The user's domain: the block's, else the entry's, else the environment's, else default_domain.
	setDomain := func(id, name *string, explicitID, explicitName, envID, envName string) {
		switch {
		case explicitID != "" || explicitName != "":
			*id, *name = explicitID, ""
			if *id == "" {
				*name = explicitName
			}
		case *id != "" || *name != "":
		case envID != "" || envName != "":
			*id, *name = envID, ""
			if *id == "" {
				*name = envName
			}
		default:
			*id = dd
		}
	}
	if ao.Username != "" && ao.UserID == "" {
		setDomain(&ao.DomainID, &ao.DomainName, explicit.UserDomainID, explicit.UserDomainName,
			first(env.UserDomainID, env.DomainID), first(env.UserDomainName, env.DomainName))
	}
	if ao.TokenID != "" && ao.Password == "" {
		// Token authentication takes no user.
		ao.Username, ao.UserID, ao.DomainID, ao.DomainName = "", "", "", ""
	}
	if s := ao.Scope; s != nil && s.ProjectName != "" {
		setDomain(&s.DomainID, &s.DomainName, explicit.ProjectDomainID, explicit.ProjectDomainName,
			first(env.ProjectDomainID, env.DomainID), first(env.ProjectDomainName, env.DomainName))
	}
	return ao, eo, tlsConfig, nil
}

// entrySetsInterface reports whether the clouds.yaml entry of cloud names an interface
// (interface or endpoint_type), which clouds.Parse does not tell: it returns "public" both
// for that value and for none. The file is found as clouds.Parse finds it.
func entrySetsInterface(cloud string) bool {
	_, all, err := readClouds()
	if err != nil || all == nil {
		return false
	}
	e := all.Clouds[cloud]
	return e.EndpointType != "" || e.Interface != ""
}

// cloudsLocations are the places clouds.Parse looks for clouds.yaml, in its order.
func cloudsLocations() []string {
	if f := os.Getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
		return []string{f}
	}
	var locations []string
	if cwd, err := os.Getwd(); err == nil {
		locations = append(locations, filepath.Join(cwd, "clouds.yaml"))
	}
	userConfig := os.Getenv("XDG_CONFIG_HOME")
	if home, err := os.UserHomeDir(); userConfig == "" && err == nil {
		userConfig = filepath.Join(home, ".config")
	}
	if userConfig != "" {
		locations = append(locations, filepath.Join(userConfig, "openstack", "clouds.yaml"))
	}
	return append(locations, "/etc/openstack/clouds.yaml")
}

// readClouds reads the first clouds.yaml that clouds.Parse would read: its path and
// contents ("" and nil when there is none).
func readClouds() (string, *clouds.Clouds, error) {
	for _, l := range cloudsLocations() {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		var all clouds.Clouds
		if err := yaml.Unmarshal(data, &all); err != nil {
			return l, nil, err
		}
		return l, &all, nil
	}
	return "", nil, nil
}

// cloudsFound says, for an error about the clouds.yaml entry cloud, which file was read and
// which entries it has, or where clouds.yaml was looked for.
func cloudsFound(cloud string) string {
	path, all, err := readClouds()
	switch {
	case path == "":
		return "no clouds.yaml found; looked for " + strings.Join(cloudsLocations(), ", ") +
			" (set OS_CLIENT_CONFIG_FILE to use another file)"
	case err != nil:
		return fmt.Sprintf("read %s: %v", path, err)
	}
	names := slices.Sorted(maps.Keys(all.Clouds))
	if len(names) == 0 {
		return fmt.Sprintf("read %s, which has no entries under clouds:", path)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	if _, ok := all.Clouds[cloud]; ok {
		return fmt.Sprintf("read %s", path)
	}
	return fmt.Sprintf("read %s, whose entries are %s", path, strings.Join(quoted, ", "))
}

// configErr is fmt.Errorf marked as a configuration error (rescue.ErrConfig).
func configErr(format string, a ...any) error {
	return rescue.Misconfigured(fmt.Errorf(format, a...))
}

// applyTLS applies insecure, cacert_file and cert/key of c to t. cacert_file, cert and key
// are file paths or PEM contents.
func applyTLS(t *tls.Config, c Config) error {
	if c.Insecure != nil {
		t.InsecureSkipVerify = *c.Insecure
	}
	if c.CACertFile != "" {
		pem, err := pathOrContents(c.CACertFile)
		if err != nil {
			return fmt.Errorf("cacert_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bytes.TrimSpace(pem)) {
			return errors.New("cacert_file: no PEM certificate found")
		}
		t.RootCAs = pool
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("cert and key must be set together (client certificate)")
	}
	if c.Cert != "" {
		certPEM, err := pathOrContents(c.Cert)
		if err != nil {
			return fmt.Errorf("cert: %w", err)
		}
		keyPEM, err := pathOrContents(c.Key)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("client certificate (cert, key): %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return nil
}

// pathOrContents returns v itself when it is PEM, else the file it names (~ expanded).
func pathOrContents(v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	p := v
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		p = home + "/" + rest
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// authError describes a failed authentication with Keystone's own message, and never the
// credentials. A refusal (401, 403) wraps rescue.ErrAuth.
func authError(ao gophercloud.AuthOptions, err error) error {
	who := ""
	switch {
	case ao.ApplicationCredentialID != "":
		who = fmt.Sprintf(" with application credential %s", ao.ApplicationCredentialID)
	case ao.ApplicationCredentialName != "":
		who = fmt.Sprintf(" with application credential %q", ao.ApplicationCredentialName)
	case ao.Username != "":
		who = fmt.Sprintf(" as user %q", ao.Username)
	case ao.UserID != "":
		who = fmt.Sprintf(" as user %s", ao.UserID)
	case ao.TokenID != "":
		who = " with a token"
	}
	if _, _, ok := httpStatus(err); ok {
		// 401/403: Keystone refused the credentials; trying again with them cannot help.
		return markUnavailable(markAuth(fmt.Errorf("authenticate at %s%s: Keystone answered %s", ao.IdentityEndpoint, who, describe(err)),
			err, http.StatusUnauthorized, http.StatusForbidden), err)
	}
	return markUnavailable(fmt.Errorf("authenticate at %s%s: %w", ao.IdentityEndpoint, who, err), err)
}

// newHTTPTransport is a fresh transport with net/http's defaults (proxy from the environment,
// dial and TLS handshake timeouts, idle pool), or a plain one if DefaultTransport was replaced.
func newHTTPTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment}
}
