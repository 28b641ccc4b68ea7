package spidermw

import (
	"net/url"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// URLClean removes session ids and chosen query parameters from the URLs
// of the requests a callback yields, before the dupefilter sees them: the
// same page reached with another session id is then one URL, not a trap of
// endless "new" pages (issue 21's broad-crawl hygiene). Start requests are
// the user's own URLs and are left alone, as are redirect targets.
//
// Session ids are Heritrix's StripSessionIDs and StripSessionCFIDs rules,
// applied to whole query parameters instead of Heritrix's regular
// expressions over the URL: jsessionid, phpsessid and sid with a 32-character
// [0-9A-Za-z] value, aspsessionidXXXXXXXX (8 letters) with a 24-letter
// value, and CFID with CFTOKEN (ColdFusion, both present); names are
// case-insensitive. Plus the path parameter ";jsessionid=…" of Java
// servlets, whatever its value. Unlike Heritrix, a parameter is matched by
// its whole name (Heritrix's "sid=" also matches "xsid=") and no "?" or
// "&" is left dangling.
type URLClean struct {
	SessionIDs bool
	Params     []ParamRule

	stats stats.Collector
}

// ParamRule is one URL_STRIP_PARAMS entry, "[HOST:]NAME": the query
// parameter NAME (case-insensitive; a trailing * matches any suffix, as in
// utm_*) removed from URLs of HOST (example.com and its subdomains;
// any host when omitted).
type ParamRule struct {
	Host string // lower case; "" = every host
	Name string // lower case, without the trailing *
	// Prefix: Name ended with * and matches any parameter starting with it.
	Prefix bool
}

// ParseParamRule reads a URL_STRIP_PARAMS entry (checked by the settings
// table: dsl's stripParamRules).
func ParseParamRule(s string) ParamRule {
	var r ParamRule
	if host, name, ok := strings.Cut(s, ":"); ok {
		r.Host, s = strings.ToLower(strings.TrimPrefix(host, "*.")), name
	}
	s = strings.ToLower(s)
	if strings.HasSuffix(s, "*") {
		r.Prefix, s = true, strings.TrimSuffix(s, "*")
	}
	r.Name = s
	return r
}

// NewURLClean returns the middleware, or nil when it has nothing to do.
func NewURLClean(sessionIDs bool, params []string, st stats.Collector) *URLClean {
	if !sessionIDs && len(params) == 0 {
		return nil
	}
	if st == nil {
		st = stats.NewMemory()
	}
	c := &URLClean{SessionIDs: sessionIDs, stats: st}
	for _, p := range params {
		c.Params = append(c.Params, ParseParamRule(p))
	}
	return c
}

// WrapOutput implements engine.SpiderMiddleware.
func (c *URLClean) WrapOutput(_ *crawl.Response, next engine.Output) engine.Output {
	return &urlCleanOutput{Output: next, c: c}
}

type urlCleanOutput struct {
	engine.Output
	c *URLClean
}

func (w *urlCleanOutput) Request(r *crawl.Request) {
	if u, sessions, params := w.c.Clean(r.URL); u != r.URL {
		r.URL = u
		if sessions > 0 {
			w.c.stats.Inc("urlclean/session_ids_stripped_count", 1)
		}
		if params > 0 {
			w.c.stats.Inc("urlclean/params_stripped_count", 1)
		}
	}
	w.Output.Request(r)
}

// Clean returns rawURL without its session ids and stripped parameters,
// and how many of each it removed. The rest of the URL is kept byte for
// byte (encoding and parameter order).
func (c *URLClean) Clean(rawURL string) (out string, sessions, params int) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL, 0, 0 // the downloader reports it
	}
	host := strings.ToLower(u.Hostname())
	var rules []ParamRule
	for _, r := range c.Params {
		if r.Host == "" || host == r.Host || strings.HasSuffix(host, "."+r.Host) {
			rules = append(rules, r)
		}
	}
	if c.SessionIDs {
		if p, n := stripPathSession(u.EscapedPath()); n > 0 {
			dp, err := url.PathUnescape(p)
			if err != nil {
				return rawURL, 0, 0
			}
			u.Path, u.RawPath = dp, p
			sessions += n
		}
	}
	if u.RawQuery != "" && (c.SessionIDs || len(rules) > 0) {
		pairs := strings.Split(u.RawQuery, "&")
		drop := make([]bool, len(pairs))
		names := make([]string, len(pairs))
		values := make([]string, len(pairs))
		for i, p := range pairs {
			k, v, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
			names[i], values[i] = strings.ToLower(k), v
		}
		if c.SessionIDs {
			sessions += markSessionParams(names, values, drop)
		}
		for i, n := range names {
			if drop[i] {
				continue
			}
			for _, r := range rules {
				if n == r.Name || (r.Prefix && strings.HasPrefix(n, r.Name)) {
					drop[i] = true
					params++
					break
				}
			}
		}
		if slices.Contains(drop, true) {
			kept := make([]string, 0, len(pairs))
			for i, p := range pairs {
				if !drop[i] {
					kept = append(kept, p)
				}
			}
			u.RawQuery = strings.Join(kept, "&")
			u.ForceQuery = false
		}
	}
	if sessions == 0 && params == 0 {
		return rawURL, 0, 0
	}
	return u.String(), sessions, params
}

// markSessionParams marks Heritrix's session-id parameters in drop and
// returns how many it marked; names are lower case.
func markSessionParams(names, values []string, drop []bool) int {
	n := 0
	cfid, cftoken := -1, -1
	for i, name := range names {
		v := values[i]
		switch {
		case name == "jsessionid" || name == "phpsessid" || name == "sid":
			if len(v) == 32 && isAlnum(v) {
				drop[i] = true
				n++
			}
		case len(name) == len("aspsessionid")+8 && strings.HasPrefix(name, "aspsessionid") && isLetters(name[len("aspsessionid"):]):
			if len(v) == 24 && isLetters(v) {
				drop[i] = true
				n++
			}
		case name == "cfid" && v != "":
			cfid = i
		case name == "cftoken" && v != "":
			cftoken = i
		}
	}
	if cfid >= 0 && cftoken >= 0 {
		drop[cfid], drop[cftoken] = true, true
		n += 2
	}
	return n
}

// stripPathSession removes ";jsessionid=VALUE" path parameters (VALUE up to
// the next "/" or ";") from an escaped path.
func stripPathSession(p string) (string, int) {
	const param = ";jsessionid="
	n := 0
	for {
		i := indexFold(p, param)
		if i < 0 {
			return p, n
		}
		end := i + len(param)
		for end < len(p) && p[end] != '/' && p[end] != ';' {
			end++
		}
		p = p[:i] + p[end:]
		n++
	}
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
