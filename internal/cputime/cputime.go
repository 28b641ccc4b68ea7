// Package cputime reads the CPU time the process has used, for benchmarks
// that report it per operation: the development machine and CI are
// shared, so wall time there measures the neighbours as much as the code.
package cputime

import "time"

// Process is the user+system CPU time of the whole process so far (every
// goroutine, the collector included); 0 where the system cannot say.
func Process() time.Duration { return process() }
