// Package tfcli runs the real Terraform CLI against the provider built as its own binary, so
// that tests can do to a run what happens to real ones: SIGKILL the provider process (or
// terraform itself) at a chosen moment, run two workspaces at once, then run plain
// `terraform apply` / `terraform destroy` again and look at what they converge to.
//
// The provider is built once per test binary (go build of this module, kept in the user's cache
// directory so that a warm run does not link it again) and found by Terraform
// through a dev_overrides CLI configuration, so nothing is downloaded. Terraform is the one of
// TF_ACC_TERRAFORM_PATH, else the one on PATH.
package tfcli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProviderSource is the provider's address in the configurations this package writes.
const ProviderSource = "rescue-labs/rescue"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	// buildTemp is true when buildDir is a temporary directory (no cache directory), which
	// Cleanup removes.
	buildTemp bool
)

// moduleRoot walks up from the working directory (a package of this module) to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ProviderDir builds the provider binary once per test binary and returns its directory. The
// binary is kept between runs in the user's cache directory, one per checkout of the module:
// go build skips the link when the binary there is up to date, so a warm run does not pay for
// it again. Test binaries that run at once (go test -p) take turns with an flock(2).
func ProviderDir(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildDir, buildErr = buildProvider() })
	if buildErr != nil {
		t.Fatalf("tfcli: %v", buildErr)
	}
	return buildDir
}

// buildProvider runs go build of the module into its cache directory (a temporary one when
// there is no cache directory) and returns that directory.
func buildProvider() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := cacheDir(root)
	if err != nil {
		if dir, err = os.MkdirTemp("", "tfcli-provider-"); err != nil {
			return "", fmt.Errorf("temp dir: %w", err)
		}
		buildTemp = true
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("lock of the provider build: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock of the provider build: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "terraform-provider-rescue"), ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the provider: %w\n%s", err, out)
	}
	return dir, nil
}

// cacheDir is the directory of the built provider of the module at root, made when missing.
func cacheDir(root string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(base, "terraform-provider-rescue", "tfcli-"+hex.EncodeToString(sum[:6]))
	return dir, os.MkdirAll(dir, 0o700)
}

// Cleanup removes the built provider when it is not kept in the cache directory; TestMain
// calls it after the tests.
func Cleanup() {
	if buildTemp && buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// TerraformPath is the Terraform CLI of the tests: TF_ACC_TERRAFORM_PATH, else PATH.
func TerraformPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("tfcli: no Terraform CLI: set TF_ACC_TERRAFORM_PATH or install one " +
			"(go install github.com/hashicorp/terraform@v1.5.7, or scripts/install-deps.sh)")
	}
	return p
}

// Workspace is one Terraform working directory using the built provider.
type Workspace struct {
	t         testing.TB
	Dir       string
	terraform string
	binary    string
	env       []string
}

// NewWorkspace makes a working directory (removed at the end of the test) whose CLI
// configuration points Terraform at the built provider. env is added to every command's
// environment (OS_*, LIBVIRT_DEFAULT_URI, TF_LOG, ...).
func NewWorkspace(t testing.TB, env ...string) *Workspace {
	t.Helper()
	pdir := ProviderDir(t)
	dir := t.TempDir()
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    %q = %q\n  }\n  direct {}\n}\n", ProviderSource, pdir)
	rcPath := filepath.Join(dir, ".terraformrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatalf("tfcli: %v", err)
	}
	w := &Workspace{t: t, Dir: dir, terraform: TerraformPath(t), binary: filepath.Join(pdir, "terraform-provider-rescue")}
	w.env = append(w.env, "TF_CLI_CONFIG_FILE="+rcPath, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"TF_INPUT=0", "TF_DATA_DIR="+filepath.Join(dir, ".terraform"))
	w.env = append(w.env, env...)
	return w
}

// UseCLI makes the workspace run another Terraform (or OpenTofu) CLI than TerraformPath's
// (the smoke suite of older versions).
func (w *Workspace) UseCLI(path string) { w.terraform = path }

// Header is the terraform block that names the provider; configurations start with it.
const Header = "terraform {\n  required_providers {\n    rescue = { source = \"" + ProviderSource + "\" }\n  }\n}\n"

// Write replaces main.tf with Header plus hcl.
func (w *Workspace) Write(hcl string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.Dir, "main.tf"), []byte(Header+hcl), 0o600); err != nil {
		w.t.Fatalf("tfcli: %v", err)
	}
}

// Result is a finished command.
type Result struct {
	Args     []string
	ExitCode int
	Output   string
	Took     time.Duration
}

// OK reports whether the command exited 0.
func (r Result) OK() bool { return r.ExitCode == 0 }

func (r Result) String() string {
	return fmt.Sprintf("terraform %s: exit %d after %s\n%s", strings.Join(r.Args, " "), r.ExitCode, r.Took.Round(time.Millisecond), r.Output)
}

// Run runs terraform with args (plus -no-color) to the end and returns what it did.
func (w *Workspace) Run(args ...string) Result {
	w.t.Helper()
	return w.Start(args...).Wait()
}

// Apply runs `terraform apply -auto-approve` with extra args.
func (w *Workspace) Apply(extra ...string) Result {
	w.t.Helper()
	return w.Run(append([]string{"apply", "-auto-approve"}, extra...)...)
}

