package acctest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tier"
)

// KeystoneInstallHint is the message of a test that needs Keystone on a machine without it.
const KeystoneInstallHint = "real Keystone missing: run scripts/install-deps.sh (apt-get install python3-keystone)"

// Users of the harness Keystone (all in domain Default).
const (
	// KeystoneRegion is the region of the catalog.
	KeystoneRegion = "RegionOne"
	// KeystoneDemoUser / KeystoneDemoPassword / KeystoneDemoProject: a project member.
	KeystoneDemoUser     = "demo"
	KeystoneDemoPassword = "demo"
	KeystoneDemoProject  = "demo"
	// KeystoneAdminUser / KeystoneAdminPassword: the bootstrap admin (project admin).
	KeystoneAdminUser     = "admin"
	KeystoneAdminPassword = "admin"
	// KeystoneAdminProject is the admin user's project.
	KeystoneAdminProject = "admin"
	// KeystoneNovaPageSize is the Keystone-backed Nova's [api] max_limit: a listing of more
	// servers than this takes several pages.
	KeystoneNovaPageSize = 2
)

// KeystoneProcess is a running keystone-wsgi-public with a sqlite database in Dir.
type KeystoneProcess struct {
	// AuthURL is the v3 URL, e.g. http://127.0.0.1:P/v3.
	AuthURL string
	// PID of keystone-wsgi-public.
	PID int
	// Dir is the state directory (keystone/ holds the DB, keys, logs).
	Dir string

	done    chan struct{}
	tempDir bool
}

// KeystoneEnv is a Keystone with a Nova (auth keystone) registered in its catalog.
type KeystoneEnv struct {
	*KeystoneProcess
	// Nova is a Nova process that authenticates with this Keystone; its client acts as the
	// demo user in project demo (servers it creates belong to demo).
	Nova *Nova
	// Admin is the same Nova with a client of the admin user in project admin.
	Admin *Nova
}

var (
	keystoneOnce sync.Once
	keystoneEnv  *KeystoneEnv
	keystoneErr  error
)

// Keystone starts (once per test binary) a real Keystone and a second Nova with
// --auth keystone whose compute and image endpoints are in Keystone's catalog.
func Keystone(t testing.TB) *KeystoneEnv {
	t.Helper()
	tier.NeedsDaemons(t, "a real Keystone and Nova")
	keystoneOnce.Do(func() { keystoneEnv, keystoneErr = startKeystoneEnv() })
	if keystoneErr != nil {
		t.Fatalf("start Keystone + Nova: %v", keystoneErr)
	}
	return keystoneEnv
}

func startKeystoneEnv() (*KeystoneEnv, error) {
	if err := CheckNova(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ks, err := StartKeystone(ctx, "")
	if err != nil {
		return nil, err
	}
	AtExit(func() { _ = ks.Stop() })
	cport, err := FreePort()
	if err != nil {
		return nil, err
	}
	gport, err := FreePort()
	if err != nil {
		return nil, err
	}
	computeURL := fmt.Sprintf("http://127.0.0.1:%d/v2.1", cport)
	imageURL := fmt.Sprintf("http://127.0.0.1:%d", gport)
	if err := ks.Register(ctx, computeURL, imageURL); err != nil {
		return nil, err
	}
	p, err := StartNova(ctx, NovaOptions{Auth: "keystone", KeystoneURL: ks.AuthURL, ComputePort: cport, ImagePort: gport,
		MaxLimit: KeystoneNovaPageSize})
	if err != nil {
		return nil, err
	}
	AtExit(func() { _ = p.Stop() })
	env := &KeystoneEnv{KeystoneProcess: ks}
	for _, u := range []struct {
		user, pass, project string
		nova                **Nova
	}{
		{KeystoneDemoUser, KeystoneDemoPassword, KeystoneDemoProject, &env.Nova},
		{KeystoneAdminUser, KeystoneAdminPassword, KeystoneAdminProject, &env.Admin},
	} {
		pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
			IdentityEndpoint: ks.AuthURL, Username: u.user, Password: u.pass,
			TenantName: u.project, DomainName: "Default", AllowReauth: true,
		})
		if err != nil {
			return nil, fmt.Errorf("authenticate as %s at %s: %w", u.user, ks.AuthURL, err)
		}
		*u.nova = newNova(p, pc, pc.Token())
	}
	return env, nil
}

