package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveOn serves h on a loopback address of its own (127.0.0.x).
func serveOn(t *testing.T, ip string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// hostReportSpider crawls 6 pages of a and 3 of b.
func hostReportSpider(t *testing.T, dir, report, a, b string) string {
	t.Helper()
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  for (let i = 0; i < 6; i++) yield new Request({ url: spider.args.a + "/p/" + i, callback: parse, errback: parse });
  for (let i = 0; i < 3; i++) yield new Request({ url: spider.args.b + "/p/" + i, callback: parse, errback: parse });
}
export function parse() { return { ok: 1 }; }
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: hosts\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false, BLOCK_RETRY_TIMES: 0, HOST_REPORT_FILE: "+report+"}\n")
	return spec
}

// TestHostReport: HOST_REPORT_FILE gets one JSON line per host, the
// busiest first, with its pages, blocks and bytes.
func TestHostReport(t *testing.T) {
	t.Parallel()
	a := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "0123456789") }))
	b := serveOn(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kpsdk-Ct", "0")
		w.WriteHeader(429)
	}))
	dir := t.TempDir()
	spec := hostReportSpider(t, dir, "reports/hosts.jsonl", a, b)
	if code, _, stderr := runCLI(t, "run", spec, "-a", "a="+a, "-a", "b="+b); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	f, err := os.Open(filepath.Join(dir, "reports", "hosts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 {
		t.Fatalf("rows: %v", rows)
	}
	want := []string{
		"map[blocked:0 bytes:60 degraded:false domain:127.0.0.1 failed:0 ok:6 requests:6]",
		"map[blocked:3 bytes:0 degraded:false domain:127.0.0.2 failed:0 ok:0 requests:3]",
	}
	for i, r := range rows {
		delete(r, "avg_latency_ms")
		if got := fmt.Sprint(r); got != want[i] {
			t.Errorf("row %d: %s, want %s", i, got, want[i])
		}
	}
}

// TestHostReportDiskFull: a report that cannot be written fails the run
// (exit 1, the reason on stderr) instead of ending as if it were there.
func TestHostReportDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system; runs in the full suite")
	}
	t.Parallel()
	full := mountTmpfs(t, 4096)
	// Fill it: the report's temporary file then cannot be written.
	if err := os.WriteFile(filepath.Join(full, "filler"), make([]byte, 64<<10), 0o644); err == nil {
		t.Log("the filler fitted: the tmpfs is larger than asked")
	}
	a := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, strings.Repeat("x", 10)) }))
	dir := t.TempDir()
	spec := hostReportSpider(t, dir, filepath.Join(full, "hosts.jsonl"), a, a)
	code, _, stderr := runCLI(t, "run", spec, "-a", "a="+a, "-a", "b="+a)
	if code != 1 || !strings.Contains(stderr, "HOST_REPORT_FILE "+filepath.Join(full, "hosts.jsonl")) || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("exit %d, want 1 with the write error\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(full, "hosts.jsonl")); !os.IsNotExist(err) {
		t.Errorf("a partial report was left: %v", err)
	}
}

// TestHostReportValidate: a HOST_REPORT_FILE that is a directory, or
// under a file, is a validate error at its line, as run reports it.
func TestHostReportValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "afile"), "x")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for report, want := range map[string]string{"adir": "settings.HOST_REPORT_FILE: adir is a directory", "afile/hosts.jsonl": "settings.HOST_REPORT_FILE: afile is not a directory"} {
		write(t, filepath.Join(dir, "spider.js"), "export function parse() {}\n")
		spec := filepath.Join(dir, "spider-"+strings.ReplaceAll(report, "/", "_")+".yaml")
		write(t, spec, "name: s\nstart_urls: [http://127.0.0.1:1/]\nscript: spider.js\nsettings:\n  HOST_REPORT_FILE: "+report+"\n")
		for _, cmd := range []string{"validate", "run"} {
			code, _, stderr := runCLI(t, cmd, spec)
			if code == 0 || !strings.Contains(stderr, ":5:") || !strings.Contains(stderr, want) {
				t.Errorf("%s %s: exit %d, want %q at line 5\n%s", cmd, report, code, want, stderr)
			}
		}
	}
}
