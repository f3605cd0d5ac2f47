// Package libvirtd starts a private system libvirtd for tests and demos and builds tiny
// boot-sector guests that print which device they booted from.
//
// The daemon runs as root in a private mount namespace (unshare) in which /etc/libvirt, /run,
// /var, /etc/passwd and /etc/group are directories and files under a temporary state directory,
// so nothing of the host's libvirt configuration is read or written. It runs under `tini -s`
// (a subreaper, so QEMU's orphaned processes are reaped at once), with cgroup_controllers=[],
// stdio_handler="file" (no virtlogd) and a fake libvirt-qemu user. Its unix sockets live in a
// short temporary directory. Stop stops it by PID and removes everything it made.
//
// Tests use it through Shared (one daemon per test binary, see testing.go) or through
// acctest.Libvirt; `make demo` uses it through internal/acctest/cmd/libvirtd-up.
package libvirtd

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

//go:embed assets/libvirtd.conf.in
var libvirtdConfTemplate string

//go:embed assets/qemu.conf
var qemuConf string

// InstallHint is the message given when a component of the private daemon is missing.
const InstallHint = "libvirt test components missing: run scripts/install-deps.sh " +
	"(apt-get install libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils " +
	"libvirt-clients genisoimage xorriso tini binutils)"

// Programs the daemon and the images need, by name; absolute paths are looked up in PATH
// and the usual sbin directories.
var requiredPrograms = []string{
	"libvirtd", "qemu-system-x86_64", "qemu-img", "tini", "unshare", "as", "ld", "genisoimage",
}

// ownerFile marks a state directory with the PID of the process that owns the daemon
// (a test binary); Sweep removes state directories whose owner is gone.
const ownerFile = "owner"

// Options configure Start.
type Options struct {
	// Dir is the state directory; empty means a new temporary directory. It must not be under
	// /run, /var or /etc/libvirt, which are replaced inside the daemon's namespace.
	Dir string
	// Detach leaves the daemon running when the calling process exits (the demo's `up`).
	// Otherwise the daemon gets SIGTERM when the calling process dies (Pdeathsig), so a test
	// binary killed by a timeout does not leave it behind.
	Detach bool
}

// Daemon is a running private libvirtd. Its exported fields are fixed for its lifetime
// (also across Restart).
type Daemon struct {
	// Dir is the state directory: etc/ run/ var/ (the daemon's /etc/libvirt, /run, /var),
	// log/ (libvirtd.log, libvirtd.stdout), images/ (see Images), run-disks/, dbg/.
	Dir string
	// SockDir holds the unix sockets (libvirt-sock, libvirt-sock-ro, libvirt-admin-sock).
	SockDir string
	// Socket is the read-write unix socket.
	Socket string
	// QEMUURI is the client URI of the QEMU driver, "qemu+unix:///system?socket=<Socket>",
	// usable as the provider's libvirt { uri = ... } and with virsh -c.
	QEMUURI string
	// TestURI is the client URI of the test driver, "test+unix:///default?socket=<Socket>".
	TestURI string
	// ImagesDir holds the shared images (see BuildImages).
	ImagesDir string
	// DisksDir holds the per-domain root disk copies.
	DisksDir string
	// DbgDir holds each guest's isa-debugcon output, <DbgDir>/<name>.log.
	DbgDir string

	mu     sync.Mutex
	pid    int
	done   chan struct{} // closed when the daemon process (started by us) has been waited for
	keeper *libvirt.Libvirt
	detach bool
	exited string // how the last launched daemon ended, when it did (shown by LogTail)
}

