package acctest

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// novasimFiles is our copy of the Nova kit (novasim.py and friends), written to a temporary
// directory at start so that the harness works from any directory and from a plain binary.
//
//go:embed novasim/*.py novasim/*.sh novasim/api-paste.ini
var novasimFiles embed.FS

// Python is Debian's interpreter, the one that sees python3-nova (a venv python3 does not).
const Python = "/usr/bin/python3"

// NovaInstallHint is the message of a test that needs real Nova on a machine without it.
const NovaInstallHint = "real Nova missing: run scripts/install-deps.sh (apt-get install python3-nova " +
	"python3-placement python3-oslotest python3-wsgi-intercept python3-keystone)"

// NovaOptions selects how a Nova process is started.
type NovaOptions struct {
	// Auth is "noauth2" (default: token "user:project") or "keystone".
	Auth string
	// KeystoneURL is the Keystone v3 URL for Auth "keystone".
	KeystoneURL string
	// MaxMicroversion caps the compute API microversion (e.g. "2.86"), to act as an older cloud.
	MaxMicroversion string
	// MaxLimit is Nova's [api] max_limit, the largest page of a list (0: Nova's 1000).
	MaxLimit int
	// Env is added to the environment of the process (e.g. NOVASIM_RESCUE_DELAY=2).
	Env []string
	// Dir is the state directory (log, output); empty means a new temporary directory that
	// Stop removes.
	Dir string
	// ComputePort and ImagePort are the ports; zero picks free ones.
	ComputePort, ImagePort int
	// Detach starts the process in its own session so that it outlives its parent (demo).
	Detach bool
}

// NovaProcess is one running novasim.py: Nova's own API, conductor, scheduler, placement and
// two computes in one Python process, plus a Glance v2 subset.
type NovaProcess struct {
	// ComputeURL is the compute endpoint with a trailing slash: http://127.0.0.1:P/v2.1/.
	ComputeURL string
	// ImageURL is the Glance endpoint with a trailing slash: http://127.0.0.1:P/.
	ImageURL string
	// PID is the process id of novasim.py.
	PID int
	// Dir is the state directory (novasim.log, novasim.out).
	Dir string
	// LogFile is Nova's log file.
	LogFile string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	tempDir bool
}

// CheckNova returns an error with NovaInstallHint when /usr/bin/python3 cannot import Nova.
func CheckNova() error {
	out, err := exec.Command(Python, "-c", "import nova, placement, oslotest, wsgi_intercept").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", NovaInstallHint, err, lastLines(string(out), 3))
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKit writes the embedded kit into dir/kit and returns that directory.
func writeKit(dir string) (string, error) {
	kit := filepath.Join(dir, "kit")
	if err := os.MkdirAll(kit, 0o755); err != nil {
		return "", fmt.Errorf("create kit dir: %w", err)
	}
	err := fs.WalkDir(novasimFiles, "novasim", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := novasimFiles.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(filepath.Join(kit, filepath.Base(path)), b, mode)
	})
	if err != nil {
		return "", fmt.Errorf("write the novasim kit: %w", err)
	}
	return kit, nil
}

