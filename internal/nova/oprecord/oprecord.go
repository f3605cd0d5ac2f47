// Package oprecord keeps a small local record of each rescue or unrescue the provider has in
// flight, one file per instance, so that a later run can tell a rescue started by a run of
// this working directory that died (SIGKILL of the provider or of terraform) from a rescue
// made by someone else, and a live run of another process from a dead one.
//
// Nova has nothing the provider may write for this (server metadata and tags would show as
// drift in terraform-provider-openstack), so the record lives on the machine that runs
// Terraform, in the Terraform working directory's data directory (see Dir).
//
// Liveness is a lease the kernel keeps for the live process: the process that runs the
// operation holds an exclusive lock on the record file (an open file description lock on
// Linux, flock(2) elsewhere) for as long as the operation runs.
// When the process ends in any way (SIGKILL included) the kernel drops the lock, so a record
// that can be locked belongs to a dead (or finished) run and a record that cannot is live.
// There is no pid to be reused and no clock to trust. The record holds no secret.
package oprecord

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EnvDir names the environment variable that sets the directory of the records.
const EnvDir = "RESCUE_OPERATIONS_DIR"

// Version of the record format.
const Version = 1

// Phases of a record. They are informational: liveness is the lock, proof is the backend's.
const (
	PhaseStarting = "starting" // written before the action's request is sent
	PhaseAccepted = "accepted" // the backend answered the request (RequestID is set)
	PhaseEnded    = "ended"    // the operation's context ended (returned, failed or timed out)
)

