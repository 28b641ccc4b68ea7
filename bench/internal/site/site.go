// Package site serves the benchmark's generated site: Pages product pages
// of about PageSize bytes, each with 4 product fields and Links links, and
// counts every hit so a benchmark can check that each page was fetched
// exactly once.
package site

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Site is the generated site's handler.
type Site struct {
	Pages, Links, PageSize int
	// Latency delays every response by this long before its first byte
	// (the server's think time; 0 = none), so that a crawler must keep
	// many requests in flight to keep up.
	Latency time.Duration

	pages []string // rendered once: the server must not be the bottleneck
	hits  []atomic.Int32
	total atomic.Int64
	once  sync.Once
}

// New renders the site.
func New(pages, links, pageSize int) *Site {
	s := &Site{Pages: pages, Links: links, PageSize: pageSize, hits: make([]atomic.Int32, pages)}
	s.pages = make([]string, pages)
	for i := range pages {
		s.pages[i] = s.render(i)
	}
	return s
}

// LinksOf returns the pages that page id links to; link 0 is id+1 so every
// page is reachable from page 0.
func (s *Site) LinksOf(id int) []int {
	out := make([]int, 0, s.Links)
	for j := range s.Links {
		t := (id + 1) % s.Pages
		if j > 0 {
			t = (id*31 + j*97 + 7) % s.Pages
		}
		out = append(out, t)
	}
	return out
}

func (s *Site) render(id int) string {
	var b strings.Builder
	b.Grow(s.PageSize + 256)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><title>Product %d</title></head><body>\n", id)
	fmt.Fprintf(&b, "<div class=\"product\" data-id=\"%d\">\n<h1 class=\"name\">Product %d</h1>\n<span class=\"price\">%d.%02d</span>\n<span class=\"sku\">SKU-%06d</span>\n<p class=\"description\">Description of product %d.</p>\n</div>\n",
		id, id, id*37%1000, id%100, id, id)
	b.WriteString("<ul class=\"links\">\n")
	for _, t := range s.LinksOf(id) {
		fmt.Fprintf(&b, "<li><a href=\"/p/%d\">page %d</a></li>\n", t, t)
	}
	b.WriteString("</ul>\n")
	// Padding as many small paragraphs, closer to a real page's DOM than
	// one huge text node.
	for i := 0; b.Len() < s.PageSize-64; i++ {
		fmt.Fprintf(&b, "<p class=\"text\">Lorem ipsum dolor sit amet, consectetur adipiscing elit %d.</p>\n", i)
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// ServeHTTP serves /p/{id}.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
	if err != nil || id < 0 || id >= s.Pages || !strings.HasPrefix(r.URL.Path, "/p/") {
		http.NotFound(w, r)
		return
	}
	s.hits[id].Add(1)
	s.total.Add(1)
	if s.Latency > 0 {
		time.Sleep(s.Latency)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(s.pages[id])))
	_, _ = w.Write([]byte(s.pages[id]))
}

// Reset clears the hit counters.
func (s *Site) Reset() {
	for i := range s.hits {
		s.hits[i].Store(0)
	}
	s.total.Store(0)
}

// Check reports the total hits and an error unless every page was fetched
// exactly once.
func (s *Site) Check() (int64, error) {
	for i := range s.hits {
		if n := s.hits[i].Load(); n != 1 {
			return s.total.Load(), fmt.Errorf("page %d fetched %d times", i, n)
		}
	}
	return s.total.Load(), nil
}
