package bench_test

// Helpers the fleet benchmarks share (Nova: fleet_test.go, libvirt: libvirt_fleet_test.go):
// the Terraform CLI and the provider binary, a workspace that runs that binary, Terraform's
// -json messages, the provider's peak RSS, percentiles and ratios.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchSizes returns the sizes listed in the environment variable env (default def), sorted.
func benchSizes(b *testing.B, env, def string) []int {
	spec := os.Getenv(env)
	if spec == "" {
		spec = def
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a comma-separated list of positive sizes", env, spec)
		}
		sizes = append(sizes, v)
	}
	sort.Ints(sizes)
	return sizes
}

// measureAll measures every size with every poller (the benchmark's timed part) and returns
// the rows; each row is also printed as it comes, in case the run is cut short.
func measureAll[R fmt.Stringer](b *testing.B, sizes []int, measure func(size int, poller, env string) (R, error)) []R {
	var rows []R
	b.ResetTimer()
	for _, size := range sizes {
		for _, p := range pollers {
			row, err := measure(size, p.name, p.env)
			if err != nil {
				b.Fatalf("N=%d, %s poller: %v", size, p.name, err)
			}
			rows = append(rows, row)
			fmt.Fprintf(os.Stderr, "bench: %s\n", row)
		}
	}
	b.StopTimer()
	return rows
}

func terraformPath(b *testing.B) string {
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		b.Fatal("bench: no Terraform CLI: set TF_ACC_TERRAFORM_PATH (scripts/install-deps.sh installs one)")
	}
	return p
}

// buildProvider builds the provider of this repository (three levels up) into a temporary
// directory and returns the binary's path.
func buildProvider(b *testing.B) string {
	dir := b.TempDir()
	bin := filepath.Join(dir, "terraform-provider-rescue")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the provider: %v\n%s", err, out)
	}
	return bin
}

// newWorkspace makes a temporary Terraform working directory (prefix names it) with main.tf
// cfg and a .terraformrc whose dev_overrides point rescue-labs/rescue at the provider binary bin.
func newWorkspace(prefix, bin, cfg string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"rescue-labs/rescue\" = %q\n  }\n  direct {}\n}\n",
		filepath.Dir(bin))
	if err := os.WriteFile(filepath.Join(dir, ".terraformrc"), []byte(rc), 0o600); err != nil {
		return dir, err
	}
	return dir, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg), 0o600)
}

// runTerraform runs `tf <cmd> -auto-approve -json -parallelism=n` in dir (a newWorkspace) with
// the extra environment env and returns when each resource was done (by its for_each key, from
// the apply_complete messages), the wall time, and the peak RSS (VmHWM, KiB) of the provider
// processes running bin.
func runTerraform(tf, bin, dir string, env []string, cmd string, n int) (map[string]time.Time, time.Duration, int64, error) {
	c := exec.Command(tf, cmd, "-auto-approve", "-json", "-no-color", "-parallelism="+strconv.Itoa(n))
	c.Dir = dir
	c.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(dir, ".terraformrc"), "TF_IN_AUTOMATION=1",
		"CHECKPOINT_DISABLE=1", "TF_INPUT=0")
	c.Env = append(c.Env, env...)
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, 0, 0, err
	}
	c.Stderr = c.Stdout
	start := time.Now()
	if err := c.Start(); err != nil {
		return nil, 0, 0, err
	}
	stop := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); peak = watchRSS(bin, stop) }()
	done, tail := readJSONLog(out)
	err = c.Wait()
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, took, peak, fmt.Errorf("terraform %s: %w:\n%s", cmd, err, strings.Join(tail, "\n"))
	}
	return done, took, peak, nil
}

// readJSONLog reads Terraform's -json messages: when each resource's apply completed (by its
// for_each key, the instance id), and the last messages (for an error).
func readJSONLog(out interface{ Read([]byte) (int, error) }) (map[string]time.Time, []string) {
	done := map[string]time.Time{}
	var tail []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Message   string `json:"@message"`
			Timestamp string `json:"@timestamp"`
			Type      string `json:"type"`
			Diag      struct {
				Detail string `json:"detail"`
			} `json:"diagnostic"`
			Hook struct {
				Resource struct {
					Key any `json:"resource_key"`
				} `json:"resource"`
			} `json:"hook"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		tail = append(tail, m.Message)
		if m.Diag.Detail != "" {
			tail = append(tail, "  "+m.Diag.Detail)
		}
		if len(tail) > 20 {
			tail = tail[1:]
		}
		if m.Type != "apply_complete" {
			continue
		}
		key, _ := m.Hook.Resource.Key.(string)
		if at, err := time.Parse(time.RFC3339Nano, m.Timestamp); err == nil && key != "" {
			done[key] = at
		}
	}
	return done, tail
}

// watchRSS polls the peak RSS (VmHWM) of the provider processes running bin every 50 ms until
// stop is closed and returns the largest seen, in KiB.
func watchRSS(bin string, stop <-chan struct{}) int64 {
	var peak int64
	for {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || exe != bin {
				continue
			}
			peak = max(peak, vmHWM(filepath.Join("/proc", e.Name(), "status")))
		}
		select {
		case <-stop:
			return peak
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}

// percentiles returns the p50 and p95 of lags (nearest rank; lags is sorted in place).
func percentiles(lags []time.Duration) (p50, p95 time.Duration) {
	if len(lags) == 0 {
		return 0, 0
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pick := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1)+0.5)] }
	return pick(0.5), pick(0.95)
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
