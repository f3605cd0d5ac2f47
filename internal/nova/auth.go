package nova

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
)

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
