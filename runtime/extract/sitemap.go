package extract

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"

	"github.com/spiderrun/spiderrun/runtime/pystr"
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
	sm := &Sitemap{Type: sitemapTag(d, root)}
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
			name := sitemapTag(d, c)
			if name == "link" {
				if href, ok := nodeAttr(c, "href"); ok {
					e.Alternate = append(e.Alternate, href)
				}
				continue
			}
			txt := pystr.Strip(leadingXMLText(c))
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

// sitemapTag is the name Scrapy's Sitemap gives an element: lxml's tag
// without its "{namespace}", so the local name of a namespaced element,
// but "prefix:name" for a prefix no ancestor declares (lxml's recover mode
// keeps such a name whole: an undeclared <xhtml:link> is no alternate
// link, and an undeclared <image:loc> does not replace <loc>).
func sitemapTag(d *document, n *html.Node) string {
	name := d.elemName(n)
	if n.Namespace == "" || n.Namespace == xmlSpace {
		return name
	}
	for p := n; p != nil; p = p.Parent {
		for _, a := range p.Attr {
			if a.Namespace == xmlnsSpace && a.Val == n.Namespace {
				return name
			}
		}
	}
	// encoding/xml leaves an undeclared prefix in Namespace.
	return n.Namespace + ":" + name
}

// leadingXMLText is lxml's el.text for a document parsed without comments:
// the text before the first child element or processing instruction, the
// text on both sides of a comment joined.
func leadingXMLText(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			b.WriteString(c.Data)
		case html.CommentNode:
		default:
			return b.String()
		}
	}
	return b.String()
}

// IsGzip reports whether body starts with the gzip magic number and the
// deflate method byte (1f 8b 08), as Scrapy's gzip_magic_number checks.
func IsGzip(body []byte) bool { return bytes.HasPrefix(body, []byte{0x1f, 0x8b, 0x08}) }

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
// against base and made safe as Scrapy's Request does with what
// sitemap_urls_from_robots yields: lines split as Python's splitlines
// does (\r, \v, \f and the Unicode line separators too), a line counts
// when it starts with "sitemap:" in any case after white space, and an
// empty value resolves to base itself.
func SitemapURLsFromRobots(robots string, base string) []string {
	b, _ := url.Parse(base)
	var out []string
	for _, line := range pystr.SplitLines(robots) {
		line = strings.TrimLeftFunc(line, pystr.IsSpace)
		if len(line) < 8 || !strings.EqualFold(line[:8], "sitemap:") {
			continue
		}
		u := pystr.Strip(line[8:])
		if u == "" {
			if b != nil {
				out = append(out, b.String())
			}
			continue
		}
		if abs, err := weburl.Join(b, u, nil); err == nil {
			out = append(out, abs)
		}
	}
	return out
}
