// Command novasim-up starts the harness's real Nova (Nova's own code, novasim.py) for demos and
// benchmarks outside `go test`, and acts on it with the noauth2 admin token.
//
//	novasim-up up -dir DIR [-env K=V]...   start in the background; prints shell assignments
//	                                      NOVA_PID, COMPUTE_URL, IMAGE_URL, NOVA_LOG
//	novasim-up server-create -compute URL -name NAME [-meta k=v]...   boot, wait ACTIVE, print the id
//	novasim-up server-show -compute URL ID   print "status task_state"
//	novasim-up server-delete -compute URL ID
//	novasim-up down -pid PID               SIGTERM, SIGKILL after 10 s, wait for the exit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
)

type kvs map[string]string

func (m kvs) String() string { return fmt.Sprint(map[string]string(m)) }

func (m kvs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	m[k] = v
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: novasim-up up|server-create|server-show|server-delete|down ...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "novasim-up:", err)
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	dir := fs.String("dir", "", "state directory")
	compute := fs.String("compute", "", "compute URL (http://127.0.0.1:P/v2.1/)")
	name := fs.String("name", "demo", "server name")
	pid := fs.Int("pid", 0, "novasim pid")
	env, meta := kvs{}, kvs{}
	fs.Var(env, "env", "K=V for the novasim process (repeatable)")
	fs.Var(meta, "meta", "k=v server metadata (repeatable)")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	switch cmd {
	case "up":
		if *dir == "" {
			return errors.New("up needs -dir")
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", *dir, err)
		}
		var e []string
		for k, v := range env {
			e = append(e, k+"="+v)
		}
		p, err := acctest.StartNova(ctx, acctest.NovaOptions{Dir: *dir, Env: e, Detach: true})
		if err != nil {
			return err
		}
		fmt.Printf("NOVA_PID=%d\nCOMPUTE_URL=%s\nIMAGE_URL=%s\nNOVA_LOG=%s\n", p.PID, p.ComputeURL, p.ImageURL, p.LogFile)
		return nil
	case "down":
		return down(*pid)
	}

	if *compute == "" {
		return fmt.Errorf("%s needs -compute", cmd)
	}
	c := client(*compute)
	switch cmd {
	case "server-create":
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: *name, ImageRef: acctest.PlainImageID,
			FlavorRef: "1", Networks: "none", Metadata: meta}, nil).Extract()
		if err != nil {
			return fmt.Errorf("create server: %w", err)
		}
		if err := servers.WaitForStatus(ctx, c, s.ID, "ACTIVE"); err != nil {
			return fmt.Errorf("wait for ACTIVE: %w", err)
		}
		fmt.Println(s.ID)
	case "server-show":
		s, err := servers.Get(ctx, c, fs.Arg(0)).Extract()
		if err != nil {
			return fmt.Errorf("get server: %w", err)
		}
		task := s.TaskState
		if task == "" {
			task = "-"
		}
		fmt.Printf("%s %s\n", s.Status, task)
	case "server-delete":
		if err := servers.Delete(ctx, c, fs.Arg(0)).ExtractErr(); err != nil {
			return fmt.Errorf("delete server: %w", err)
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func client(url string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: time.Minute}}
	pc.SetToken(acctest.NoAuthToken)
	c := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: strings.TrimRight(url, "/") + "/", Type: "compute"}
	c.ResourceBase = c.Endpoint
	c.Microversion = acctest.HarnessMicroversion
	return c
}

// down stops a detached novasim (not our child): SIGTERM, then SIGKILL after 10 s.
func down(pid int) error {
	if pid <= 0 {
		return errors.New("down needs -pid")
	}
	alive := func() bool {
		// A zombie (exited, not yet reaped by its new parent) counts as stopped.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return false
			}
		}
		return syscall.Kill(pid, 0) == nil
	}
	if !alive() {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %d: %w", pid, err)
	}
	for i := 0; i < 100 && alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if alive() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 50 && alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if alive() {
		return fmt.Errorf("pid %d still alive", pid)
	}
	return nil
}
