package product

import (
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is what each benchmark crawler prints on stdout when done.
type Report struct {
	Pages   int64   `json:"pages"`
	Items   int64   `json:"items"`
	Seconds float64 `json:"seconds"`
	Mallocs uint64  `json:"mallocs"`
	Reason  string  `json:"reason,omitempty"`
	// PeakRSS is VmHWM from /proc/self/status in bytes: the process's own
	// high-water mark since exec. (getrusage's ru_maxrss of a child also
	// counts the parent's memory at fork time, which made a crawler started
	// from a big test binary look 60 MB larger than it is.)
	PeakRSS int64 `json:"peak_rss"`
}

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Print writes r with the process's malloc count.
func Print(w io.Writer, pages, items int64, start time.Time, reason string) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return json.NewEncoder(w).Encode(Report{Pages: pages, Items: items, Seconds: time.Since(start).Seconds(), Mallocs: ms.Mallocs, Reason: reason, PeakRSS: peakRSS()})
}
