package engine

import (
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// The LogStats line in Scrapy's words, with Scrapy's rates: the
// difference over the interval times 60 / LOGSTATS_INTERVAL.
func TestLogStatsLine(t *testing.T) {
	l := newLogStats(10 * time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at           time.Duration
		pages, items int64
		want         string // "" = not due
	}{
		{0, 0, 0, "Crawled 0 pages (at 0 pages/min), scraped 0 items (at 0 items/min)"},
		{5 * time.Second, 10, 5, ""},
		{10 * time.Second, 50, 20, "Crawled 50 pages (at 300 pages/min), scraped 20 items (at 120 items/min)"},
		{21 * time.Second, 51, 20, "Crawled 51 pages (at 6 pages/min), scraped 20 items (at 0 items/min)"},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if !l.due(now) {
			if s.want != "" {
				t.Fatalf("at %v: not due, want %q", s.at, s.want)
			}
			continue
		}
		if s.want == "" {
			t.Fatalf("at %v: due too early", s.at)
		}
		if got := l.line(s.pages, s.items, now); got != s.want {
			t.Fatalf("at %v:\n got %q\nwant %q", s.at, got, s.want)
		}
	}
	if newLogStats(-1).due(t0) {
		t.Fatal("LOGSTATS_INTERVAL off still logs")
	}
}

func TestScrapyDebugLines(t *testing.T) {
	req := &crawl.Request{URL: "http://x.test/a"}
	resp := &crawl.Response{Status: 200, URL: "http://x.test/a", Request: req}
	if got, want := crawledLine(resp), "Crawled (200) <GET http://x.test/a> (referer: None)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	req2 := &crawl.Request{Method: "POST", URL: "http://x.test/b", Headers: crawl.Headers{{Name: "Referer", Value: "http://x.test/a"}}}
	resp2 := &crawl.Response{Status: 404, URL: "http://x.test/b", Request: req2, Flags: []string{"cached"}}
	if got, want := crawledLine(resp2), "Crawled (404) <POST http://x.test/b> (referer: http://x.test/a) ['cached']"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := scrapedLine(resp, crawl.NewItem("a", int64(1), "b", "x")), "Scraped from <200 http://x.test/a>\n{\"a\":1,\"b\":\"x\"}"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
