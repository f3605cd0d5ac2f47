package nova

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestWithEnvPrecedence(t *testing.T) {
	env := envMap(map[string]string{
		"OS_AUTH_URL": "https://keystone/v3", "OS_REGION_NAME": "RegionTwo",
		"OS_USERNAME": "envuser", "OS_PASSWORD": "envpass",
		"OS_TENANT_NAME": "tenant", "OS_PROJECT_NAME": "project",
		"OS_PROJECT_ID": "pid",
		"OS_TOKEN":      "tok1", "OS_AUTH_TOKEN": "tok2",
		"OS_ENDPOINT_TYPE": "internal", "OS_INTERFACE": "admin",
		"OS_INSECURE": "true", "OS_ALLOW_REAUTH": "false", "OS_MAX_RETRIES": "9",
		"OS_USER_DOMAIN_NAME": "ud", "OS_PROJECT_DOMAIN_ID": "pd", "OS_DEFAULT_DOMAIN": "dd",
		"OS_APPLICATION_CREDENTIAL_ID": "acid", "OS_APPLICATION_CREDENTIAL_SECRET": "acs",
		"OS_CACERT": "/ca.pem", "OS_CERT": "/c.pem", "OS_KEY": "/k.pem", "OS_CLOUD": "prod",
	})
	c, err := Config{UserName: "explicit"}.withEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]string{
		"auth_url": {c.AuthURL, "https://keystone/v3"}, "region": {c.Region, "RegionTwo"},
		"user_name (explicit wins)": {c.UserName, "explicit"}, "password": {c.Password, "envpass"},
		"tenant_name (OS_TENANT_NAME first)": {c.TenantName, "tenant"}, "tenant_id (OS_PROJECT_ID)": {c.TenantID, "pid"},
		"token (OS_TOKEN first)": {c.Token, "tok1"}, "endpoint_type (OS_ENDPOINT_TYPE first)": {c.EndpointType, "internal"},
		"user_domain_name": {c.UserDomainName, "ud"}, "project_domain_id": {c.ProjectDomainID, "pd"},
		"default_domain": {c.DefaultDomain, "dd"}, "application_credential_id": {c.ApplicationCredentialID, "acid"},
		"application_credential_secret": {c.ApplicationCredentialSecret, "acs"}, "cacert_file": {c.CACertFile, "/ca.pem"},
		"cert": {c.Cert, "/c.pem"}, "key": {c.Key, "/k.pem"}, "cloud": {c.Cloud, "prod"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	if c.Insecure == nil || !*c.Insecure || c.allowReauth() || c.MaxRetries == nil || *c.MaxRetries != 9 {
		t.Errorf("insecure %v, allow_reauth %v, max_retries %v", c.Insecure, c.allowReauth(), c.MaxRetries)
	}

	// Explicit values, including false and 0, win over the environment.
	f, zero := false, 0
	c, err = Config{Insecure: &f, MaxRetries: &zero}.withEnv(env)
	if err != nil || *c.Insecure || *c.MaxRetries != 0 {
		t.Fatalf("explicit false/0: %v %v %v", c.Insecure, c.MaxRetries, err)
	}
	// OS_PROJECT_NAME and OS_AUTH_TOKEN when the first names are unset; OS_INTERFACE too.
	c, _ = Config{}.withEnv(envMap(map[string]string{"OS_PROJECT_NAME": "p", "OS_AUTH_TOKEN": "t", "OS_INTERFACE": "admin"}))
	if c.TenantName != "p" || c.Token != "t" || c.EndpointType != "admin" {
		t.Fatalf("second names: %+v", c)
	}
	// Defaults.
	c, _ = Config{}.withEnv(envMap(nil))
	if n, _ := c.maxRetries(); n != DefaultMaxRetries || !c.allowReauth() {
		t.Fatalf("defaults: %d %v", n, c.allowReauth())
	}
	// The caller's map is not shared.
	orig := map[string]string{"compute": "x"}
	c, _ = Config{EndpointOverrides: orig}.withEnv(envMap(nil))
	c.EndpointOverrides["compute"] = "y"
	if orig["compute"] != "x" {
		t.Fatal("endpoint_overrides aliased")
	}
}

func TestWithEnvErrors(t *testing.T) {
	for k, v := range map[string]string{"OS_INSECURE": "maybe", "OS_ALLOW_REAUTH": "2x", "OS_MAX_RETRIES": "many"} {
		_, err := Config{}.withEnv(envMap(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	neg := -1
	if _, err := (Config{MaxRetries: &neg}).maxRetries(); err == nil {
		t.Error("negative max_retries accepted")
	}
}

func TestEndpointAvailability(t *testing.T) {
	for in, want := range map[string]string{"": "public", "public": "public", "publicURL": "public",
		"internal": "internal", "internalURL": "internal", "admin": "admin", "adminURL": "admin"} {
		if got, err := endpointAvailability(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := endpointAvailability("private"); err == nil {
		t.Error("private accepted")
	}
}

func TestAuthOptions(t *testing.T) {
	url := "https://keystone/v3"
	for _, c := range []struct {
		name string
		cfg  Config
		want gophercloud.AuthOptions
		err  string
	}{
		{"password, default domain", Config{UserName: "u", Password: "p", TenantName: "t"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainID: "default",
				Scope: &gophercloud.AuthScope{ProjectName: "t", DomainID: "default"}}, ""},
		{"password, default_domain set", Config{UserName: "u", Password: "p", TenantName: "t", DefaultDomain: "d1"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainID: "d1",
				Scope: &gophercloud.AuthScope{ProjectName: "t", DomainID: "d1"}}, ""},
		{"password, named domains", Config{UserName: "u", Password: "p", TenantName: "t", UserDomainName: "UD", ProjectDomainName: "PD"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainName: "UD",
				Scope: &gophercloud.AuthScope{ProjectName: "t", DomainName: "PD"}}, ""},
		{"password, domain_name for both", Config{UserName: "u", Password: "p", TenantName: "t", DomainName: "D"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainName: "D",
				Scope: &gophercloud.AuthScope{ProjectName: "t", DomainName: "D"}}, ""},
		{"password, ids win", Config{UserName: "u", Password: "p", TenantName: "t", UserDomainID: "ud", UserDomainName: "UD", ProjectDomainID: "pd"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainID: "ud",
				Scope: &gophercloud.AuthScope{ProjectName: "t", DomainID: "pd"}}, ""},
		{"password, user id and project id", Config{UserID: "uid", UserName: "u", Password: "p", TenantID: "tid"},
			gophercloud.AuthOptions{UserID: "uid", Password: "p", Scope: &gophercloud.AuthScope{ProjectID: "tid"}}, ""},
		{"password, domain scope", Config{UserName: "u", Password: "p", DomainID: "d"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainID: "d", Scope: &gophercloud.AuthScope{DomainID: "d"}}, ""},
		{"password wins over token", Config{UserName: "u", Password: "p", Token: "tok", TenantID: "tid"},
			gophercloud.AuthOptions{Username: "u", Password: "p", DomainID: "default", Scope: &gophercloud.AuthScope{ProjectID: "tid"}}, ""},
		{"token", Config{Token: "tok", UserName: "ignored"},
			gophercloud.AuthOptions{TokenID: "tok"}, ""},
		{"token with project", Config{Token: "tok", TenantName: "t", ProjectDomainID: "pd"},
			gophercloud.AuthOptions{TokenID: "tok", Scope: &gophercloud.AuthScope{ProjectName: "t", DomainID: "pd"}}, ""},
		{"application credential id", Config{ApplicationCredentialID: "ac", ApplicationCredentialSecret: "s", UserName: "u", Password: "p", TenantName: "t"},
			gophercloud.AuthOptions{ApplicationCredentialID: "ac", ApplicationCredentialSecret: "s"}, ""},
		{"application credential name", Config{ApplicationCredentialName: "n", ApplicationCredentialSecret: "s", UserName: "u", UserDomainName: "UD"},
			gophercloud.AuthOptions{ApplicationCredentialName: "n", ApplicationCredentialSecret: "s", Username: "u", DomainName: "UD"}, ""},
		{"application credential name, user id", Config{ApplicationCredentialName: "n", ApplicationCredentialSecret: "s", UserID: "uid"},
			gophercloud.AuthOptions{ApplicationCredentialName: "n", ApplicationCredentialSecret: "s", UserID: "uid"}, ""},
		{"application credential without secret", Config{ApplicationCredentialID: "ac"}, gophercloud.AuthOptions{}, "application_credential_secret"},
		{"application credential name without user", Config{ApplicationCredentialName: "n", ApplicationCredentialSecret: "s"}, gophercloud.AuthOptions{}, "user_id or user_name"},
		{"password without user", Config{Password: "p"}, gophercloud.AuthOptions{}, "user_name"},
		{"nothing", Config{UserName: "u"}, gophercloud.AuthOptions{}, "no credentials"},
	} {
		c.cfg.AuthURL = url
		got, err := authOptions(c.cfg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want error with %q", c.name, err, c.err)
			}
			continue
		}
		c.want.IdentityEndpoint = url
		if err != nil || !sameAuth(got, c.want) {
			t.Errorf("%s:\n got %+v scope %+v (%v)\nwant %+v scope %+v", c.name, got, got.Scope, err, c.want, c.want.Scope)
		}
	}
}

func sameAuth(a, b gophercloud.AuthOptions) bool {
	if (a.Scope == nil) != (b.Scope == nil) || (a.Scope != nil && *a.Scope != *b.Scope) {
		return false
	}
	a.Scope, b.Scope = nil, nil
	return a == b
}

func TestEndpointURLs(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8774/v2.1":          "http://127.0.0.1:8774/v2.1/",
		"http://127.0.0.1:8774/v2.1/":         "http://127.0.0.1:8774/v2.1/",
		"http://127.0.0.1:8774":               "http://127.0.0.1:8774/v2.1/",
		"https://nova.example/compute/v2.1/p": "https://nova.example/compute/v2.1/p/",
	} {
		if got := computeURL(in); got != want {
			t.Errorf("computeURL(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"http://127.0.0.1:9292":      {"http://127.0.0.1:9292/", "http://127.0.0.1:9292/v2/"},
		"http://127.0.0.1:9292/":     {"http://127.0.0.1:9292/", "http://127.0.0.1:9292/v2/"},
		"http://127.0.0.1:9292/v2":   {"http://127.0.0.1:9292/v2/", "http://127.0.0.1:9292/v2/"},
		"https://glance.example/v2/": {"https://glance.example/v2/", "https://glance.example/v2/"},
	} {
		ep, base := imageURLs(in)
		if ep != want[0] || base != want[1] {
			t.Errorf("imageURLs(%q) = %q, %q; want %q", in, ep, base, want)
		}
	}
}

// TestApplyTLS trusts an httptest TLS server through cacert_file (path and PEM contents),
// and checks insecure and the client certificate pairing.
func TestApplyTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	get := func(cfg *tls.Config) error {
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	if err := get(&tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("untrusted server accepted without cacert_file")
	}
	for _, ca := range []string{caFile, caPEM} {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if err := applyTLS(cfg, Config{CACertFile: ca}); err != nil {
			t.Fatal(err)
		}
		if err := get(cfg); err != nil {
			t.Fatalf("with cacert_file: %v", err)
		}
	}
	yes := true
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if err := applyTLS(cfg, Config{Insecure: &yes}); err != nil || !cfg.InsecureSkipVerify {
		t.Fatalf("insecure: %v", err)
	}
	if err := get(cfg); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if err := applyTLS(&tls.Config{}, Config{Cert: caFile}); err == nil || !strings.Contains(err.Error(), "together") {
		t.Fatalf("cert without key: %v", err)
	}
	if err := applyTLS(&tls.Config{}, Config{CACertFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("missing cacert_file accepted")
	}
	// A client certificate pair (httptest's own certificate and key).
	certPEM, keyPEM := testCertPair(t)
	cfg = &tls.Config{}
	if err := applyTLS(cfg, Config{Cert: certPEM, Key: keyPEM}); err != nil || len(cfg.Certificates) != 1 {
		t.Fatalf("client certificate: %v", err)
	}
	if err := applyTLS(&tls.Config{}, Config{Cert: certPEM, Key: caPEM}); err == nil {
		t.Fatal("mismatched key accepted")
	}
}

// TestNewWithoutKeystone connects with a token and endpoint_overrides only, and fails
// clearly without them. No request is sent by New in this mode.
func TestNewWithoutKeystone(t *testing.T) {
	for _, k := range []string{"OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_AUTH_TOKEN", "OS_PASSWORD", "OS_USERNAME",
		"OS_CACERT", "OS_CERT", "OS_KEY", "OS_INSECURE", "OS_MAX_RETRIES", "OS_ENDPOINT_TYPE", "OS_INTERFACE"} {
		t.Setenv(k, "")
	}
	b, err := New(context.Background(), Config{Token: "admin:admin", EndpointOverrides: map[string]string{
		"compute": "http://127.0.0.1:1/v2.1", "image": "http://127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.compute.Endpoint != "http://127.0.0.1:1/v2.1/" || b.image.ResourceBaseURL() != "http://127.0.0.1:2/v2/" ||
		b.provider.Token() != "admin:admin" {
		t.Fatalf("backend %+v", b)
	}
	if ua := b.provider.UserAgent.Join(); !strings.HasPrefix(ua, userAgent) {
		t.Fatalf("user agent %q", ua)
	}
	b, err = New(context.Background(), Config{Token: "t", UserAgent: "terraform-provider-rescue/1.2.3",
		EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1", "image": "http://127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	if ua := b.provider.UserAgent.Join(); !strings.HasPrefix(ua, "terraform-provider-rescue/1.2.3 gophercloud/") {
		t.Fatalf("user agent %q", ua)
	}
	b, err = New(context.Background(), Config{Token: "t", EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1"}})
	if err != nil || b.image != nil || b.imageErr == nil || !strings.Contains(b.imageErr.Error(), "endpoint_overrides") {
		t.Fatalf("no image override: %v / %v", err, b.imageErr)
	}
	minusOne := -1
	for name, cfg := range map[string]Config{
		"nothing":          {},
		"token only":       {Token: "t"},
		"compute only":     {EndpointOverrides: map[string]string{"compute": "http://x"}},
		"bad endpoint":     {Token: "t", EndpointType: "private", EndpointOverrides: map[string]string{"compute": "http://x"}},
		"bad cacert":       {Token: "t", CACertFile: "/nonexistent/ca.pem", EndpointOverrides: map[string]string{"compute": "http://x"}},
		"negative retries": {Token: "t", MaxRetries: &minusOne, EndpointOverrides: map[string]string{"compute": "http://x"}},
	} {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// testCertPair makes a self-signed client certificate and its key, PEM-encoded.
func testCertPair(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rescue-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// TestFromClouds reads clouds.yaml through OS_CLIENT_CONFIG_FILE; the block's values override
// the entry, default_domain fills what is missing.
func TestFromClouds(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clouds.yaml")
	yaml := `clouds:
  prod:
    auth:
      auth_url: https://keystone.example/v3
      username: alice
      password: yaml-secret
      project_name: web
    region_name: RegionOne
    interface: internal
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example/v3
      application_credential_id: acid
      application_credential_secret: acsecret
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"OS_CLOUD", "OS_REGION_NAME", "OS_INTERFACE", "OS_CACERT", "OS_CERT", "OS_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", file)

	ao, eo, tc, err := fromClouds(Config{Cloud: "prod"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if ao.IdentityEndpoint != "https://keystone.example/v3" || ao.Username != "alice" || ao.Password != "yaml-secret" ||
		ao.DomainID != "default" || ao.Scope == nil || ao.Scope.ProjectName != "web" || ao.Scope.DomainID != "default" {
		t.Fatalf("prod: %+v scope %+v", ao, ao.Scope)
	}
	if eo.Region != "RegionOne" || eo.Availability != gophercloud.AvailabilityInternal || tc == nil {
		t.Fatalf("prod endpoint opts %+v", eo)
	}

	ao, eo, _, err = fromClouds(Config{Cloud: "prod", Password: "block-secret", Region: "RegionTwo",
		EndpointType: "public", UserDomainName: "Users", ProjectDomainID: "pd", TenantName: "other"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if ao.Password != "block-secret" || ao.DomainName != "Users" || ao.DomainID != "" ||
		ao.Scope.ProjectName != "other" || ao.Scope.DomainID != "pd" || eo.Region != "RegionTwo" ||
		eo.Availability != gophercloud.AvailabilityPublic {
		t.Fatalf("overrides: %+v scope %+v eo %+v", ao, ao.Scope, eo)
	}

	ao, _, _, err = fromClouds(Config{Cloud: "appcred"}, Config{})
	if err != nil || ao.ApplicationCredentialID != "acid" || ao.ApplicationCredentialSecret != "acsecret" || ao.DomainID != "" {
		t.Fatalf("appcred: %+v %v", ao, err)
	}

	if _, _, _, err := fromClouds(Config{Cloud: "nope"}, Config{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown cloud: %v", err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", filepath.Join(dir, "missing.yaml"))
	if _, _, _, err := fromClouds(Config{Cloud: "prod"}, Config{}); err == nil {
		t.Fatal("missing clouds.yaml accepted")
	}
	// New reports the cloud name and never the password.
	_, err = New(context.Background(), Config{Cloud: "prod"})
	if err == nil || !strings.Contains(err.Error(), `"prod"`) || strings.Contains(err.Error(), "yaml-secret") {
		t.Fatalf("New with a missing clouds.yaml: %v", err)
	}
}

// TestFromCloudsEnvironment: with a cloud, the entry wins over OS_* variables (as in
// terraform-provider-openstack), which fill only what the entry leaves empty; the block
// still wins over both.
func TestFromCloudsEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clouds.yaml")
	yaml := `clouds:
  prod:
    auth:
      auth_url: https://keystone.example/v3
      username: alice
      password: yaml-secret
      project_name: web
      user_domain_name: Users
      project_domain_name: Projects
    region_name: RegionOne
    interface: internal
  public:
    auth:
      auth_url: https://keystone.example/v3
      username: carol
      password: yaml-secret
    interface: public
  partial:
    auth:
      auth_url: https://keystone.example/v3
      username: bob
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example/v3
      application_credential_id: acid
      application_credential_secret: acsecret
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("OS_CLIENT_CONFIG_FILE", file)
	// A stale environment of another cloud. clouds.Parse reads OS_REGION_NAME and
	// OS_INTERFACE itself: they must not win either.
	stale := map[string]string{
		"OS_AUTH_URL": "https://stale.example/v3", "OS_USERNAME": "mallory", "OS_PASSWORD": "env-secret",
		"OS_PROJECT_NAME": "stale-project", "OS_REGION_NAME": "StaleRegion", "OS_INTERFACE": "admin",
		"OS_USER_DOMAIN_NAME": "StaleUsers", "OS_PROJECT_DOMAIN_NAME": "StaleProjects", "OS_AUTH_TOKEN": "stale-token",
		"OS_APPLICATION_CREDENTIAL_ID": "stale-ac", "OS_APPLICATION_CREDENTIAL_SECRET": "stale-acs",
	}
	for k, v := range stale {
		t.Setenv(k, v)
	}
	env, err := Config{}.withEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}

	ao, eo, _, err := fromClouds(Config{Cloud: "prod"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if ao.IdentityEndpoint != "https://keystone.example/v3" || ao.Username != "alice" || ao.Password != "yaml-secret" ||
		ao.TokenID != "" || ao.ApplicationCredentialID != "" || ao.DomainName != "Users" ||
		ao.Scope == nil || ao.Scope.ProjectName != "web" || ao.Scope.DomainName != "Projects" ||
		eo.Region != "RegionOne" || eo.Availability != gophercloud.AvailabilityInternal {
		t.Fatalf("prod with a stale environment: %+v scope %+v eo %+v", ao, ao.Scope, eo)
	}

	// An entry that says public is not taken for one that says nothing.
	_, eo, _, err = fromClouds(Config{Cloud: "public"}, env)
	if err != nil || eo.Availability != gophercloud.AvailabilityPublic || eo.Region != "StaleRegion" {
		t.Fatalf("public entry with a stale OS_INTERFACE: %+v %v", eo, err)
	}

	// The block still wins over the entry.
	ao, eo, _, err = fromClouds(Config{Cloud: "prod", Password: "block-secret", Region: "RegionTwo",
		EndpointType: "public", UserDomainID: "ud", AuthURL: "https://block.example/v3"}, env)
	if err != nil || ao.Password != "block-secret" || ao.DomainID != "ud" || ao.DomainName != "" ||
		ao.IdentityEndpoint != "https://block.example/v3" || eo.Region != "RegionTwo" || eo.Availability != gophercloud.AvailabilityPublic {
		t.Fatalf("block over entry: %+v eo %+v %v", ao, eo, err)
	}

	// What the entry leaves empty comes from the environment (credentials as a set).
	ao, eo, _, err = fromClouds(Config{Cloud: "partial"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if ao.IdentityEndpoint != "https://keystone.example/v3" || ao.Username != "bob" ||
		ao.ApplicationCredentialID != "stale-ac" || ao.Password != "" || ao.Scope != nil || eo.Region != "StaleRegion" ||
		eo.Availability != gophercloud.AvailabilityAdmin {
		t.Fatalf("partial entry, application credential from the environment: %+v scope %+v eo %+v", ao, ao.Scope, eo)
	}
	t.Setenv("OS_APPLICATION_CREDENTIAL_ID", "")
	env, _ = Config{}.withEnv(os.Getenv)
	ao, _, _, err = fromClouds(Config{Cloud: "partial"}, env)
	if err != nil || ao.Username != "bob" || ao.Password != "env-secret" || ao.TokenID != "" || ao.DomainName != "StaleUsers" ||
		ao.Scope == nil || ao.Scope.ProjectName != "stale-project" || ao.Scope.DomainName != "StaleProjects" {
		t.Fatalf("partial entry, password from the environment: %+v scope %+v %v", ao, ao.Scope, err)
	}

	// An entry with an application credential takes no password, token or scope from the environment.
	ao, _, _, err = fromClouds(Config{Cloud: "appcred"}, env)
	if err != nil || ao.ApplicationCredentialID != "acid" || ao.ApplicationCredentialSecret != "acsecret" ||
		ao.Password != "" || ao.TokenID != "" || ao.Scope != nil || ao.Username != "" {
		t.Fatalf("appcred with a stale environment: %+v %v", ao, err)
	}
}
