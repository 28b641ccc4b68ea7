package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// gunzipLines reads what a gzip feed holds so far, as zcat does with a
// stream that a kill left without its end: the complete lines, each of
// which must be a whole JSON item.
func gunzipLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return 0
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0 // the header is not there yet
	}
	data, _ := io.ReadAll(zr) // io.ErrUnexpectedEOF: no trailer yet
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d of the decompressed feed is no item: %q", n+1, sc.Text())
		}
		n++
	}
	return n
}

// TestFeedGzipKill9: what specs/feeds.md promises for a gzip feed without
// a JOBDIR: the periodic flush is a deflate sync flush, so after kill -9
// every item that was readable before the kill still is (zcat reads the
// stream without its end), and every line is a whole item.
func TestFeedGzipKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("a crawl killed with SIGKILL; runs in the full suite")
	}
	site := newLinkSite(t, 3000)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "crawl.js"), crawlJS)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, fmt.Sprintf("name: durable\nstart_urls: [%s/page/0]\nscript: crawl.js\n"+
		"settings: {CONCURRENT_REQUESTS: 8, ROBOTSTXT_OBEY: false}\n"+
		"feeds:\n  items.jsonl.gz: {format: jsonlines, postprocessing: [scrapy.extensions.postprocessing.GzipPlugin]}\n", site.URL))
	items := filepath.Join(dir, "items.jsonl.gz")
	p := startCLI(t, "run", spec)
	if !proctest.Poll(2*time.Minute, func() bool { return gunzipLines(t, items) >= 300 }) {
		t.Fatalf("no progress to 300 readable items:\n%s", p.Out)
	}
	before := gunzipLines(t, items)
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, time.Minute)
	after := gunzipLines(t, items)
	t.Logf("%d items readable before the kill, %d after", before, after)
	if after < before {
		t.Fatalf("the kill made items unreadable: %d before, %d after", before, after)
	}
}

// TestFeedCompressedWriteError: a write error under a compressed feed
// fails the run with feed_error, as for a plain feed.
func TestFeedCompressedWriteError(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	code, _, stderr := runCLI(t, "run", filepath.Join("..", "..", "examples", "offline", "spider.yaml"),
		"-s", `FEEDS={"/dev/full": {"format": "jsonlines", "postprocessing": ["scrapy.extensions.postprocessing.GzipPlugin"], "gzip_compresslevel": 0}}`)
	if code != exitFailed || !strings.Contains(stderr, "spider closed: feed_error") {
		t.Fatalf("exit %d, want %d with feed_error:\n%s", code, exitFailed, tail(stderr))
	}
}
