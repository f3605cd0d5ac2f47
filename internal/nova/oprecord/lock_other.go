//go:build !unix

package oprecord

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// tryLock: without file locks there is no lease that ends with the process; records are not
// kept on this system (Acquire fails, and callers run without them).
func tryLock(*os.File) error {
	return errors.New("operation records need file locks, which this system lacks")
}

func lockedByOther(*os.File) (bool, error) { return false, errors.New("no file locks") }