// Destroy runs `terraform destroy -auto-approve` with extra args.
func (w *Workspace) Destroy(extra ...string) Result {
	w.t.Helper()
	return w.Run(append([]string{"destroy", "-auto-approve"}, extra...)...)
}

// Proc is a running terraform command.
type Proc struct {
	w     *Workspace
	cmd   *exec.Cmd
	args  []string
	start time.Time
	out   *syncBuffer
	done  chan struct{}
	res   Result
}

// Start starts terraform with args (plus -no-color) in its own process group.
func (w *Workspace) Start(args ...string) *Proc {
	w.t.Helper()
	args = append(append([]string{}, args...), "-no-color")
	cmd := exec.Command(w.terraform, args...)
	cmd.Dir = w.Dir
	cmd.Env = append(os.Environ(), w.env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{w: w, cmd: cmd, args: args, out: out, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("tfcli: start terraform: %v", err)
	}
	w.t.Cleanup(p.killGroup)
	go func() {
		err := cmd.Wait()
		p.res = Result{Args: args, ExitCode: exitCode(err), Output: out.String(), Took: time.Since(p.start)}
		close(p.done)
	}()
	return p
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		return 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
	}
	return -1
}

// Wait waits for the command to end (at most 15 minutes) and returns its result.
func (p *Proc) Wait() Result {
	select {
	case <-p.done:
	case <-time.After(15 * time.Minute):
		p.killGroup()
		<-p.done
		p.w.t.Errorf("tfcli: terraform %s ran past 15 minutes and was killed", strings.Join(p.args, " "))
	}
	// A provider orphaned by a killed terraform must not outlive the command: wait until its
	// processes are gone or zombies (an exiting process loses its exe link before its state
	// says it is dead, and a lease check in that window still sees it alive).
	seen := p.ProviderPIDs()
	p.killGroup()
	for end := time.Now().Add(10 * time.Second); (len(p.ProviderPIDs()) > 0 || anyRunning(seen)) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	return p.res
}

// anyRunning reports whether one of pids exists and is neither a zombie nor dead.
func anyRunning(pids []int) bool {
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[i+1:]); i >= 0 && len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// Output is what the command printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Elapsed is the time since the command started.
func (p *Proc) Elapsed() time.Duration { return time.Since(p.start) }

// Done is closed when the command has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// killGroup SIGKILLs every process left in the command's process group.
func (p *Proc) killGroup() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// WaitFor polls cond every 50 ms until it holds (true) or the command ends or timeout passes
// (false).
func (p *Proc) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		select {
		case <-p.done:
			return cond()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// WaitOutput waits until the output contains s (see WaitFor).
func (p *Proc) WaitOutput(timeout time.Duration, s string) bool {
	return p.WaitFor(timeout, func() bool { return strings.Contains(p.out.String(), s) })
}

// ProviderPIDs lists the running provider processes of this command.
func (p *Proc) ProviderPIDs() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != p.w.binary {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && p.cmd.Process != nil && pgid == p.cmd.Process.Pid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillProvider SIGKILLs the provider processes of the command (waiting up to 30 s for one to
// exist) and returns their pids; the test fails when there is none.
func (p *Proc) KillProvider() []int {
	var pids []int
	p.WaitFor(30*time.Second, func() bool { pids = p.ProviderPIDs(); return len(pids) > 0 })
	if len(pids) == 0 {
		p.w.t.Fatalf("tfcli: no provider process to kill; output so far:\n%s", p.Output())
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return pids
}

// KillTerraform SIGKILLs terraform and its provider processes together (its process group), as
// a dying CI runner takes its whole process tree. Killing terraform first and its provider a
// moment later would give the provider time to see its client gone and roll back by itself,
// which is another test: a killed provider is KillProvider's.
func (p *Proc) KillTerraform() {
	p.killGroup()
}

// State is the parts of terraform.tfstate the tests read.
type State struct {
	Resources []struct {
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			IndexKey   any            `json:"index_key"`
			Status     string         `json:"status"`
			Attributes map[string]any `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// Instance is one resource instance of the state.
type Instance struct {
	Address    string
	Tainted    bool
	Attributes map[string]any
}

// State reads terraform.tfstate (no file: empty).
func (w *Workspace) State() map[string]Instance {
	w.t.Helper()
	out := map[string]Instance{}
	buf, err := os.ReadFile(filepath.Join(w.Dir, "terraform.tfstate"))
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		w.t.Fatalf("tfcli: %v", err)
	}
	var s State
	if err := json.Unmarshal(buf, &s); err != nil {
		w.t.Fatalf("tfcli: parse terraform.tfstate: %v", err)
	}
	for _, r := range s.Resources {
		if r.Mode != "managed" {
			continue
		}
		for _, i := range r.Instances {
			addr := r.Type + "." + r.Name
			switch k := i.IndexKey.(type) {
			case string:
				addr += fmt.Sprintf("[%q]", k)
			case float64:
				addr += fmt.Sprintf("[%d]", int(k))
			}
			out[addr] = Instance{Address: addr, Tainted: i.Status == "tainted", Attributes: i.Attributes}
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
