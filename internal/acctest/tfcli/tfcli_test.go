package tfcli_test

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/tfcli"
)

func TestMain(m *testing.M) {
	code := m.Run()
	tfcli.Cleanup()
	os.Exit(code)
}

// silentLibvirt accepts connections on 127.0.0.1 and never answers: a plan against it hangs in
// the provider until its timeout, long enough to kill the provider process.
func silentLibvirt(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestValidateUsesTheBuiltProvider(t *testing.T) {
	w := tfcli.NewWorkspace(t)
	w.Write(`resource "rescue_instance" "t" {
  instance_id = "web"
  device      = "cdrom"
  bus         = "virtio"
}
`)
	r := w.Run("validate")
	if r.OK() || !strings.Contains(r.Output, "Device and bus do not fit") {
		t.Fatalf("want the provider's validation error, got:\n%s", r)
	}
}

func TestKillProviderEndsTheRun(t *testing.T) {
	addr := silentLibvirt(t)
	w := tfcli.NewWorkspace(t)
	w.Write(`provider "rescue" {
  libvirt { uri = "qemu+tcp://` + addr + `/system" }
}
resource "rescue_instance" "t" {
  instance_id = "web"
}
`)
	p := w.Start("plan")
	pids := p.KillProvider()
	r := p.Wait()
	if r.OK() {
		t.Fatalf("plan succeeded although its provider %v was killed:\n%s", pids, r)
	}
	if len(p.ProviderPIDs()) != 0 {
		t.Fatalf("provider processes left: %v", p.ProviderPIDs())
	}
	if r.Took > 2*time.Minute {
		t.Fatalf("plan took %s after the kill", r.Took)
	}
	t.Logf("killed provider %v; terraform exited %d after %s", pids, r.ExitCode, r.Took.Round(time.Millisecond))
}

func TestKillTerraformTakesItsProvider(t *testing.T) {
	addr := silentLibvirt(t)
	w := tfcli.NewWorkspace(t)
	w.Write(`provider "rescue" {
  libvirt { uri = "qemu+tcp://` + addr + `/system" }
}
resource "rescue_instance" "t" {
  instance_id = "web"
}
`)
	p := w.Start("plan")
	if !p.WaitFor(60*time.Second, func() bool { return len(p.ProviderPIDs()) > 0 }) {
		t.Fatalf("no provider process:\n%s", p.Output())
	}
	p.KillTerraform()
	r := p.Wait()
	if r.OK() {
		t.Fatalf("killed terraform exited 0:\n%s", r)
	}
	if left := p.ProviderPIDs(); len(left) != 0 {
		t.Fatalf("provider processes left after the command: %v", left)
	}
}
