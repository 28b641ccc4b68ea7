//go:build unix

package diskq

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock is an exclusive flock(2) on DIR/lock. The kernel releases it when
// the process dies, however it dies, so a stale lock file never blocks a
// resume; the pid written into it only names the holder in the refusal.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jobdir %s: open lock file: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := readPID(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("jobdir %s: lock: %w", dir, err)
	}
	// Written after the lock is held, so a reader that sees a pid knows it
	// is the current holder's (or the last one's, if the file is unlocked).
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	return pid
}

func (l *dirLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	// Closing the descriptor releases the flock; the file stays so that a
	// concurrent opener never locks a file that is about to be unlinked.
	_ = l.f.Close()
	l.f = nil
}
