package libvirt

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// A lease is dead when expired, or at once when its process on this host is gone (exited,
// a zombie, or its pid now belongs to a newer process); within one process when its operation
// no longer runs. Elsewhere only the expiry counts.
func TestLeaseAlive(t *testing.T) {
	now := time.Now()
	me := self()
	if me.boot == "" || me.ns == "" || me.started == "" {
		t.Fatalf("no process identity from /proc: %+v", me)
	}
	future, past := now.Add(time.Minute).Format(time.RFC3339Nano), now.Add(-time.Second).Format(time.RFC3339Nano)
	owner := func(pid int, start, until string) *journalOwner {
		return &journalOwner{Op: "op-" + strconv.Itoa(pid), Kind: "rescue", PID: pid, Host: me.host, Boot: me.boot, PIDNS: me.ns, PIDStart: start, Until: until}
	}

	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	childStart, alive, known := procStart(child.Process.Pid)
	if !alive || !known {
		t.Fatalf("procStart of a running child: %v %v", alive, known)
	}

	mine := owner(me.pid, me.started, past)
	liveOps.Store(mine.Op, struct{}{})
	for _, c := range []struct {
		name string
		o    *journalOwner
		want bool
	}{
		{"no owner", nil, false},
		{"this process, operation running (expiry does not matter)", mine, true},
		{"this process, operation ended", &journalOwner{Op: "ended", PID: me.pid, Host: me.host, Boot: me.boot, PIDNS: me.ns, PIDStart: me.started, Until: future}, false},
		{"another process on this host, alive", owner(child.Process.Pid, childStart, future), true},
		{"another process on this host, alive but expired", owner(child.Process.Pid, childStart, past), false},
		{"pid reused by a newer process", owner(child.Process.Pid, childStart+"0", future), false},
		{"other host, not expired", &journalOwner{Op: "x", PID: 1, Host: "elsewhere", Boot: "b", PIDNS: "n", Until: future}, true},
		{"other host, expired", &journalOwner{Op: "x", PID: 1, Host: "elsewhere", Boot: "b", PIDNS: "n", Until: past}, false},
		{"other pid namespace (a container): only the expiry", &journalOwner{Op: "x", PID: 999999, Host: me.host, Boot: me.boot, PIDNS: "pid:[1]", Until: future}, true},
		{"no valid expiry", &journalOwner{Op: "x", Host: "elsewhere", Until: "soon"}, false},
	} {
		if got, why := leaseAlive(c.o, now); got != c.want {
			t.Errorf("%s: alive %v (%s), want %v", c.name, got, why, c.want)
		}
	}
	liveOps.Delete(mine.Op)

	// Killed: a zombie until reaped, then gone; dead at once either way.
	o := owner(child.Process.Pid, childStart, future)
	_ = child.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if alive, why := leaseAlive(o, time.Now()); !alive {
			t.Logf("killed child (not reaped): %s", why)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease of a killed process stayed alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = child.Wait()
	if alive, why := leaseAlive(o, time.Now()); alive {
		t.Errorf("the lease of a reaped process is alive")
	} else {
		t.Logf("reaped child: %s", why)
	}
}
