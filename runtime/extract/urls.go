package extract

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// URL handling itself (w3lib's safe_url_string and canonicalize_url,
// Python's urljoin) lives in runtime/weburl; what is here needs the page:
// the <base href> of a response.

// stripHTML5Whitespace is w3lib's strip_html5_whitespace.
func stripHTML5Whitespace(s string) string { return strings.Trim(s, " \t\n\r\f") }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

var baseHrefRe = regexp.MustCompile(`(?i)<base\s[^>]*href\s*=\s*["']\s*([^"'\s]+)\s*["']`)

type baseKey struct{}

// baseResult is a response's base URL, as a string (link extraction
// resolves against it with Python's urljoin) and parsed (forms,
// response.urljoin), or the error of the latter.
type baseResult struct {
	s   string
	u   *url.URL
	err error
}

// pageBase is Scrapy's get_base_url(response), memoized: w3lib's
// get_base_url on the first 4096 characters of the page, comments
// removed: the first <base href>, made safe (page encoding) and joined
// with the safe response URL; else the safe response URL. A base href
// that w3lib would reject is ignored.
func pageBase(resp *crawl.Response) *baseResult {
	return resp.Memo(baseKey{}, func() any {
		respURL := weburl.SafeString(resp.URL, nil)
		r := &baseResult{s: respURL}
		if text := firstChars(Text(resp), 4096); hasBaseTag(text) {
			text = removeCommentsRe.ReplaceAllString(text, "")
			if m := baseHrefRe.FindStringSubmatch(text); m != nil {
				if href, err := weburl.SafeURL(m[1], queryEncoding(Encoding(resp))); err == nil {
					base := weburl.NewBase(respURL)
					if s, err := base.Join(href); err == nil {
						r.s = s
					}
				}
			}
		}
		if r.u, r.err = url.Parse(r.s); r.err != nil && r.s != respURL {
			r.s = respURL
			r.u, r.err = url.Parse(r.s)
		}
		if r.err != nil {
			r.err = fmt.Errorf("response url %q: %w", resp.URL, r.err)
		}
		return r
	}).(*baseResult)
}

// BaseURL is Scrapy's get_base_url(response) (see pageBase), parsed.
func BaseURL(resp *crawl.Response) (*url.URL, error) {
	r := pageBase(resp)
	return r.u, r.err
}

// URLJoin is response.urljoin(ref): ref resolved against the page's base
// URL (honouring <base href>) with weburl.Join.
func URLJoin(resp *crawl.Response, ref string) (string, error) {
	base, err := BaseURL(resp)
	if err != nil {
		return "", err
	}
	s, err := weburl.Join(base, ref, nil)
	if err != nil {
		return "", fmt.Errorf("urljoin %q with %s: %w", ref, base, err)
	}
	return s, nil
}

// Links are resolved exactly as Scrapy 2.8's LxmlParserLinkExtractor
// resolves them, on strings and with Python's own rules rather than
// net/url's (runtime/weburl ports them): urljoin(base_url, href) (Python
// 3.11's urllib.parse), then process_value, then w3lib 2.1's
// safe_url_string with the page encoding, then urljoin(response.url, url). The differences from net/url matter
// for links: Python keeps the dot segments of an absolute URL, resolves
// "http:x" against the base, drops the ';' of an empty parameter, and
// safe_url_string lower-cases the host, normalises the port and quotes
// with the WHATWG sets ('[' in a path, '\'' in a query).
//
// We differ on purpose in three ways (specs/scrapy-differences.md), all
// because a link becomes a request as it is: an IPv6 host keeps its
// brackets, a '%' that starts no escape becomes "%25", and a link that
// safe_url_string rejects is skipped instead of failing the page.

// removeCommentsRe is w3lib.html's _REMOVECOMMENTS_RE.
var removeCommentsRe = regexp.MustCompile(`(?s)<!--.*?(?:-->|$)`)

// firstChars is s[:n] in characters, as Python slices a str.
func firstChars(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if isASCII(s[:n]) {
		return s[:n]
	}
	c := 0
	for i := range s {
		if c == n {
			return s[:i]
		}
		c++
	}
	return s
}

// hasBaseTag reports whether s holds "<base" in any case, the test before
// the regular expressions run.
func hasBaseTag(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || len(s)-i < 5 {
			return false
		}
		if strings.EqualFold(s[i+1:i+5], "base") {
			return true
		}
		s = s[i+1:]
	}
}

// resolve is the URL of a link whose (stripped) attribute value is val,
// as Scrapy's _extract_links builds it, or ok=false when Scrapy skips it:
// urljoin with the base URL (a ValueError skips the link), process_value
// (None skips it; it sees the joined value before it is made safe),
// safe_url_string with the page encoding, urljoin with the response URL.
//
// Where safe_url_string raises (a port that is no number in 0-65535, a
// character the page encoding cannot encode) Scrapy 2.8 fails the whole
// extraction; we skip that one link, as Scrapy skips the hrefs urljoin
// rejects (specs/scrapy-differences.md).
func (uc *linkURLs) resolve(val string, process func(string) (string, bool, error)) (string, bool, error) {
	if process == nil {
		if s, ok := uc.base.QuickJoin(val); ok {
			return s, true, nil
		}
	}
	return uc.resolveWith(val, process)
}

// resolveWith is resolve without its QuickJoin shortcut.
func (uc *linkURLs) resolveWith(val string, process func(string) (string, bool, error)) (string, bool, error) {
	joined, err := uc.base.Join(val)
	if err != nil {
		return "", false, nil
	}
	if process != nil {
		v, ok, err := process(joined)
		if err != nil {
			return "", false, fmt.Errorf("process_value(%q): %w", joined, err)
		}
		if !ok {
			return "", false, nil
		}
		joined = v
	}
	safe, err := weburl.SafeURL(joined, uc.enc)
	if err != nil {
		return "", false, nil
	}
	out, err := uc.resp.Join(safe)
	if err != nil {
		return "", false, nil
	}
	return out, true, nil
}