// StartNova starts novasim.py on 127.0.0.1 and returns when its compute API answers.
func StartNova(ctx context.Context, opts NovaOptions) (*NovaProcess, error) {
	if err := CheckNova(); err != nil {
		return nil, err
	}
	p := &NovaProcess{done: make(chan struct{})}
	var err error
	if p.Dir, p.tempDir, err = stateDir(opts.Dir, "rescue-novasim-"); err != nil {
		return nil, fmt.Errorf("nova state dir: %w", err)
	}
	kit, err := writeKit(p.Dir)
	if err != nil {
		p.cleanupDir()
		return nil, err
	}
	cport, gport := opts.ComputePort, opts.ImagePort
	for _, pp := range []*int{&cport, &gport} {
		if *pp == 0 {
			if *pp, err = FreePort(); err != nil {
				p.cleanupDir()
				return nil, err
			}
		}
	}
	p.ComputeURL = fmt.Sprintf("http://127.0.0.1:%d/v2.1/", cport)
	p.ImageURL = fmt.Sprintf("http://127.0.0.1:%d/", gport)
	p.LogFile = filepath.Join(p.Dir, "novasim.log")

	args := []string{filepath.Join(kit, "novasim.py"), "--host", "127.0.0.1",
		"--port", strconv.Itoa(cport), "--glance-port", strconv.Itoa(gport), "--log-file", p.LogFile}
	if opts.Auth != "" {
		args = append(args, "--auth", opts.Auth)
	}
	if opts.KeystoneURL != "" {
		args = append(args, "--keystone-url", opts.KeystoneURL)
	}
	if opts.MaxMicroversion != "" {
		args = append(args, "--max-microversion", opts.MaxMicroversion)
	}
	if opts.MaxLimit > 0 {
		args = append(args, "--max-limit", strconv.Itoa(opts.MaxLimit))
	}
	out, err := os.Create(filepath.Join(p.Dir, "novasim.out"))
	if err != nil {
		p.cleanupDir()
		return nil, fmt.Errorf("create novasim.out: %w", err)
	}
	defer func() { _ = out.Close() }()
	cmd := exec.Command(Python, args...) //nolint:gosec // fixed interpreter, our own script
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(novaEnv(os.Environ()), "NOVA_STATE_DIR="+p.Dir, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, opts.Env...)
	// Own process group (or session for Detach): a Ctrl-C of `go test` does not hit it first,
	// and it is stopped by PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !opts.Detach, Setsid: opts.Detach}
	if err := cmd.Start(); err != nil {
		p.cleanupDir()
		return nil, fmt.Errorf("start novasim.py: %w", err)
	}
	p.cmd, p.PID = cmd, cmd.Process.Pid
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(ctx, 3*time.Minute); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// novaEnv drops variables of the caller that would change what Nova's test base class does.
func novaEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NOVASIM_") || strings.HasPrefix(k, "OS_") || k == "NOVA_STATE_DIR" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *NovaProcess) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.done:
			return fmt.Errorf("novasim.py exited before answering (%w); output %s:\n%s",
				p.waitErr, filepath.Join(p.Dir, "novasim.out"), p.tail(30))
		case <-ctx.Done():
			return fmt.Errorf("waiting for novasim.py: %w", ctx.Err())
		default:
		}
		// Any HTTP answer (401 with keystone auth too) means the API is up; Glance must answer too.
		if httpAnswers(hc, p.ComputeURL) && httpAnswers(hc, p.ImageURL) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("novasim.py did not answer on %s within %v; output:\n%s", p.ComputeURL, limit, p.tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpAnswers(hc *http.Client, url string) bool {
	resp, err := hc.Get(url) //nolint:noctx // short readiness probe with a client timeout
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

func (p *NovaProcess) tail(n int) string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "novasim.out"))
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop sends SIGTERM to the process (novasim runs its cleanups and exits), SIGKILL after a
// grace period, waits for the exit, and removes a temporary state directory.
func (p *NovaProcess) Stop() error {
	if p == nil || p.cmd == nil {
		return nil
	}
	err := stopPID(p.PID, p.done, 10*time.Second)
	p.cleanupDir()
	return err
}

func (p *NovaProcess) cleanupDir() { removeStateDir(p.Dir, p.tempDir) }

// stateDir returns dir, or a new temporary directory (temp true) when dir is empty.
func stateDir(dir, prefix string) (string, bool, error) {
	if dir != "" {
		return dir, false, nil
	}
	d, err := os.MkdirTemp("", prefix)
	return d, err == nil, err
}

// removeStateDir removes a temporary state directory, unless RESCUE_KEEP_STATE is set.
func removeStateDir(dir string, temp bool) {
	if temp && os.Getenv("RESCUE_KEEP_STATE") == "" {
		_ = os.RemoveAll(dir)
	}
}

// stopPID stops one process we started: SIGTERM, then SIGKILL after grace; done closes when
// the process has been reaped.
func stopPID(pid int, done <-chan struct{}, grace time.Duration) error {
	select {
	case <-done:
		return nil
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Errorf("pid %d did not stop within %v after SIGTERM; killed", pid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("pid %d did not exit after SIGKILL", pid)
	}
}

// readFileTail is a helper for diagnostics of other daemons.
func readFileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLines(string(bytes.TrimSpace(b)), n)
}
