package oprecord

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// errLocked says another open file description holds the lock.
var errLocked = errors.New("locked")

// On Linux the lease is an open file description lock (F_OFD_SETLK, Linux 3.15+): like
// flock(2) it belongs to the open file, so two operations of one process conflict as two
// processes do, and the kernel drops it when the file's last descriptor closes, which
// includes the death of the process. Unlike flock, F_OFD_GETLK can tell whether someone holds
// it without taking it (Peek).
func wholeFile(typ int16) *unix.Flock_t {
	return &unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: 0, Len: 0}
}

// tryLock takes the exclusive lock without waiting.
func tryLock(f *os.File) error {
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, wholeFile(unix.F_WRLCK))
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return errLocked
	}
	return err
}

// lockedByOther reports whether another open file description holds the lock.
func lockedByOther(f *os.File) (bool, error) {
	lk := wholeFile(unix.F_WRLCK)
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}