// CheckKeystone returns an error with KeystoneInstallHint when Keystone is not installed.
func CheckKeystone() error {
	if _, err := os.Stat("/usr/bin/keystone-wsgi-public"); err != nil {
		return fmt.Errorf("%s: %w", KeystoneInstallHint, err)
	}
	if _, err := exec.LookPath("keystone-manage"); err != nil {
		return fmt.Errorf("%s: %w", KeystoneInstallHint, err)
	}
	return nil
}

// StartKeystone creates a throw-away Keystone (sqlite, fernet, admin/admin bootstrapped) in
// dir (a new temporary directory when empty) and starts it on a free 127.0.0.1 port.
func StartKeystone(ctx context.Context, dir string) (*KeystoneProcess, error) {
	if err := CheckKeystone(); err != nil {
		return nil, err
	}
	k := &KeystoneProcess{done: make(chan struct{})}
	var err error
	if k.Dir, k.tempDir, err = stateDir(dir, "rescue-keystone-"); err != nil {
		return nil, fmt.Errorf("keystone state dir: %w", err)
	}
	kit, err := writeKit(k.Dir)
	if err != nil {
		k.cleanupDir()
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		k.cleanupDir()
		return nil, err
	}
	k.AuthURL = fmt.Sprintf("http://127.0.0.1:%d/v3", port)
	env := append(novaEnv(os.Environ()), "NOVA_STATE_DIR="+k.Dir, "KEYSTONE_PORT="+strconv.Itoa(port),
		"PYTHONDONTWRITEBYTECODE=1")
	setup := exec.CommandContext(ctx, filepath.Join(kit, "keystone_setup.sh")) //nolint:gosec // our script
	setup.Env = env
	if out, err := setup.CombinedOutput(); err != nil {
		k.cleanupDir()
		return nil, fmt.Errorf("keystone setup: %w: %s", err, lastLines(string(out), 20))
	}
	ksDir := filepath.Join(k.Dir, "keystone")
	out, err := os.Create(filepath.Join(ksDir, "server.out"))
	if err != nil {
		k.cleanupDir()
		return nil, fmt.Errorf("create keystone server.out: %w", err)
	}
	defer func() { _ = out.Close() }()
	cmd := exec.Command(Python, "/usr/bin/keystone-wsgi-public", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = append(env, "OS_KEYSTONE_CONFIG_DIR="+ksDir)
	cmd.Dir = ksDir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		k.cleanupDir()
		return nil, fmt.Errorf("start keystone-wsgi-public: %w", err)
	}
	k.PID = cmd.Process.Pid
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(k.done) }()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for !httpAnswers(hc, k.AuthURL) {
		select {
		case <-k.done:
			k.cleanupDir()
			return nil, fmt.Errorf("keystone exited (%w): %s", waitErr, readFileTail(filepath.Join(ksDir, "server.out"), 20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = k.Stop()
			return nil, fmt.Errorf("keystone did not answer on %s", k.AuthURL)
		}
	}
	return k, nil
}

// Register creates what Nova and the tests need: project service with user nova/nova
// (admin, used by keystonemiddleware), project demo with user demo/demo (member), and the
// compute and image services with public/internal/admin endpoints.
func (k *KeystoneProcess) Register(ctx context.Context, computeURL, imageURL string) error {
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: k.AuthURL, Username: KeystoneAdminUser, Password: KeystoneAdminPassword,
		TenantName: "admin", DomainName: "Default",
	})
	if err != nil {
		return fmt.Errorf("keystone admin auth: %w", err)
	}
	id, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{Region: KeystoneRegion})
	if err != nil {
		return fmt.Errorf("keystone identity client: %w", err)
	}
	roleIDs := map[string]string{}
	pages, err := roles.List(id, roles.ListOpts{}).AllPages(ctx)
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	rl, err := roles.ExtractRoles(pages)
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	for _, r := range rl {
		roleIDs[r.Name] = r.ID
	}
	for _, u := range []struct{ project, user, pass, role string }{
		{"service", "nova", "nova", "admin"},
		{KeystoneDemoProject, KeystoneDemoUser, KeystoneDemoPassword, "member"},
	} {
		p, err := projects.Create(ctx, id, projects.CreateOpts{Name: u.project, DomainID: "default"}).Extract()
		if err != nil {
			return fmt.Errorf("create project %s: %w", u.project, err)
		}
		usr, err := users.Create(ctx, id, users.CreateOpts{Name: u.user, DomainID: "default", Password: u.pass,
			DefaultProjectID: p.ID}).Extract()
		if err != nil {
			return fmt.Errorf("create user %s: %w", u.user, err)
		}
		if roleIDs[u.role] == "" {
			return fmt.Errorf("keystone has no role %q (roles: %v)", u.role, roleIDs)
		}
		if err := roles.Assign(ctx, id, roleIDs[u.role], roles.AssignOpts{UserID: usr.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
			return fmt.Errorf("assign role %s to %s: %w", u.role, u.user, err)
		}
	}
	for _, s := range []struct{ name, typ, url string }{{"nova", "compute", computeURL}, {"glance", "image", imageURL}} {
		svc, err := services.Create(ctx, id, services.CreateOpts{Type: s.typ, Extra: map[string]any{"name": s.name}}).Extract()
		if err != nil {
			return fmt.Errorf("create service %s: %w", s.typ, err)
		}
		for _, av := range []gophercloud.Availability{gophercloud.AvailabilityPublic, gophercloud.AvailabilityInternal, gophercloud.AvailabilityAdmin} {
			if _, err := endpoints.Create(ctx, id, endpoints.CreateOpts{Availability: av, Region: KeystoneRegion,
				URL: strings.TrimRight(s.url, "/"), ServiceID: svc.ID}).Extract(); err != nil {
				return fmt.Errorf("create %s endpoint of %s: %w", av, s.typ, err)
			}
		}
	}
	return nil
}

