package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// The memory and JS-guard tests run a plainly built CLI (this test binary
// may carry the race detector, which multiplies memory) and measure the
// child's own peak RSS.

var cli struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildCLI builds `spiderrun` once per test process (go build, no race
// detector) and returns its path; TestMain removes it.
func buildCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		if cli.dir, cli.err = os.MkdirTemp("", "spiderrun-cli-"); cli.err != nil {
			return
		}
		cli.bin = filepath.Join(cli.dir, "spiderrun")
		cli.out, cli.err = exec.Command("go", "build", "-o", cli.bin, ".").CombinedOutput()
	})
	if cli.err != nil {
		t.Fatalf("go build: %v\n%s", cli.err, cli.out)
	}
	return cli.bin
}

func removeCLI() {
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
}

// measured is one child run of the CLI: its output, exit error, peak RSS
// and --stats-json stats.
type measured struct {
	err   error // from Wait: nil for exit 0, an *exec.ExitError otherwise
	out   string
	peak  int64 // bytes
	took  time.Duration
	stats map[string]any
}

// runMeasured runs cmd, which must write its stats to statsFile
// (--stats-json), and returns its peak RSS: the highest VmHWM read every
// 5 ms while it runs (VmHWM only grows), or the engine's last memusage/max
// sample if that is higher.
func runMeasured(t *testing.T, cmd *exec.Cmd, statsFile string, timeout time.Duration) measured {
	t.Helper()
	start := time.Now()
	p := proctest.Start(t, cmd)
	status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	done := make(chan error, 1)
	go func() { done <- p.Wait(t, timeout) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var r measured
wait:
	for {
		if v := stats.PeakRSS(status); v > r.peak {
			r.peak = v
		}
		select {
		case r.err = <-done:
			break wait
		case <-tick.C:
		}
	}
	r.took, r.out = time.Since(start), p.Out.String()
	data, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatalf("no stats: %v\n%s", err, r.out)
	}
	if err := json.Unmarshal(data, &r.stats); err != nil {
		t.Fatalf("stats: %v", err)
	}
	if m, ok := r.stats["memusage/max"].(float64); ok && int64(m) > r.peak {
		r.peak = int64(m)
	}
	return r
}
