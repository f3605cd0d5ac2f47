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
	ao, eo, tlsConfig, err := clouds.Parse(cloudsParseOptions(explicit)...)
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
	credentialsFromEnv(&ao, env)
	dd := first(explicit.DefaultDomain, env.DefaultDomain, defaultDomain)
	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	if ao.Scope == nil && !appCred {
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
	domains(&ao, explicit, env, dd)
	return ao, eo, tlsConfig, nil
}

// cloudsParseOptions are the options of clouds.Parse for the values set in the block.
func cloudsParseOptions(explicit Config) []clouds.ParseOption {
	// Region and interface are always passed, even empty: clouds.Parse would otherwise let
	// OS_REGION_NAME and OS_INTERFACE win over the entry.
	opts := []clouds.ParseOption{clouds.WithCloudName(explicit.Cloud), clouds.WithRegion(explicit.Region),
		clouds.WithEndpointType(explicit.EndpointType)}
	for _, o := range []struct {
		v string
		f func(string) clouds.ParseOption
	}{
		{explicit.AuthURL, clouds.WithIdentityEndpoint},
		{explicit.UserName, clouds.WithUsername},
		{explicit.UserID, clouds.WithUserID},
		{explicit.Password, clouds.WithPassword},
		{explicit.TenantName, clouds.WithProjectName},
		{explicit.TenantID, clouds.WithProjectID},
		{explicit.Token, clouds.WithToken},
		{explicit.ApplicationCredentialID, clouds.WithApplicationCredentialID},
		{explicit.ApplicationCredentialName, clouds.WithApplicationCredentialName},
		{explicit.ApplicationCredentialSecret, clouds.WithApplicationCredentialSecret},
	} {
		if o.v != "" {
			opts = append(opts, o.f(o.v))
		}
	}
	return opts
}

// credentialsFromEnv takes the environment's credentials (as a set) and user when the block
// and the entry have none.
func credentialsFromEnv(ao *gophercloud.AuthOptions, env Config) {
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
}

// domains sets the domains of the user and of the project scope: the block's, else the
// entry's, else the environment's, else default_domain (dd). Token authentication takes no user.
func domains(ao *gophercloud.AuthOptions, explicit, env Config, dd string) {
	if ao.Username != "" && ao.UserID == "" {
		setDomain(&ao.DomainID, &ao.DomainName, dd, [2]string{explicit.UserDomainID, explicit.UserDomainName},
			[2]string{first(env.UserDomainID, env.DomainID), first(env.UserDomainName, env.DomainName)})
	}
	if ao.TokenID != "" && ao.Password == "" {
		ao.Username, ao.UserID, ao.DomainID, ao.DomainName = "", "", "", ""
	}
	if s := ao.Scope; s != nil && s.ProjectName != "" {
		setDomain(&s.DomainID, &s.DomainName, dd, [2]string{explicit.ProjectDomainID, explicit.ProjectDomainName},
			[2]string{first(env.ProjectDomainID, env.DomainID), first(env.ProjectDomainName, env.DomainName)})
	}
}

// setDomain sets a domain (id, name) that the entry may have set: the block's (explicit: id,
// name) wins, then the entry's, then the environment's (env: id, name), else dd.
func setDomain(id, name *string, dd string, explicit, env [2]string) {
	pick := func(v [2]string) {
		*id, *name = v[0], ""
		if *id == "" {
			*name = v[1]
		}
	}
	switch {
	case explicit[0] != "" || explicit[1] != "":
		pick(explicit)
	case *id != "" || *name != "":
	case env[0] != "" || env[1] != "":
		pick(env)
	default:
		*id = dd
	}
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
