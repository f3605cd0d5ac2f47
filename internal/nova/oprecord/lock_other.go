//go:build !unix

package oprecord

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// tryLock: without flock(2) there is no lease that survives the process's death; records are
// not kept on this system (Acquire fails, and callers run without them).
func tryLock(*os.File) error {
	return errors.New("operation records need flock(2), which this system lacks")
}
