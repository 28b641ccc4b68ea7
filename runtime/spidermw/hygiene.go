package spidermw

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Hygiene drops the requests a callback yields that a broad crawl must not
// follow: URLs longer than MaxURLLength (URLLENGTH_LIMIT, Scrapy's
// UrlLengthMiddleware, with its log line and stat), paths that repeat the
// same segments more than MaxPathRepeats times in a row
// (URL_PATH_REPEAT_LIMIT: /a/b/a/b/a/b/, the spider traps of relative links
// and calendars), and requests to a host past MaxPerHost
// (HOST_REQUEST_LIMIT). Start requests are not filtered (as in Scrapy). 0
// turns each check off.
type Hygiene struct {
	MaxURLLength   int
	MaxPathRepeats int
	MaxPerHost     int

	stats stats.Collector
	log   *slog.Logger

	mu      sync.Mutex
	perHost map[string]int
}

// NewHygiene returns the middleware, or nil when every check is off.
func NewHygiene(maxURLLength, maxPathRepeats, maxPerHost int, st stats.Collector, logger *slog.Logger) *Hygiene {
	if maxURLLength <= 0 && maxPathRepeats <= 0 && maxPerHost <= 0 {
		return nil
	}
	if st == nil {
		st = stats.NewMemory()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hygiene{MaxURLLength: maxURLLength, MaxPathRepeats: maxPathRepeats, MaxPerHost: maxPerHost,
		stats: st, log: logger, perHost: map[string]int{}}
}

// WrapOutput implements engine.SpiderMiddleware.
func (h *Hygiene) WrapOutput(_ *crawl.Response, next engine.Output) engine.Output {
	return &hygieneOutput{Output: next, h: h}
}

type hygieneOutput struct {
	engine.Output
	h *Hygiene
}

func (w *hygieneOutput) Request(r *crawl.Request) {
	if w.h.allow(r) {
		w.Output.Request(r)
	}
}

func (h *Hygiene) allow(r *crawl.Request) bool {
	if h.MaxURLLength > 0 && utf8.RuneCountInString(r.URL) > h.MaxURLLength {
		// Scrapy's words, trailing space included.
		h.log.Info(fmt.Sprintf("Ignoring link (url length > %d): %s ", h.MaxURLLength, r.URL))
		h.stats.Inc("urllength/request_ignored_count", 1)
		return false
	}
	if h.MaxPathRepeats <= 0 && h.MaxPerHost <= 0 {
		return true
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return true // the downloader reports it
	}
	if h.MaxPathRepeats > 0 && pathRepeats(u.EscapedPath()) > h.MaxPathRepeats {
		h.log.Debug("ignoring link: a path segment repeats (URL_PATH_REPEAT_LIMIT)", "url", r.URL, "limit", h.MaxPathRepeats)
		h.stats.Inc("traps/path_repeats_ignored_count", 1)
		return false
	}
	if h.MaxPerHost > 0 {
		host := strings.ToLower(u.Hostname())
		h.mu.Lock()
		n := h.perHost[host]
		if n < h.MaxPerHost {
			h.perHost[host] = n + 1
		} else if n == h.MaxPerHost {
			h.perHost[host] = n + 1 // log once
		}
		h.mu.Unlock()
		if n >= h.MaxPerHost {
			if n == h.MaxPerHost {
				h.log.Info("host request limit reached: later links to it are ignored", "host", host, "limit", h.MaxPerHost)
				h.stats.Inc("hostlimit/hosts_capped", 1)
			}
			h.stats.Inc("hostlimit/request_ignored_count", 1)
			return false
		}
	}
	return true
}

// maxRunSize is the longest run of segments pathRepeats looks for: trap
// paths repeat a short unit, and the bound keeps a 2 000-segment URL cheap.
const maxRunSize = 8

// pathRepeats is the largest number of times a run of one to maxRunSize
// path segments repeats back to back: 1 for /a/b/c, 3 for /a/b/a/b/a/b/x
// and for /x/a/a/a.
func pathRepeats(path string) int {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best := 1
	for size := 1; size <= min(len(segs)/2, maxRunSize); size++ {
		for start := 0; start+2*size <= len(segs); start++ {
			n := 1
			for next := start + size; next+size <= len(segs) && equalRun(segs, start, next, size); next += size {
				n++
			}
			best = max(best, n)
		}
	}
	return best
}

func equalRun(segs []string, a, b, size int) bool {
	for i := range size {
		if segs[a+i] != segs[b+i] {
			return false
		}
	}
	return true
}
