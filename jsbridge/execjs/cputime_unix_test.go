//go:build unix

package execjs_test

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of the whole process. Benchmarks
// report it per op next to wall time because the development machine is
// shared: wall time there measures the neighbours as much as the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
