package product

import (
	"encoding/json"
	"io"
	"runtime"
	"time"

	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Report is what each benchmark crawler prints on stdout when done.
type Report struct {
	Pages   int64   `json:"pages"`
	Items   int64   `json:"items"`
	Seconds float64 `json:"seconds"`
	Mallocs uint64  `json:"mallocs"`
	// AllocBytes and GCs are the bytes allocated and the collections run:
	// on a loaded machine, where CPU time per page moves by ±20 %, they
	// still tell a change's effect on the GC's work.
	AllocBytes uint64 `json:"alloc_bytes"`
	GCs        uint32 `json:"gcs"`
	Reason     string `json:"reason,omitempty"`
	// PeakRSS is VmHWM from /proc/self/status in bytes: the process's own
	// high-water mark since exec. (getrusage's ru_maxrss of a child also
	// counts the parent's memory at fork time, which made a crawler started
	// from a big test binary look 60 MB larger than it is.)
	PeakRSS int64 `json:"peak_rss"`
}

// Print writes r with the process's malloc count.
func Print(w io.Writer, pages, items int64, start time.Time, reason string) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return json.NewEncoder(w).Encode(Report{Pages: pages, Items: items, Seconds: time.Since(start).Seconds(), Mallocs: ms.Mallocs, AllocBytes: ms.TotalAlloc, GCs: ms.NumGC, Reason: reason, PeakRSS: stats.PeakRSS("/proc/self/status")})
}
