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

type baseResult struct {
	u   *url.URL
	err error
}

// BaseURL is w3lib's get_base_url: the <base href> found in the first 4 KB
// of the page resolved against the response URL, or the response URL.
func BaseURL(resp *crawl.Response) (*url.URL, error) {
	r := resp.Memo(baseKey{}, func() any {
		respURL, err := url.Parse(weburl.SafeString(resp.URL, nil))
		if err != nil {
			return baseResult{nil, fmt.Errorf("response url %q: %w", resp.URL, err)}
		}
		text := Text(resp)
		if len(text) > 4096 {
			text = text[:4096]
		}
		if m := baseHrefRe.FindStringSubmatch(text); m != nil {
			if s, err := weburl.Join(respURL, m[1], nil); err == nil {
				if u, err := url.Parse(s); err == nil {
					return baseResult{u, nil}
				}
			}
		}
		return baseResult{respURL, nil}
	}).(baseResult)
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
