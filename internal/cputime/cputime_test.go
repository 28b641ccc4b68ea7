package cputime

import (
	"runtime"
	"testing"
	"time"
)

// Spinning for 50 ms of wall time adds CPU time (where the system can
// say): at least some, and not more than the cores could give.
func TestProcessGrowsWithWork(t *testing.T) {
	before := Process()
	if before == 0 && runtime.GOOS == "linux" {
		t.Fatal("no CPU time on linux")
	}
	start := time.Now()
	x := 0
	for time.Since(start) < 50*time.Millisecond {
		x++
	}
	used := Process() - before
	if runtime.GOOS == "linux" && (used <= 0 || used > time.Duration(runtime.NumCPU())*time.Since(start)+100*time.Millisecond) {
		t.Errorf("spinning %v used %v of CPU (x=%d)", time.Since(start), used, x)
	}
}
