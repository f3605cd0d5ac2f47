// Package nova is the rescue Backend over the OpenStack Compute (Nova) API, through gophercloud v2.
package nova

import (
	"context"
	"math"
)

// Config is the provider's openstack block. Empty fields fall back to the OS_* environment
// variables and to clouds.yaml (cloud / OS_CLOUD), with the names of terraform-provider-openstack.
// Precedence without a cloud: a field set here, then its OS_* variable. With a cloud, as in
// terraform-provider-openstack (gophercloud-utils clientconfig): a field set here, then the
// clouds.yaml entry (read by gophercloud's openstack/config/clouds, which honours
// OS_CLIENT_CONFIG_FILE and the usual search path ./clouds.yaml, ~/.config/openstack/,
// /etc/openstack/), then the OS_* variables for what the entry leaves empty; credentials go
// as a set (the environment's password, token or application credential only when neither
// this block nor the entry has one). TLS files follow gophercloud: OS_CACERT, OS_CERT and
// OS_KEY win over the entry's. Credentials: an application credential (id + secret, or
// name + user + secret), else a password (with user_name or user_id), else a token. A
// token with endpoint_overrides["compute"] and no auth_url nor cloud skips Keystone
// entirely (the token is sent as it is).
type Config struct {
	Cloud                       string
	AuthURL                     string
	Region                      string
	UserName                    string
	UserID                      string
	Password                    string
	TenantName                  string
	TenantID                    string
	UserDomainName              string
	UserDomainID                string
	ProjectDomainName           string
	ProjectDomainID             string
	DomainName                  string
	DomainID                    string
	DefaultDomain               string
	ApplicationCredentialID     string
	ApplicationCredentialName   string
	ApplicationCredentialSecret string
	Token                       string
	// Insecure, AllowReauth: nil means "not set" (environment / clouds.yaml / default decide).
	Insecure    *bool
	AllowReauth *bool
	CACertFile  string
	Cert        string
	Key         string
	// EndpointType is public, internal or admin (OS_ENDPOINT_TYPE / OS_INTERFACE).
	EndpointType string
	// EndpointOverrides maps a service type ("compute", "image") to a URL used instead of the catalog.
	EndpointOverrides map[string]string
	// MaxRetries bounds the retries of a request: GETs on 429/502/503/504 and transient
	// transport errors, the rescue/unrescue POSTs on 429 only; nil means the default.
	MaxRetries *int
	// MaxRequestsPerSecond paces every request of the connection (one token bucket, shared by
	// all resources of the provider process; a 429 with Retry-After pauses it for all): 0 means
	// DefaultMaxRequestsPerSecond, +Inf no limit.
	MaxRequestsPerSecond float64
	// UserAgent is put in front of gophercloud's User-Agent (the provider sets
	// terraform-provider-rescue/<version>); empty means "terraform-provider-rescue".
	UserAgent string
	// Logger, when set, receives debug events (retries, negotiated microversion, endpoints).
	// Secrets never appear in its messages or fields.
	Logger Logger
}

// Logger receives a debug event with structured fields; the provider passes tflog.Debug.
type Logger func(ctx context.Context, msg string, fields map[string]any)

// DefaultMaxRequestsPerSecond is the request rate of a connection when Config.MaxRequestsPerSecond
// is not set: enough for a mass rescue (the shared poller's waits cost one listing per tick), and
// well below what clouds' API rate limits allow one user.
const DefaultMaxRequestsPerSecond = 10

// requestsPerSecond is the rate of the connection's bucket (+Inf: no limit).
func (c Config) requestsPerSecond() float64 {
	if c.MaxRequestsPerSecond <= 0 || math.IsNaN(c.MaxRequestsPerSecond) {
		return DefaultMaxRequestsPerSecond
	}
	return c.MaxRequestsPerSecond
}
