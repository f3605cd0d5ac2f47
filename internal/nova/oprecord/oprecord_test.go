package oprecord

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDirAndWorkspace(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if d := Dir(env(nil)); d != filepath.Join(".terraform", "rescue-operations") {
		t.Fatalf("default dir %q", d)
	}
	if d := Dir(env(map[string]string{"TF_DATA_DIR": "/x/data"})); d != "/x/data/rescue-operations" {
		t.Fatalf("TF_DATA_DIR dir %q", d)
	}
	if d := Dir(env(map[string]string{"TF_DATA_DIR": "/x", EnvDir: "/y"})); d != "/y" {
		t.Fatalf("%s dir %q", EnvDir, d)
	}
	data := t.TempDir()
	if w := Workspace(env(map[string]string{"TF_DATA_DIR": data})); w != "default" {
		t.Fatalf("workspace %q", w)
	}
	if err := os.WriteFile(filepath.Join(data, "environment"), []byte("blue"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := Workspace(env(map[string]string{"TF_DATA_DIR": data})); w != "blue" {
		t.Fatalf("workspace from file %q", w)
	}
	if w := Workspace(env(map[string]string{"TF_DATA_DIR": data, "TF_WORKSPACE": "green"})); w != "green" {
		t.Fatalf("TF_WORKSPACE %q", w)
	}
}

func TestAcquireWriteRelease(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "ops"))
	l, err := s.Acquire("srv-1")
	if err != nil {
		t.Fatal(err)
	}
	if l.Prev != nil {
		t.Fatalf("prev %+v", l.Prev)
	}
	// A second operation on the same instance, even in this process, is in progress.
	if _, err := s.Acquire("srv-1"); err == nil {
		t.Fatal("second acquire succeeded")
	} else {
		var ip *InProgressError
		if !errors.As(err, &ip) || ip.Other != nil {
			t.Fatalf("second acquire before write: %v", err)
		}
	}
	started := time.Now().UTC().Truncate(time.Second)
	if err := l.Write(Record{Op: "op1", Kind: "rescue", InstanceID: "srv-1", Started: started, Phase: PhaseStarting}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire("srv-1")
	var ip *InProgressError
	if !errors.As(err, &ip) || ip.Other == nil || ip.Other.Op != "op1" || !strings.Contains(err.Error(), "in progress by another run since "+started.Format(time.RFC3339)) {
		t.Fatalf("acquire of a live record: %v", err)
	}
	st, err := os.Stat(s.Path("srv-1"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("record mode: %v %v", st, err)
	}
	if r, live := s.Peek("srv-1"); !live || r == nil || r.Op != "op1" {
		t.Fatalf("peek of a held record: %+v %v", r, live)
	}
	if err := l.Update(func(r *Record) { r.RequestID = strings.Repeat("x", 500) }); err != nil {
		t.Fatal(err)
	}
	// A shorter record over a longer one: never truncated, padded, and still one record.
	if err := l.Update(func(r *Record) { r.RequestID = "req-1"; r.Phase = PhaseAccepted }); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.Path("srv-1")); err != nil || parse(b) == nil || parse(b).RequestID != "req-1" {
		t.Fatalf("record after a shorter write: %q %v", b, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if r, live := s.Peek("srv-1"); live || r != nil {
		t.Fatalf("peek of a released record: %+v %v", r, live)
	}
	l2, err := s.Acquire("srv-1")
	if err != nil {
		t.Fatal(err)
	}
	if l2.Prev == nil || l2.Prev.Op != "op1" || l2.Prev.RequestID != "req-1" || l2.Prev.Phase != PhaseEnded || l2.Prev.PID != os.Getpid() {
		t.Fatalf("prev after release: %+v", l2.Prev)
	}
	if err := l2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path("srv-1")); !os.IsNotExist(err) {
		t.Fatalf("record not removed: %v", err)
	}
	// Acquire and release without writing leaves nothing behind.
	l3, err := s.Acquire("srv-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := l3.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path("srv-2")); !os.IsNotExist(err) {
		t.Fatalf("empty record left: %v", err)
	}
}

// TestHelperHolder is not a test: run by TestSIGKILLReleasesTheLease as a separate process, it
// takes a record, writes it and waits to be killed.
func TestHelperHolder(t *testing.T) {
	dir := os.Getenv("OPRECORD_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	l, err := Open(dir).Acquire("srv-k")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(Record{Op: "killed", Kind: "rescue", InstanceID: "srv-k", Started: time.Now(), Phase: PhaseStarting}); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
	time.Sleep(time.Minute)
}

// TestSIGKILLReleasesTheLease: a record held by a live process is in progress; once that
// process is killed with SIGKILL, the record is free and tells what the dead run did.
func TestSIGKILLReleasesTheLease(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "OPRECORD_HELPER_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper did not take the record")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := Open(dir)
	_, err := s.Acquire("srv-k")
	var ip *InProgressError
	if !errors.As(err, &ip) || ip.Other == nil || ip.Other.PID != cmd.Process.Pid {
		t.Fatalf("live holder: %v", err)
	}
	if r, live := s.Peek("srv-k"); !live || r == nil || r.Op != "killed" {
		t.Fatalf("peek of the live holder's record: %+v %v", r, live)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- nil
	if _, live := s.Peek("srv-k"); live {
		t.Fatal("record still live after SIGKILL of its holder")
	}
	l, err := s.Acquire("srv-k")
	if err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	defer func() { _ = l.Release() }()
	if l.Prev == nil || l.Prev.Op != "killed" || l.Prev.Phase != PhaseStarting {
		t.Fatalf("prev of the killed run: %+v", l.Prev)
	}
}
