package proctest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// ChromiumPIDs lists the Chromium processes (a "chrom" command name) that
// descend from this test process, read from /proc: what a browser pool
// started and has not reaped yet.
func ChromiumPIDs(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(fields[1])
		comm[pid] = s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
	}
	me := os.Getpid()
	var out []int
	for pid := range parent {
		if !strings.Contains(comm[pid], "chrom") {
			continue
		}
		for q, n := parent[pid], 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == me {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// ChromiumBrowsers counts the browsers among ChromiumPIDs: their distinct
// profile directories (a browser is one main process and its --type=
// children, and a child between fork and exec still has its parent's
// command line).
func ChromiumBrowsers(t testing.TB) []string {
	t.Helper()
	dirs := map[string]bool{}
	var out []string
	for _, pid := range ChromiumPIDs(t) {
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || strings.Contains(string(cmd), "--type=") {
			continue
		}
		for _, arg := range strings.Split(string(cmd), "\x00") {
			if dir, ok := strings.CutPrefix(arg, "--user-data-dir="); ok && !dirs[dir] {
				dirs[dir] = true
				out = append(out, dir)
			}
		}
	}
	return out
}
