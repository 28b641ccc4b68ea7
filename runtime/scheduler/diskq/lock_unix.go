//go:build unix

package diskq

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// held names the directories this process has locked. flock(2) locks belong
// to an open file description, and a child forked by another goroutine holds
// a copy of every descriptor until it execs, so right after Close the lock
// can still look taken by our own pid. A directory this process does not
// hold, whose lock names our pid, is such a transient copy: Open waits for
// it (forkHoldWait at most) instead of refusing.
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

const forkHoldWait = 2 * time.Second

// dirLock is an exclusive flock(2) on DIR/lock. The kernel releases it when
// the process dies, however it dies, so a stale lock file never blocks a
// resume; the pid written into it only names the holder in the refusal.
type dirLock struct {
	f   *os.File
	key string // entry in held
}

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	key, err := filepath.Abs(path)
	if err != nil {
		key = path
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[key] {
		return nil, &InUseError{Dir: dir, PID: os.Getpid()}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jobdir %s: open lock file: %w", dir, err)
	}
	deadline := time.Now().Add(forkHoldWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		pid := readPID(f)
		if errors.Is(err, syscall.EWOULDBLOCK) && pid == os.Getpid() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("jobdir %s: lock: %w", dir, err)
	}
	held[key] = true
	// Written after the lock is held, so a reader that sees a pid knows it
	// is the current holder's (or the last one's, if the file is unlocked).
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f, key: key}, nil
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
	heldMu.Lock()
	delete(held, l.key)
	heldMu.Unlock()
	_ = l.f.Close()
	l.f = nil
}
