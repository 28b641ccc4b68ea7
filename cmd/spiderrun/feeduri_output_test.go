package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// feedSpider writes a spider that yields one item per page of srv.
func feedSpider(t *testing.T, srv *httptest.Server) (dir, spec string) {
	t.Helper()
	dir = t.TempDir()
	spec = filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, "name: books\nscript: spider.js\nstart_urls: [\""+srv.URL+"/\"]\n")
	writeFile(t, filepath.Join(dir, "spider.js"), "export function parse(response) { return {status: response.status}; }\n")
	return dir, spec
}

func pageServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>page</body></html>")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFeedOutputCreatesDirectory: `-o newdir/items.jsonl` creates the
// directory (and its parents), as Scrapy's file storage does.
func TestFeedOutputCreatesDirectory(t *testing.T) {
	dir, spec := feedSpider(t, pageServer(t))
	out := filepath.Join(dir, "newdir", "sub", "items.jsonl")
	if code, _, stderr := runCLI(t, "run", spec, "-o", out); code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "{\"status\":200}\n" {
		t.Fatalf("feed: %q, %v", b, err)
	}
	// A file where the directory should be is a failure that names it.
	block := filepath.Join(dir, "block")
	writeFile(t, block, "")
	code, _, stderr := runCLI(t, "run", spec, "-o", filepath.Join(block, "items.jsonl"))
	if want := "spiderrun: feed: mkdir " + block + ": not a directory\n"; code != exitUsage || stderr != want {
		t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, want)
	}
}

// TestFeedOutputUnknownFormat: -o FILE:FORMAT with a format that does not
// exist says so and lists the known ones; nothing is crawled.
func TestFeedOutputUnknownFormat(t *testing.T) {
	dir, spec := feedSpider(t, pageServer(t))
	for flag, arg := range map[string]string{"-o": "out.json:yaml", "-O": "out.json:"} {
		code, stdout, stderr := runCLI(t, "run", spec, flag, filepath.Join(dir, arg))
		want := "spiderrun: " + flag + " " + filepath.Join(dir, arg) + ": unknown format yaml (known: jsonlines, jsonl, json, csv, xml)\n"
		if flag == "-O" {
			want = "spiderrun: -O " + filepath.Join(dir, arg) + `: no format after ":" (known: jsonlines, jsonl, json, csv, xml)` + "\n"
		}
		if code != exitUsage || stdout != "" || stderr != want {
			t.Errorf("%s %s: exit %d, stderr %q; want %d and %q", flag, arg, code, stderr, exitUsage, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("run created files: %v", entries)
	}
}
