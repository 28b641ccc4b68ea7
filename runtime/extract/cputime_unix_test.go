//go:build unix

package extract

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the user+system CPU time of the process so far. Benchmarks
// report it per op ("cpu-µs/op") because wall time on a shared 2-core
// machine mostly measures the other tenants.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N)/1e3, "cpu-µs/op")
}
