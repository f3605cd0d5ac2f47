package nova_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// TestIntegrationKeystoneAuth authenticates against a real Keystone in every form the
// openstack block offers, finds Nova through the catalog, and reads a server of the demo
// project with it.
func TestIntegrationKeystoneAuth(t *testing.T) {
	clearOSEnv(t)
	k := acctest.Keystone(t)
	server := k.Nova.CreateServer(t, acctest.ServerOpts{})

	connect := func(t *testing.T, cfg nova.Config) error {
		t.Helper()
		c := ctx(t)
		b, err := nova.New(c, cfg)
		if err != nil {
			return err
		}
		defer b.Close()
		inst, err := b.Get(c, server)
		if err != nil {
			t.Fatalf("get through the catalog: %v", err)
		}
		if inst.State != rescue.StateActive {
			t.Fatalf("server %+v", inst)
		}
		// The user and project of the credentials are those Nova records for the server's
		// creation by the same demo user in the same project (the proof of a lost rescue
		// compares them with the rescue's instance action).
		s := k.Nova.Server(t, server)
		if u, p := b.Identity(); u == "" || u != s.UserID || p != s.TenantID {
			t.Fatalf("identity user %q project %q; Nova's server has user %q project %q", u, p, s.UserID, s.TenantID)
		}
		plan, err := b.Validate(c, rescue.Request{InstanceID: server, ImageID: acctest.RescueImageID})
		if err != nil || plan.Device != "cdrom" {
			t.Fatalf("validate through the catalog (Glance): %+v %v", plan, err)
		}
		return nil
	}

	t.Run("password from OS_* variables", func(t *testing.T) {
		clearOSEnv(t)
		t.Setenv("OS_AUTH_URL", k.AuthURL)
		t.Setenv("OS_USERNAME", acctest.KeystoneDemoUser)
		t.Setenv("OS_PASSWORD", acctest.KeystoneDemoPassword)
		t.Setenv("OS_PROJECT_NAME", acctest.KeystoneDemoProject)
		t.Setenv("OS_USER_DOMAIN_NAME", "Default")
		t.Setenv("OS_PROJECT_DOMAIN_NAME", "Default")
		t.Setenv("OS_REGION_NAME", acctest.KeystoneRegion)
		t.Setenv("OS_INTERFACE", "internal")
		if err := connect(t, nova.Config{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("password with default_domain", func(t *testing.T) {
		clearOSEnv(t)
		if err := connect(t, nova.Config{AuthURL: k.AuthURL, UserName: acctest.KeystoneDemoUser,
			Password: acctest.KeystoneDemoPassword, TenantName: acctest.KeystoneDemoProject,
			EndpointType: "public"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		clearOSEnv(t)
		const wrong = "not-the-demo-password"
		err := connect(t, nova.Config{AuthURL: k.AuthURL, UserName: acctest.KeystoneDemoUser, Password: wrong,
			TenantName: acctest.KeystoneDemoProject, UserDomainName: "Default", ProjectDomainName: "Default"})
		if err == nil {
			t.Fatal("a wrong password was accepted")
		}
		msg := err.Error()
		t.Logf("error: %s", msg)
		for _, want := range []string{"401", "The request you have made requires authentication", `"demo"`, k.AuthURL} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
		if strings.Contains(msg, wrong) {
			t.Errorf("error %q shows the password", msg)
		}
		if !errors.Is(err, rescue.ErrAuth) {
			t.Errorf("error %q is not rescue.ErrAuth", msg)
		}
	})
	t.Run("clouds.yaml", func(t *testing.T) {
		clearOSEnv(t)
		dir := t.TempDir()
		t.Setenv("OS_CLIENT_CONFIG_FILE", k.CloudsYAML(t, dir, "rescue-test", ""))
		if err := connect(t, nova.Config{Cloud: "rescue-test"}); err != nil {
			t.Fatal(err)
		}
		// OS_CLOUD selects it too.
		t.Setenv("OS_CLOUD", "rescue-test")
		if err := connect(t, nova.Config{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("clouds.yaml over a stale environment", func(t *testing.T) {
		clearOSEnv(t)
		t.Setenv("OS_CLIENT_CONFIG_FILE", k.CloudsYAML(t, t.TempDir(), "rescue-test", ""))
		// Left over from another cloud: none of it may win over the entry.
		t.Setenv("OS_AUTH_URL", "http://127.0.0.1:1/v3")
		t.Setenv("OS_USERNAME", "someone-else")
		t.Setenv("OS_PASSWORD", "stale-password")
		t.Setenv("OS_PROJECT_NAME", "stale-project")
		t.Setenv("OS_REGION_NAME", "StaleRegion")
		t.Setenv("OS_INTERFACE", "admin")
		if err := connect(t, nova.Config{Cloud: "rescue-test"}); err != nil {
			t.Fatal(err)
		}
		t.Setenv("OS_CLOUD", "rescue-test")
		if err := connect(t, nova.Config{}); err != nil {
			t.Fatal(err)
		}
		// The block still wins over the entry.
		err := connect(t, nova.Config{Cloud: "rescue-test", Password: "block-password"})
		if err == nil || !strings.Contains(err.Error(), "401") || !errors.Is(err, rescue.ErrAuth) {
			t.Fatalf("a wrong password in the block: %v", err)
		}
	})
	t.Run("clouds.yaml with the password in the block", func(t *testing.T) {
		clearOSEnv(t)
		t.Setenv("OS_CLIENT_CONFIG_FILE", k.CloudsYAML(t, t.TempDir(), "rescue-test", "stale-password"))
		if err := connect(t, nova.Config{Cloud: "rescue-test"}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("stale clouds.yaml password: %v", err)
		}
		if err := connect(t, nova.Config{Cloud: "rescue-test", Password: acctest.KeystoneDemoPassword}); err != nil {
			t.Fatal(err)
		}
	})

	// A token of the demo user, and application credentials made with it.
	c := ctx(t)
	pc, err := openstack.AuthenticatedClient(c, gophercloud.AuthOptions{IdentityEndpoint: k.AuthURL,
		Username: acctest.KeystoneDemoUser, Password: acctest.KeystoneDemoPassword,
		TenantName: acctest.KeystoneDemoProject, DomainName: "Default"})
	if err != nil {
		t.Fatalf("demo auth: %v", err)
	}
	token := pc.Token()
	t.Run("token", func(t *testing.T) {
		clearOSEnv(t)
		t.Setenv("OS_AUTH_URL", k.AuthURL)
		t.Setenv("OS_AUTH_TOKEN", token)
		if err := connect(t, nova.Config{}); err != nil {
			t.Fatal(err)
		}
		if err := connect(t, nova.Config{Token: token, TenantName: acctest.KeystoneDemoProject,
			ProjectDomainName: "Default"}); err != nil {
			t.Fatalf("token rescoped to the project: %v", err)
		}
	})

	res, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result is %T", pc.GetAuthResult())
	}
	user, err := res.ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	identity, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{Region: acctest.KeystoneRegion})
	if err != nil {
		t.Fatal(err)
	}
	name := "rescue-" + strings.ReplaceAll(t.Name(), "/", "-")
	ac, err := applicationcredentials.Create(c, identity, user.ID, applicationcredentials.CreateOpts{
		Name: name, Secret: "app-cred-secret-1"}).Extract()
	if err != nil {
		t.Fatalf("create application credential: %v", err)
	}
	t.Cleanup(func() {
		_ = applicationcredentials.Delete(context.Background(), identity, user.ID, ac.ID).ExtractErr()
	})
	t.Run("application credential id", func(t *testing.T) {
		clearOSEnv(t)
		t.Setenv("OS_APPLICATION_CREDENTIAL_ID", ac.ID)
		t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", "app-cred-secret-1")
		if err := connect(t, nova.Config{AuthURL: k.AuthURL}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("application credential name", func(t *testing.T) {
		clearOSEnv(t)
		if err := connect(t, nova.Config{AuthURL: k.AuthURL, ApplicationCredentialName: name,
			ApplicationCredentialSecret: "app-cred-secret-1", UserName: acctest.KeystoneDemoUser,
			UserDomainName: "Default"}); err != nil {
			t.Fatal(err)
		}
		err := connect(t, nova.Config{AuthURL: k.AuthURL, ApplicationCredentialName: name,
			ApplicationCredentialSecret: "wrong-secret", UserID: user.ID})
		if err == nil || strings.Contains(err.Error(), "wrong-secret") || !strings.Contains(err.Error(), "401") ||
			!errors.Is(err, rescue.ErrAuth) {
			t.Fatalf("wrong application credential secret: %v", err)
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		clearOSEnv(t)
		_, err := nova.New(ctx(t), nova.Config{AuthURL: k.AuthURL, UserName: "demo"})
		if err == nil || !strings.Contains(err.Error(), "no credentials") {
			t.Fatalf("no password: %v", err)
		}
		_, err = nova.New(ctx(t), nova.Config{AuthURL: k.AuthURL, UserName: "demo", Password: "demo",
			TenantName: "demo", EndpointType: "private"})
		if err == nil || !strings.Contains(err.Error(), "endpoint_type") {
			t.Fatalf("bad endpoint_type: %v", err)
		}
		_, err = nova.New(ctx(t), nova.Config{AuthURL: k.AuthURL, UserName: "demo", Password: "demo",
			TenantName: "demo", Region: "NoSuchRegion"})
		if err == nil || !strings.Contains(err.Error(), "compute endpoint") {
			t.Fatalf("unknown region: %v", err)
		}
		var inv *rescue.InvalidError
		if errors.As(err, &inv) {
			t.Fatalf("unexpected typed error %v", err)
		}
	})
}

// A locked server is refused at plan for credentials without the admin role (Keystone's token
// says the roles), naming the lock's reason and the fix; with the admin role it passes with a
// warning (Nova lets admins act on locked servers).
func TestIntegrationKeystoneLockedServer(t *testing.T) {
	clearOSEnv(t)
	k := acctest.Keystone(t)
	server := k.Nova.CreateServer(t, acctest.ServerOpts{})
	k.Nova.Lock(t, server, "disk forensics")
	c := ctx(t)
	backend := func(user, password, project string) *nova.Backend {
		b, err := nova.New(c, nova.Config{AuthURL: k.AuthURL, UserName: user, Password: password,
			TenantName: project, EndpointType: "public"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	demo := backend(acctest.KeystoneDemoUser, acctest.KeystoneDemoPassword, acctest.KeystoneDemoProject)
	_, err := demo.Validate(c, rescue.Request{InstanceID: server})
	wantInvalid(t, err, "instance_id", "is locked", `"disk forensics"`, "openstack server unlock "+server)
	_, err = demo.Rescue(c, rescue.Request{InstanceID: server})
	wantInvalid(t, err, "instance_id", "is locked")
	if got := k.Nova.CountAction(t, server, "rescue"); got != 0 {
		t.Fatalf("Nova recorded %d rescues", got)
	}
	admin := backend(acctest.KeystoneAdminUser, acctest.KeystoneAdminPassword, "admin")
	plan, err := admin.Validate(c, rescue.Request{InstanceID: server})
	if err != nil || !strings.Contains(strings.Join(plan.Warnings, " "), "admin role") {
		t.Fatalf("admin: %+v %v", plan, err)
	}
}
