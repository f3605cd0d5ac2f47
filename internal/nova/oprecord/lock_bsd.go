//go:build unix && !linux

package oprecord

import (
	"errors"
	"os"
	"syscall"
)

// errLocked says another open file description holds the lock.
var errLocked = errors.New("locked")

// tryLock takes an exclusive flock(2) without waiting; the kernel drops it when the file's
// last descriptor closes, which includes the death of the process.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// lockedByOther cannot be told without taking the lock here.
func lockedByOther(*os.File) (bool, error) {
	return false, errors.New("cannot test the lock without taking it on this system")
}