// Record is what one operation leaves on disk. It holds no secret.
type Record struct {
	Version int `json:"version"`
	// Op is a random id of this operation.
	Op string `json:"op"`
	// Kind is "rescue" or "unrescue".
	Kind string `json:"kind"`
	// InstanceID is the instance acted on.
	InstanceID string `json:"instance_id"`
	// Endpoint identifies the cloud (the compute endpoint).
	Endpoint string `json:"endpoint"`
	// Workspace is the Terraform workspace of the run.
	Workspace string `json:"workspace"`
	// UserID and ProjectID are the identity of the credentials, when known.
	UserID    string `json:"user_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	// Started is when the record was written, before the request was sent.
	Started time.Time `json:"started"`
	// Timeout is the operation's time limit (its context deadline minus Started).
	Timeout time.Duration `json:"timeout"`
	// RequestID is the backend's id of the accepted request (Nova's x-openstack-request-id).
	RequestID string `json:"request_id,omitempty"`
	// Phase is PhaseStarting, PhaseAccepted or PhaseEnded.
	Phase string `json:"phase"`
	// Updated is when the record was last written.
	Updated time.Time `json:"updated"`
	// Host and PID name the process that ran the operation (for messages).
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

// InProgressError says another live process (or another resource of this run) holds the
// instance's record: its operation is still running.
type InProgressError struct {
	// InstanceID is the instance concerned.
	InstanceID string
	// Other is the live record, or nil when it could not be read.
	Other *Record
	// Path is the record file.
	Path string
}

func (e *InProgressError) Error() string {
	if e.Other == nil {
		return fmt.Sprintf("an operation on instance %s is in progress by another run (its record %s is locked)",
			e.InstanceID, e.Path)
	}
	o := e.Other
	return fmt.Sprintf("a %s of instance %s is in progress by another run since %s (process %d on %s, "+
		"workspace %q, record %s)", o.Kind, e.InstanceID, o.Started.UTC().Format(time.RFC3339), o.PID, o.Host,
		o.Workspace, e.Path)
}

// Store is a directory of records.
type Store struct {
	dir string
}

// Dir returns the records' directory for a provider process: $RESCUE_OPERATIONS_DIR when
// set, else "rescue-operations" in Terraform's data directory ($TF_DATA_DIR, default
// ".terraform"), relative to the process's working directory, which Terraform sets to the
// working directory of the run (also with -chdir).
func Dir(getenv func(string) string) string {
	if d := getenv(EnvDir); d != "" {
		return d
	}
	data := getenv("TF_DATA_DIR")
	if data == "" {
		data = ".terraform"
	}
	return filepath.Join(data, "rescue-operations")
}

// Workspace returns the Terraform workspace of the run: $TF_WORKSPACE, else the name Terraform
// keeps in its data directory's "environment" file, else "default".
func Workspace(getenv func(string) string) string {
	if w := getenv("TF_WORKSPACE"); w != "" {
		return w
	}
	data := getenv("TF_DATA_DIR")
	if data == "" {
		data = ".terraform"
	}
	if b, err := os.ReadFile(filepath.Join(data, "environment")); err == nil {
		if w := strings.TrimSpace(string(b)); w != "" {
			return w
		}
	}
	return "default"
}

// Open returns the store in dir; the directory is made (0700) on first use.
func Open(dir string) *Store { return &Store{dir: dir} }

// Path is the record file of an instance.
func (s *Store) Path(instanceID string) string {
	return filepath.Join(s.dir, safeName(instanceID)+".json")
}

func safeName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "%%%02x", r)
		}
	}
	return b.String()
}

// Lock is an exclusive hold on an instance's record file: while it is held, the record is
// live. It is safe for concurrent use.
type Lock struct {
	mu   sync.Mutex
	f    *os.File
	path string
	// Prev is the record found when the lock was taken: left by a run that ended (or died),
	// nil when there was none or it could not be read.
	Prev *Record
	// cur is what this operation wrote, nil before Write.
	cur *Record
}

// Acquire takes the instance's record without waiting. A record held by another live
// process (or by another operation of this process) is an *InProgressError.
func (s *Store) Acquire(instanceID string) (*Lock, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the operations directory %s: %w", s.dir, err)
	}
	p := s.Path(instanceID)
	for range 10 {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open the operation record %s: %w", p, err)
		}
		if err := tryLock(f); err != nil {
			_ = f.Close()
			if errors.Is(err, errLocked) {
				return nil, &InProgressError{InstanceID: instanceID, Other: readLive(p), Path: p}
			}
			return nil, fmt.Errorf("lock the operation record %s: %w", p, err)
		}
		// A record removed (and perhaps made again) between open and flock: take the new one.
		if !samePath(f, p) {
			_ = f.Close()
			continue
		}
		l := &Lock{f: f, path: p}
		l.Prev = readFrom(f)
		return l, nil
	}
	return nil, fmt.Errorf("lock the operation record %s: it keeps being replaced", p)
}

func samePath(f *os.File, p string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(p)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// readLive reads a record held by a live process; the holder may be writing it, so an
// unreadable read is tried again briefly.
func readLive(p string) *Record {
	for range 5 {
		if b, err := os.ReadFile(p); err == nil {
			if r := parse(b); r != nil {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func readFrom(f *os.File) *Record {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return nil
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil
	}
	return parse(b)
}

func parse(b []byte) *Record {
	var r Record
	if len(b) == 0 || json.Unmarshal(b, &r) != nil || r.Version != Version || r.InstanceID == "" {
		return nil
	}
	return &r
}

// Peek returns the instance's record when a live operation (of another process, or another
// open of this one) holds it, without taking it: nil when there is none or it is not held.
func (s *Store) Peek(instanceID string) (*Record, bool) {
	p := s.Path(instanceID)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	held, err := lockedByOther(f)
	if err != nil || !held {
		return nil, false
	}
	return readLive(p), true
}

// NewOp returns a random operation id.
func NewOp() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Write replaces the record's content with r (Version, Updated, Host and PID are filled in).
func (l *Lock) Write(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(r)
}

func (l *Lock) write(r Record) error {
	if l.f == nil {
		return errors.New("operation record already released")
	}
	r.Version = Version
	r.Updated = time.Now().UTC()
	if r.Host == "" {
		r.Host, _ = os.Hostname()
	}
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// One write over the old content, padded with spaces to its length and never truncated:
	// a process killed at any point (for example by SIGPIPE when Terraform died, while another
	// goroutine writes) leaves the old record or the new one, never an empty or torn file.
	if st, err := l.f.Stat(); err == nil && st.Size() > int64(len(b)) {
		b = append(b, bytes.Repeat([]byte{' '}, int(st.Size())-len(b))...)
	}
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write the operation record %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync the operation record %s: %w", l.path, err)
	}
	l.cur = &r
	return nil
}

// Current is a copy of what this operation wrote last, nil before Write.
func (l *Lock) Current() *Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return nil
	}
	r := *l.cur
	return &r
}

// Update changes the written record with f and writes it again.
func (l *Lock) Update(f func(*Record)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.update(f)
}

func (l *Lock) update(f func(*Record)) error {
	if l.cur == nil {
		return errors.New("no record written")
	}
	r := *l.cur
	f(&r)
	return l.write(r)
}

// Release ends the hold: the record stays on disk (marked ended when one was written), so
// that a later run can still prove the operation was this working directory's. A file that
// Acquire made and nothing was written to is removed.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if l.cur == nil && l.Prev == nil {
		return l.remove()
	}
	var err error
	if l.cur != nil {
		err = l.update(func(r *Record) { r.Phase = PhaseEnded })
	}
	return errors.Join(err, l.close())
}

// Remove deletes the record file (while it is still held) and ends the hold.
func (l *Lock) Remove() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remove()
}

func (l *Lock) remove() error {
	if l.f == nil {
		return nil
	}
	err := os.Remove(l.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, l.close())
}

func (l *Lock) close() error {
	f := l.f
	l.f = nil
	// Closing the last descriptor drops the flock.
	return f.Close()
}
