package extract

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"

	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Sitemap is a parsed sitemap (Scrapy's scrapy.utils.sitemap.Sitemap):
// Type is the root element's local name, "urlset" or "sitemapindex".
type Sitemap struct {
	Type    string
	Entries []SitemapEntry
}

// SitemapEntry is one <url> or <sitemap> element: Loc, the other child
// elements' text by local name (lastmod, changefreq, priority, ...), and the
// href of every <xhtml:link rel="alternate"> child.
type SitemapEntry struct {
	Loc       string            `json:"loc"`
	Fields    map[string]string `json:"fields,omitempty"`
	Alternate []string          `json:"alternate,omitempty"`
}

// ErrSitemapTooLarge is returned when a gzip sitemap decompresses to more
// than the allowed size.
var ErrSitemapTooLarge = errors.New("sitemap larger than the size limit")

// ParseSitemap parses sitemap XML leniently (a broken tail keeps the entries
// read before it, as lxml's recover mode does); entries without <loc> are
// skipped. Entities are not resolved.
func ParseSitemap(body []byte) (*Sitemap, error) {
	text, _ := DecodeBody(body, "")
	d, err := parseXML(text)
	if err != nil {
		return nil, fmt.Errorf("sitemap: %w", err)
	}
	var root *html.Node
	for c := d.root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			root = c
			break
		}
	}
	if root == nil {
		return nil, errors.New("sitemap: no root element")
	}
	sm := &Sitemap{Type: d.elemName(root)}
	for el := root.FirstChild; el != nil; el = el.NextSibling {
		if el.Type != html.ElementNode {
			continue
		}
		var e SitemapEntry
		hasLoc := false
		for c := el.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			name := d.elemName(c)
			if name == "link" {
				if href, ok := nodeAttr(c, "href"); ok {
					e.Alternate = append(e.Alternate, href)
				}
				continue
			}
			// lxml's el.text is the text before the first child element.
			txt := ""
			if t := c.FirstChild; t != nil && t.Type == html.TextNode {
				txt = strings.TrimSpace(t.Data)
			}
			if name == "loc" {
				e.Loc, hasLoc = txt, true
				continue
			}
			if e.Fields == nil {
				e.Fields = map[string]string{}
			}
			e.Fields[name] = txt
		}
		if hasLoc {
			sm.Entries = append(sm.Entries, e)
		}
	}
	return sm, nil
}

// IsGzip reports whether body starts with the gzip magic number.
func IsGzip(body []byte) bool { return bytes.HasPrefix(body, []byte{0x1f, 0x8b}) }

// Gunzip decompresses body, refusing to produce more than maxSize bytes
// (a decompression bomb stops at the limit instead of filling memory).
// maxSize <= 0 means 32 MiB.
func Gunzip(body []byte, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = 32 << 20
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxSize+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if int64(len(out)) > maxSize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrSitemapTooLarge, maxSize)
	}
	return out, nil
}

// SitemapURLsFromRobots returns the Sitemap: URLs of a robots.txt, resolved
// against base (Scrapy's sitemap_urls_from_robots).
func SitemapURLsFromRobots(robots string, base string) []string {
	b, _ := url.Parse(base)
	var out []string
	sc := bufio.NewScanner(strings.NewReader(robots))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if len(line) < 8 || !strings.EqualFold(line[:8], "sitemap:") {
			continue
		}
		u := strings.TrimSpace(line[8:])
		if u == "" {
			continue
		}
		if abs, err := weburl.Join(b, u, nil); err == nil {
			out = append(out, abs)
		}
	}
	return out
}