// Stop stops Keystone by PID (SIGTERM, SIGKILL after a grace period) and removes a
// temporary state directory.
func (k *KeystoneProcess) Stop() error {
	if k == nil || k.PID == 0 {
		return nil
	}
	err := stopPID(k.PID, k.done, 10*time.Second)
	k.cleanupDir()
	return err
}

func (k *KeystoneProcess) cleanupDir() { removeStateDir(k.Dir, k.tempDir) }

// CloudsYAML writes a clouds.yaml with one cloud named name (user demo) into dir and returns
// its path; password overrides the demo password when not empty.
func (k *KeystoneProcess) CloudsYAML(t testing.TB, dir, name, password string) string {
	t.Helper()
	if password == "" {
		password = KeystoneDemoPassword
	}
	return k.writeClouds(t, dir, k.cloudEntry(name, KeystoneDemoUser, password, KeystoneDemoProject))
}

// CloudsYAMLUsers writes a clouds.yaml with two clouds into dir and returns its path: demo
// (user demo, a member of project demo) and admin (user admin, project admin).
func (k *KeystoneProcess) CloudsYAMLUsers(t testing.TB, dir string) string {
	t.Helper()
	return k.writeClouds(t, dir, k.cloudEntry("demo", KeystoneDemoUser, KeystoneDemoPassword, KeystoneDemoProject)+
		k.cloudEntry("admin", KeystoneAdminUser, KeystoneAdminPassword, KeystoneAdminProject))
}

func (k *KeystoneProcess) writeClouds(t testing.TB, dir, entries string) string {
	t.Helper()
	path := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(path, []byte("clouds:\n"+entries), 0o600); err != nil {
		t.Fatalf("write clouds.yaml: %v", err)
	}
	return path
}

func (k *KeystoneProcess) cloudEntry(name, user, password, project string) string {
	return fmt.Sprintf(`  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: %s
      user_domain_name: Default
      project_domain_name: Default
    region_name: %s
    interface: public
    identity_api_version: 3
`, name, k.AuthURL, user, password, project, KeystoneRegion)
}
