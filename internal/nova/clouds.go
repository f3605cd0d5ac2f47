package nova

import (
	"crypto/tls"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v2"
)

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
