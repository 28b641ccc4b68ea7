//go:build !unix

package diskq

// dirLock on systems without flock(2) relies on bbolt's own file lock: a
// second opener is refused by bbolt's lock timeout, without the holder's pid.
type dirLock struct{}

func lockDir(dir string) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) unlock() {}