// Missing returns the required programs that cannot be found.
func Missing() []string {
	var missing []string
	for _, p := range requiredPrograms {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// tempBase returns a directory for state directories that is not replaced inside the
// daemon's namespace.
func tempBase() string {
	base := os.TempDir()
	if badStateDir(base) {
		base = "/tmp"
	}
	return base
}

func badStateDir(dir string) bool {
	d := filepath.Clean(dir) + "/"
	for _, p := range []string{"/run/", "/var/", "/etc/libvirt/"} {
		if strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// Start builds the test images (BuildImages), starts a private libvirtd and waits until
// test:///default and qemu:///system answer.
func Start(opts Options) (*Daemon, error) {
	if m := Missing(); len(m) > 0 {
		return nil, fmt.Errorf("%s (not found: %s)", InstallHint, strings.Join(m, ", "))
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the private libvirtd needs root (private mount namespace, QEMU as root)")
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(tempBase(), "lvd-"); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if badStateDir(dir) {
		return nil, fmt.Errorf("state dir %s must not be under /run, /var or /etc/libvirt (replaced inside the daemon's namespace)", dir)
	}
	d := &Daemon{
		Dir:       dir,
		ImagesDir: filepath.Join(dir, "images"),
		DisksDir:  filepath.Join(dir, "run-disks"),
		DbgDir:    filepath.Join(dir, "dbg"),
		detach:    opts.Detach,
	}
	if err := d.prepare(); err != nil {
		_ = d.removeDirs()
		return nil, err
	}
	if _, err := BuildImages(d.ImagesDir); err != nil {
		_ = d.removeDirs()
		return nil, err
	}
	if err := d.launch(); err != nil {
		d.stopDaemon()
		_ = d.removeDirs()
		return nil, err
	}
	return d, nil
}

// prepare writes the configuration, the fake passwd/group and the directory skeleton.
func (d *Daemon) prepare() error {
	for _, sub := range []string{"etc", "run/lock", "var/lib", "var/log", "var/cache", "var/tmp", "log", "images", "run-disks", "dbg"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	for link, target := range map[string]string{"var/run": "/run", "var/lock": "/run/lock"} {
		p := filepath.Join(d.Dir, link)
		_ = os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	// sun_path holds 107 bytes; the longest socket name libvirtd makes is libvirt-admin-sock.
	d.SockDir = filepath.Join(d.Dir, "sock")
	if len(d.SockDir)+len("/libvirt-admin-sock") > 107 {
		s, err := os.MkdirTemp("/tmp", "lvs-")
		if err != nil {
			return fmt.Errorf("socket dir: %w", err)
		}
		d.SockDir = s
	} else if err := os.MkdirAll(d.SockDir, 0o755); err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	d.setURIs()
	conf := strings.NewReplacer("@SOCK_DIR@", d.SockDir, "@LOG_DIR@", filepath.Join(d.Dir, "log")).Replace(libvirtdConfTemplate)
	files := map[string]string{
		"libvirtd.conf": conf,
		"etc/qemu.conf": qemuConf,
		"sockdir":       d.SockDir + "\n",
	}
	if !d.detach {
		files[ownerFile] = strconv.Itoa(os.Getpid()) + "\n"
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d.Dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	// The QEMU driver resolves its compiled-in default user and group (Debian: libvirt-qemu)
	// before it reads qemu.conf, so they must exist; libvirt-daemon-system (not installed)
	// would create them. Private copies with these entries are bind-mounted in the namespace.
	for _, f := range []struct{ src, dst, entry, name string }{
		{"/etc/passwd", "passwd", "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n", "libvirt-qemu:"},
		{"/etc/group", "group", "libvirt-qemu:x:64055:\nlibvirt:x:64056:\n", "libvirt-qemu:"},
	} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return fmt.Errorf("read %s: %w", f.src, err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		if !bytes.Contains(append([]byte("\n"), b...), []byte("\n"+f.name)) {
			b = append(b, f.entry...)
		}
		if err := os.WriteFile(filepath.Join(d.Dir, f.dst), b, 0o644); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	return nil
}

func (d *Daemon) setURIs() {
	d.Socket = filepath.Join(d.SockDir, "libvirt-sock")
	// Readable form (socket=/tmp/...) when the path needs no escaping, as users write it.
	q := "socket=" + d.Socket
	if strings.Trim(d.Socket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != "" {
		q = url.Values{"socket": {d.Socket}}.Encode()
	}
	d.QEMUURI = "qemu+unix:///system?" + q
	d.TestURI = "test+unix:///default?" + q
}

// nsScript runs inside the new mount namespace: it replaces /etc/libvirt, /etc/passwd,
// /etc/group, /var and /run by the state directory's copies, then execs tini + libvirtd.
const nsScript = `set -e
S=$1; shift
mount --bind "$S/etc" /etc/libvirt
mount --bind "$S/passwd" /etc/passwd
mount --bind "$S/group" /etc/group
mount --bind "$S/var" /var
mount --bind "$S/run" /run
mkdir -p /run/lock
exec "$@"
`

// launch starts unshare -> sh -> tini -> libvirtd and waits until the daemon answers.
func (d *Daemon) launch() error {
	libvirtd, _ := lookPath("libvirtd")
	tini, _ := lookPath("tini")
	unshare, _ := lookPath("unshare")
	if err := os.MkdirAll("/etc/libvirt", 0o755); err != nil { // mount point (libvirt-clients ships it)
		return fmt.Errorf("mount point /etc/libvirt: %w", err)
	}
	_ = os.Remove(d.Socket)
	logf, err := os.OpenFile(filepath.Join(d.Dir, "log", "libvirtd.stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", nsScript, "libvirtd-ns", d.Dir,
		tini, "-s", "-g", "--", libvirtd, "-f", filepath.Join(d.Dir, "libvirtd.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !d.detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start libvirtd: %w", err)
	}
	d.mu.Lock()
	d.pid = cmd.Process.Pid
	d.done = make(chan struct{})
	done := d.done
	d.mu.Unlock()
	if d.detach {
		_ = cmd.Process.Release() // reaped by init once it exits
		close(done)
	} else {
		go func() {
			err := cmd.Wait()
			d.mu.Lock()
			d.exited = exitNote(cmd.Process.Pid, err)
			d.mu.Unlock()
			close(done)
		}()
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "libvirtd.pid"), []byte(strconv.Itoa(d.pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return d.waitAnswering(90 * time.Second)
}

// waitAnswering waits until test:///default and then qemu:///system (the capability probe takes
// about a second) answer, and keeps a test:///default connection open: the test driver's state
// is reset when its last connection closes, and Terraform runs the provider in a new process for
// each command.
func (d *Daemon) waitAnswering(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for _, uri := range []libvirt.ConnectURI{libvirt.TestDefault, libvirt.QEMUSystem} {
		for {
			if !d.alive() {
				return fmt.Errorf("libvirtd (pid %d) exited during startup:\n%s", d.pid, d.LogTail(30))
			}
			l, err := d.dial(uri)
			if err == nil {
				if uri == libvirt.TestDefault {
					d.mu.Lock()
					d.keeper = l
					d.mu.Unlock()
				} else {
					_ = l.Disconnect()
				}
				break
			}
			lastErr = err
			if time.Now().After(deadline) {
				return fmt.Errorf("libvirtd (pid %d) did not answer %s within %v: %w\n%s", d.pid, uri, timeout, lastErr, d.LogTail(30))
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	return nil
}

// dial connects to the daemon's read-write socket and opens a driver URI such as
// libvirt.QEMUSystem or libvirt.TestDefault.
func (d *Daemon) dial(uri libvirt.ConnectURI) (*libvirt.Libvirt, error) {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.Socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(uri); err != nil {
		return nil, fmt.Errorf("connect %s on %s: %w", uri, d.Socket, err)
	}
	return l, nil
}

// Dial opens a new connection to a client URI of this daemon (QEMUURI, TestURI, or any
// URI that go-libvirt's ConnectToURI accepts). The caller disconnects it.
func (d *Daemon) Dial(uri string) (*libvirt.Libvirt, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", uri, err)
	}
	l, err := libvirt.ConnectToURI(u)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", uri, err)
	}
	return l, nil
}

// PID returns the PID of the daemon's tini process.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}

func (d *Daemon) alive() bool {
	d.mu.Lock()
	pid, done := d.pid, d.done
	d.mu.Unlock()
	if pid == 0 {
		return false
	}
	if done != nil && !d.detach {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	return processAlive(pid)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func processCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// LogTail returns the last n lines of the daemon's logs (for error messages).
func (d *Daemon) LogTail(n int) string {
	var out strings.Builder
	d.mu.Lock()
	if d.exited != "" {
		out.WriteString(d.exited + "\n")
	}
	d.mu.Unlock()
	for _, f := range []string{"libvirtd.stdout", "libvirtd.log"} {
		b, err := os.ReadFile(filepath.Join(d.Dir, "log", f))
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&out, "==> %s <==\n%s\n", filepath.Join(d.Dir, "log", f), strings.Join(lines, "\n"))
	}
	return out.String()
}

// exitNote says when and how the daemon's tini (pid) ended: tini exits with 128+N when
// libvirtd died of signal N.
func exitNote(pid int, err error) string {
	how := "exit status 0"
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		how = ee.Error()
		if code := ee.ExitCode(); code > 128 {
			how += " (libvirtd ended by " + syscall.Signal(code-128).String() + ")"
		}
	} else if err != nil {
		how = err.Error()
	}
	return fmt.Sprintf("libvirtd's tini (pid %d) exited at %s: %s", pid, time.Now().UTC().Format("15:04:05.000"), how)
}

// stopDaemon stops libvirtd by the PID of its tini: SIGTERM, then SIGKILL after 15 s.
// Running guests are left alone (libvirtd leaves QEMU running when it exits).
func (d *Daemon) stopDaemon() {
	d.mu.Lock()
	if d.keeper != nil {
		_ = d.keeper.Disconnect()
		d.keeper = nil
	}
	pid, done := d.pid, d.done
	d.pid = 0
	d.mu.Unlock()
	if pid == 0 {
		return
	}
	exited := func() bool {
		if done != nil && !d.detach {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		return !processAlive(pid)
	}
	if exited() { // already gone (and maybe reaped: its PID may belong to someone else now)
		_ = os.Remove(filepath.Join(d.Dir, "libvirtd.pid"))
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for !exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !exited() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		deadline = time.Now().Add(5 * time.Second)
		for !exited() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = os.Remove(filepath.Join(d.Dir, "libvirtd.pid"))
}

// Restart stops libvirtd (running guests keep running, as after a crash or an upgrade of the
// daemon) and starts it again on the same state directory and socket. The test driver's
// domains are lost (test:///default lives in memory); persistent QEMU domains and their
// metadata survive.
func (d *Daemon) Restart() error {
	d.stopDaemon()
	return d.launch()
}

// destroyGuests destroys every running QEMU domain (they would outlive libvirtd).
func (d *Daemon) destroyGuests() []string {
	var destroyed []string
	l, err := d.dial(libvirt.QEMUSystem)
	if err != nil {
		return nil
	}
	defer func() { _ = l.Disconnect() }()
	doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		return nil
	}
	for _, dom := range doms {
		if err := l.DomainDestroy(dom); err == nil {
			destroyed = append(destroyed, dom.Name)
		}
	}
	return destroyed
}

// killLeftoverQEMU sends SIGTERM (then SIGKILL) to every QEMU named in the daemon's pid files
// (<state>/run/libvirt/qemu/<domain>.pid; driver.pid there is libvirtd's own PID).
func killLeftoverQEMU(dir string) []int {
	files, _ := filepath.Glob(filepath.Join(dir, "run", "libvirt", "qemu", "*.pid"))
	var killed []int
	for _, f := range files {
		if filepath.Base(f) == "driver.pid" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 || !processAlive(pid) || !strings.Contains(processCmdline(pid), "qemu-system") {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		killed = append(killed, pid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range killed {
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return killed
}

// Stop destroys running guests, stops libvirtd by PID, terminates any QEMU left over (from its
// pid files), and removes the state and socket directories (kept when RESCUE_LIBVIRTD_KEEP=1,
// for debugging). It returns a short report of what it did.
func (d *Daemon) Stop() string {
	var report []string
	if d.alive() {
		if g := d.destroyGuests(); len(g) > 0 {
			report = append(report, "destroyed running guests "+strings.Join(g, ", "))
		}
	}
	pid := d.PID()
	d.stopDaemon()
	if pid != 0 {
		report = append(report, fmt.Sprintf("stopped libvirtd (tini pid %d)", pid))
	}
	if k := killLeftoverQEMU(d.Dir); len(k) > 0 {
		report = append(report, fmt.Sprintf("terminated leftover QEMU pids %v", k))
	}
	if os.Getenv("RESCUE_LIBVIRTD_KEEP") == "1" {
		report = append(report, "kept state dir "+d.Dir+" (RESCUE_LIBVIRTD_KEEP=1)")
	} else if err := d.removeDirs(); err != nil {
		report = append(report, err.Error())
	} else {
		report = append(report, "removed "+d.Dir)
	}
	return strings.Join(report, "; ")
}

func (d *Daemon) removeDirs() error {
	var errs []error
	if d.SockDir != "" && !strings.HasPrefix(d.SockDir, d.Dir+"/") {
		errs = append(errs, os.RemoveAll(d.SockDir))
	}
	errs = append(errs, os.RemoveAll(d.Dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

// Load returns the daemon whose state directory is dir (started with Detach by another
// process), so that it can be used or stopped.
func Load(dir string) (*Daemon, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	sd, err := os.ReadFile(filepath.Join(dir, "sockdir"))
	if err != nil {
		return nil, fmt.Errorf("not a libvirtd state dir: %w", err)
	}
	d := &Daemon{
		Dir:       dir,
		SockDir:   strings.TrimSpace(string(sd)),
		ImagesDir: filepath.Join(dir, "images"),
		DisksDir:  filepath.Join(dir, "run-disks"),
		DbgDir:    filepath.Join(dir, "dbg"),
		detach:    true,
	}
	d.setURIs()
	if b, err := os.ReadFile(filepath.Join(dir, "libvirtd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && processAlive(pid) &&
			strings.Contains(processCmdline(pid), "tini") {
			d.pid = pid
		}
	}
	return d, nil
}

// Sweep stops and removes the daemons of state directories under the temporary directory
// whose owning test binary has died (for example killed by `go test -timeout`): their
// libvirtd got SIGTERM through Pdeathsig, but their guests and files would remain.
func Sweep() []string {
	dirs, _ := filepath.Glob(filepath.Join(tempBase(), "lvd-*"))
	var out []string
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // detached (demo) or not ours
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner == os.Getpid() || processAlive(owner) {
			continue
		}
		d, err := Load(dir)
		if err != nil {
			continue
		}
		d.detach = true
		out = append(out, d.Stop())
	}
	return out
}
