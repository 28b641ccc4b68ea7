package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// logStats is Scrapy's LogStats extension: every LOGSTATS_INTERVAL, and
// once when the spider opens, an INFO line with the pages crawled and the
// items scraped, and their rates per minute over the last interval, in
// Scrapy's words.
type logStats struct {
	every        time.Duration
	at           time.Time
	pages, items int64
}

func newLogStats(every time.Duration) *logStats {
	return &logStats{every: every}
}

// tick logs a line when one is due (the first at once).
func (l *logStats) tick(e *Engine, now time.Time) {
	if !l.due(now) {
		return
	}
	p := e.Progress()
	e.log.Info(l.line(p.Pages, p.Items, now))
}

func (l *logStats) due(now time.Time) bool {
	return l.every > 0 && (l.at.IsZero() || now.Sub(l.at) >= l.every)
}

// line is the next line for these totals, and moves the interval on.
func (l *logStats) line(pages, items int64, now time.Time) string {
	pageRate, itemRate := int64(0), int64(0)
	if !l.at.IsZero() {
		// Scrapy multiplies by 60/interval: the rate over the interval
		// as set, not as measured.
		mult := 60 / l.every.Seconds()
		pageRate = int64(float64(pages-l.pages) * mult)
		itemRate = int64(float64(items-l.items) * mult)
	}
	l.at, l.pages, l.items = now, pages, items
	return fmt.Sprintf("Crawled %d pages (at %d pages/min), scraped %d items (at %d items/min)", pages, pageRate, items, itemRate)
}

// crawledLine is Scrapy's DEBUG line for a downloaded response:
// `Crawled (200) <GET url> (referer: None) ['cached']`.
func crawledLine(resp *crawl.Response) string {
	var b strings.Builder
	b.WriteString("Crawled (")
	b.WriteString(strconv.Itoa(resp.Status))
	b.WriteString(") ")
	b.WriteString(resp.Request.String())
	ref := resp.Request.Headers.Get("Referer")
	if ref == "" {
		ref = "None"
	}
	b.WriteString(" (referer: " + ref + ")")
	if len(resp.Flags) > 0 {
		b.WriteString(" " + pyList(resp.Flags))
	}
	return b.String()
}

// scrapedLine is Scrapy's DEBUG line for an item: `Scraped from <200 url>`
// and the item on the next line.
func scrapedLine(resp *crawl.Response, it *crawl.Item) string {
	src := "<no response>"
	if resp != nil {
		src = "<" + strconv.Itoa(resp.Status) + " " + resp.URL + ">"
	}
	item, err := json.Marshal(it)
	if err != nil {
		item = []byte(err.Error())
	}
	return "Scraped from " + src + "\n" + string(item)
}

// pyList writes flags as Python's repr of a list of str: ['cached'].
func pyList(flags []string) string {
	q := make([]string, len(flags))
	for i, f := range flags {
		q[i] = "'" + strings.ReplaceAll(f, "'", `\'`) + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}
