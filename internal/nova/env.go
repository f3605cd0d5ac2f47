package nova

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// DefaultMaxRetries is the number of retries of a request (see Config.MaxRetries) when
// Config.MaxRetries and OS_MAX_RETRIES are not set.
const DefaultMaxRetries = 5

// defaultDomain is the default of default_domain, as in terraform-provider-openstack.
const defaultDomain = "default"

// envNames lists, per Config field, the OS_* variables that fill it when it is empty, in
// order of precedence (the names and order of terraform-provider-openstack).
var envNames = struct {
	Cloud, AuthURL, Region, UserName, UserID, Password, TenantName, TenantID        []string
	UserDomainName, UserDomainID, ProjectDomainName, ProjectDomainID                []string
	DomainName, DomainID, DefaultDomain                                             []string
	ApplicationCredentialID, ApplicationCredentialName, ApplicationCredentialSecret []string
	Token, Insecure, AllowReauth, CACertFile, Cert, Key, EndpointType, MaxRetries   []string
}{
	Cloud:                       []string{"OS_CLOUD"},
	AuthURL:                     []string{"OS_AUTH_URL"},
	Region:                      []string{"OS_REGION_NAME"},
	UserName:                    []string{"OS_USERNAME"},
	UserID:                      []string{"OS_USER_ID"},
	Password:                    []string{"OS_PASSWORD"},
	TenantName:                  []string{"OS_TENANT_NAME", "OS_PROJECT_NAME"},
	TenantID:                    []string{"OS_TENANT_ID", "OS_PROJECT_ID"},
	UserDomainName:              []string{"OS_USER_DOMAIN_NAME"},
	UserDomainID:                []string{"OS_USER_DOMAIN_ID"},
	ProjectDomainName:           []string{"OS_PROJECT_DOMAIN_NAME"},
	ProjectDomainID:             []string{"OS_PROJECT_DOMAIN_ID"},
	DomainName:                  []string{"OS_DOMAIN_NAME"},
	DomainID:                    []string{"OS_DOMAIN_ID"},
	DefaultDomain:               []string{"OS_DEFAULT_DOMAIN"},
	ApplicationCredentialID:     []string{"OS_APPLICATION_CREDENTIAL_ID"},
	ApplicationCredentialName:   []string{"OS_APPLICATION_CREDENTIAL_NAME"},
	ApplicationCredentialSecret: []string{"OS_APPLICATION_CREDENTIAL_SECRET"},
	Token:                       []string{"OS_TOKEN", "OS_AUTH_TOKEN"},
	Insecure:                    []string{"OS_INSECURE"},
	AllowReauth:                 []string{"OS_ALLOW_REAUTH"},
	CACertFile:                  []string{"OS_CACERT"},
	Cert:                        []string{"OS_CERT"},
	Key:                         []string{"OS_KEY"},
	EndpointType:                []string{"OS_ENDPOINT_TYPE", "OS_INTERFACE"},
	MaxRetries:                  []string{"OS_MAX_RETRIES"},
}

func firstEnv(getenv func(string) string, names []string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// withEnv returns cfg with every empty field filled from the OS_* environment (read through
// getenv). Boolean and integer variables that do not parse are errors naming the variable.
func (cfg Config) withEnv(getenv func(string) string) (Config, error) {
	str := func(v *string, names []string) {
		if *v == "" {
			*v = firstEnv(getenv, names)
		}
	}
	c := cfg
	c.EndpointOverrides = maps.Clone(cfg.EndpointOverrides)
	str(&c.Cloud, envNames.Cloud)
	str(&c.AuthURL, envNames.AuthURL)
	str(&c.Region, envNames.Region)
	str(&c.UserName, envNames.UserName)
	str(&c.UserID, envNames.UserID)
	str(&c.Password, envNames.Password)
	str(&c.TenantName, envNames.TenantName)
	str(&c.TenantID, envNames.TenantID)
	str(&c.UserDomainName, envNames.UserDomainName)
	str(&c.UserDomainID, envNames.UserDomainID)
	str(&c.ProjectDomainName, envNames.ProjectDomainName)
	str(&c.ProjectDomainID, envNames.ProjectDomainID)
	str(&c.DomainName, envNames.DomainName)
	str(&c.DomainID, envNames.DomainID)
	str(&c.DefaultDomain, envNames.DefaultDomain)
	str(&c.ApplicationCredentialID, envNames.ApplicationCredentialID)
	str(&c.ApplicationCredentialName, envNames.ApplicationCredentialName)
	str(&c.ApplicationCredentialSecret, envNames.ApplicationCredentialSecret)
	str(&c.Token, envNames.Token)
	str(&c.CACertFile, envNames.CACertFile)
	str(&c.Cert, envNames.Cert)
	str(&c.Key, envNames.Key)
	str(&c.EndpointType, envNames.EndpointType)

	boolean := func(v **bool, names []string) error {
		if *v != nil {
			return nil
		}
		for _, n := range names {
			s := getenv(n)
			if s == "" {
				continue
			}
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%s=%q is not a boolean (true or false)", n, s)
			}
			*v = &b
			return nil
		}
		return nil
	}
	if err := boolean(&c.Insecure, envNames.Insecure); err != nil {
		return c, err
	}
	if err := boolean(&c.AllowReauth, envNames.AllowReauth); err != nil {
		return c, err
	}
	if c.MaxRetries == nil {
		for _, n := range envNames.MaxRetries {
			s := getenv(n)
			if s == "" {
				continue
			}
			i, err := strconv.Atoi(s)
			if err != nil {
				return c, fmt.Errorf("%s=%q is not an integer", n, s)
			}
			c.MaxRetries = &i
			break
		}
	}
	return c, nil
}

// maxRetries is the retry bound in effect.
func (cfg Config) maxRetries() (int, error) {
	if cfg.MaxRetries == nil {
		return DefaultMaxRetries, nil
	}
	if *cfg.MaxRetries < 0 {
		return 0, fmt.Errorf("max_retries must be 0 or more, not %d", *cfg.MaxRetries)
	}
	return *cfg.MaxRetries, nil
}

// allowReauth is allow_reauth in effect (default true, as in terraform-provider-openstack).
func (cfg Config) allowReauth() bool { return cfg.AllowReauth == nil || *cfg.AllowReauth }

// endpointAvailability maps endpoint_type to the catalog interface.
func endpointAvailability(t string) (string, error) {
	switch strings.TrimSpace(t) {
	case "", "public", "publicURL":
		return "public", nil
	case "internal", "internalURL":
		return "internal", nil
	case "admin", "adminURL":
		return "admin", nil
	}
	return "", fmt.Errorf("endpoint_type %q is not one of public, internal, admin", t)
}
