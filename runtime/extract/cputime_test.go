package extract

import (
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/cputime"
)

func processCPU() time.Duration { return cputime.Process() }

// reportCPU reports the process's CPU time per op since start ("cpu-µs/op"):
// wall time on a shared 2-core machine mostly measures the other tenants.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N)/1e3, "cpu-µs/op")
}
