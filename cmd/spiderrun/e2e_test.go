package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/golden"
)

// TestE2E runs every case under testdata/e2e through the real CLI entry
// point against a fixture server. A case directory holds:
//
//	spider.yaml, *.js   the spider; "$SERVER" is replaced by the server URL
//	site/               optional static files served at /
//	args                optional extra CLI arguments, one per line ($CASE is
//	                    the case's working copy)
//	want.jsonl          the items, compared as a sorted set of JSON lines
//	want_exit           optional expected exit code (default 0)
//	want_stats.json     optional subset of integer stats that must match
//	want_stderr         optional substrings (one per line) stderr must hold
func TestE2E(t *testing.T) {
	cases, err := filepath.Glob("../../testdata/e2e/*/spider.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no e2e cases found (%v)", err)
	}
	for _, specPath := range cases {
		dir := filepath.Dir(specPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			srv := fixture.New(t, fixture.Options{Pages: 50, Links: 5})
			if st, err := os.Stat(filepath.Join(dir, "site")); err == nil && st.IsDir() {
				srv.Handle("/", http.FileServer(http.Dir(filepath.Join(dir, "site"))).ServeHTTP)
			}
			work := copyCase(t, dir, srv.URL)
			out := filepath.Join(work, "out.jsonl")
			statsFile := filepath.Join(work, "stats.json")
			args := []string{"run", filepath.Join(work, "spider.yaml"), "-O", out, "--stats-json", statsFile}
			for _, a := range readLines(t, filepath.Join(dir, "args"), srv.URL) {
				args = append(args, strings.ReplaceAll(a, "$CASE", work))
			}
			code, _, stderr := runCLI(t, args...)

			wantExit := 0
			if s := readLines(t, filepath.Join(dir, "want_exit"), ""); len(s) > 0 {
				wantExit, _ = strconv.Atoi(s[0])
			}
			if code != wantExit {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, wantExit, stderr)
			}
			for _, sub := range readLines(t, filepath.Join(dir, "want_stderr"), srv.URL) {
				if !strings.Contains(stderr, sub) {
					t.Errorf("stderr lacks %q\nstderr:\n%s", sub, stderr)
				}
			}
			got := normalizeItems(t, out, srv.URL)
			wantPath := filepath.Join(dir, "want.jsonl")
			// Compared as a sorted set of lines; -update writes the file.
			if golden.Update() {
				golden.Write(t, wantPath, []byte(strings.Join(got, "\n")+"\n"))
			}
			want := readLines(t, wantPath, "")
			if !slices.Equal(got, want) {
				t.Errorf("items differ\n got: %s\nwant: %s\nstderr:\n%s", strings.Join(got, "\n      "), strings.Join(want, "\n      "), stderr)
			}
			checkStats(t, filepath.Join(dir, "want_stats.json"), statsFile)
		})
	}
}

// copyCase copies a case into a temp dir with $SERVER replaced.
func copyCase(t *testing.T, dir, server string) string {
	t.Helper()
	work := t.TempDir()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		dst := filepath.Join(work, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		data = bytes.ReplaceAll(data, []byte("$SERVER"), []byte(server))
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return work
}

// readLines reads non-empty lines of an optional file, with $SERVER
// replaced.
func readLines(t *testing.T, path, server string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			if server != "" {
				line = strings.ReplaceAll(line, "$SERVER", server)
			}
			out = append(out, line)
		}
	}
	return out
}

// normalizeItems reads a JSON-lines feed, replaces the server URL by
// $SERVER and sorts the lines (concurrent crawls emit in any order).
func normalizeItems(t *testing.T, path, server string) []string {
	t.Helper()
	lines := readLines(t, path, "")
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("feed line %d is not JSON: %s", i+1, l)
		}
		lines[i] = strings.ReplaceAll(l, server, "$SERVER")
	}
	slices.Sort(lines)
	return lines
}

func checkStats(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	data, err := os.ReadFile(wantPath)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", wantPath, err)
	}
	gdata, err := os.ReadFile(gotPath)
	if err != nil {
		t.Fatalf("stats file: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(gdata, &got); err != nil {
		t.Fatalf("stats file: %v", err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stats[%q] = %v, want %v", k, got[k], v)
		}
	}
}

// runItems runs `spiderrun run SPEC ARGS... -o ITEMS` (a JSON lines file
// beside the spec), fails the test on a non-zero exit, and returns the
// items and the run's stderr.
func runItems(t *testing.T, spec string, args ...string) ([]map[string]any, string) {
	t.Helper()
	out := filepath.Join(filepath.Dir(spec), "items.jsonl")
	code, _, stderr := runCLI(t, append(append([]string{"run", spec}, args...), "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var it map[string]any
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("bad item %q: %v", line, err)
		}
		items = append(items, it)
	}
	return items, stderr
}
