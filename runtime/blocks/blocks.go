// Package blocks recognises the answers anti-bot systems give instead of a
// page: a Cloudflare challenge, a DataDome or PerimeterX captcha, Akamai's
// "Access Denied", Kasada's silent 429, and rules a spider adds (status
// lists, header and body patterns). A detector only looks at a response;
// what to do about a block (retry as another identity, retire the one that
// was blocked) is the downloader middleware's (runtime/middleware.Blocks).
package blocks

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// bodyWindow is how much of a body the detectors read: challenge and
// captcha pages carry their markers in the first kilobytes, and a 20 MB
// page must not be scanned in full on every response.
const bodyWindow = 64 << 10

// Detector recognises one kind of block.
type Detector struct {
	// Name names the detector in stats (blocks/detector/NAME) and logs.
	Name string
	// Match reports whether resp is a block page rather than content.
	// It is nil for a JavaScript predicate (JS is set).
	Match func(resp *crawl.Response) bool
	// JS names the exported function of a "js:NAME" BLOCK_DETECTORS
	// entry: the spider's own predicate (response) => reason | null,
	// which only the JavaScript runtime can call (runtime/middleware's
	// Blocks does, through its JS field).
	JS string
}

// JSPrefix marks a BLOCK_DETECTORS entry that names a JavaScript
// predicate exported by the spider's script ("js:is_wall"); the detector
// is called "js:is_wall" in stats and logs.
const JSPrefix = "js:"

// JSFunctions lists the exported functions the "js:" entries of names
// refer to, in order.
func JSFunctions(names []string) []string {
	var out []string
	for _, n := range names {
		if fn, ok := strings.CutPrefix(n, JSPrefix); ok {
			out = append(out, fn)
		}
	}
	return out
}

// Builtin returns the built-in detector called name, or false.
func Builtin(name string) (Detector, bool) {
	for _, d := range builtins {
		if d.Name == name {
			return d, true
		}
	}
	return Detector{}, false
}

// BuiltinNames lists the built-in detectors, in the order they are tried.
func BuiltinNames() []string {
	out := make([]string, len(builtins))
	for i, d := range builtins {
		out[i] = d.Name
	}
	return out
}

// DefaultNames is BLOCK_DETECTORS' default: every built-in detector whose
// markers do not occur on ordinary pages. "captcha" is left out: a login
// form with reCAPTCHA is content, not a block.
var DefaultNames = []string{"cloudflare", "datadome", "perimeterx", "akamai", "kasada"}

var builtins = []Detector{
	// Cloudflare marks its challenge responses with cf-mitigated; older
	// and custom error pages are recognised by their markup, and only on
	// the statuses Cloudflare uses for them.
	{Name: "cloudflare", Match: func(r *crawl.Response) bool {
		if strings.EqualFold(r.Headers.Get("Cf-Mitigated"), "challenge") {
			return true
		}
		if !statusIn(r, 403, 429, 503) || !strings.EqualFold(r.Headers.Get("Server"), "cloudflare") {
			return false
		}
		return bodyHasAny(r, "<title>Just a moment...</title>", "/cdn-cgi/challenge-platform/",
			"cf-chl-", "Attention Required! | Cloudflare", "cf-error-details")
	}},
	// DataDome answers 403 with a page that loads its captcha from
	// captcha-delivery.com; the X-DataDome header is on every response of
	// a protected site, so it is not enough alone.
	{Name: "datadome", Match: func(r *crawl.Response) bool {
		return statusIn(r, 403, 405) && bodyHasAny(r, "captcha-delivery.com")
	}},
	// PerimeterX (HUMAN): a 403 "Press & Hold" page.
	{Name: "perimeterx", Match: func(r *crawl.Response) bool {
		return statusIn(r, 403) && bodyHasAny(r, "px-captcha", "captcha.px-cdn.net", "_pxAppId", "/_px/")
	}},
	// Akamai Bot Manager: "Access Denied" with an edgesuite reference.
	{Name: "akamai", Match: func(r *crawl.Response) bool {
		if !statusIn(r, 403) {
			return false
		}
		if strings.HasPrefix(r.Headers.Get("Server"), "AkamaiGHost") {
			return true
		}
		return bodyHasAny(r, "errors.edgesuite.net") && bodyHasAny(r, "Access Denied")
	}},
	// Kasada answers 429 with an empty body or its ips.js loader, and
	// marks it with x-kpsdk-* headers.
	{Name: "kasada", Match: func(r *crawl.Response) bool {
		if !statusIn(r, 429) {
			return false
		}
		for _, h := range r.Headers {
			if strings.HasPrefix(strings.ToLower(h.Name), "x-kpsdk-") {
				return true
			}
		}
		return bodyHasAny(r, "/ips.js", "KPSDK")
	}},
	// captcha: a page whose main content is a captcha widget, any status.
	// Off by default (see DefaultNames).
	{Name: "captcha", Match: func(r *crawl.Response) bool {
		return bodyHasAny(r, `class="g-recaptcha"`, `class="h-captcha"`, `class="cf-turnstile"`,
			"www.google.com/recaptcha/api.js", "hcaptcha.com/1/api.js", "challenges.cloudflare.com/turnstile")
	}},
}

var jsName = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

func validJSName(s string) bool { return jsName.MatchString(s) }

func statusIn(r *crawl.Response, codes ...int) bool { return slices.Contains(codes, r.Status) }

func bodyHasAny(r *crawl.Response, markers ...string) bool {
	b := r.Body[:min(len(r.Body), bodyWindow)]
	for _, m := range markers {
		if bytes.Contains(b, []byte(m)) {
			return true
		}
	}
	return false
}

// Rule is a user-defined detector (one BLOCK_RULES entry): a response is
// a block when every part that is set matches.
type Rule struct {
	Name string
	// Status lists the statuses that can be a block; empty = any.
	Status []int
	// Header is "Name: regex": the named header is present and one of its
	// values matches (a header name alone: present).
	Header string
	// Body is a regex searched in the first 64 KiB of the body.
	Body string
}

// Compile turns a rule into a detector; a bad regex or an empty rule is
// an error naming the rule.
func (r Rule) Compile() (Detector, error) {
	if len(r.Status) == 0 && r.Header == "" && r.Body == "" {
		return Detector{}, fmt.Errorf("block rule %q: set at least one of status, header, body", r.Name)
	}
	var hname string
	var hre, bre *regexp.Regexp
	if r.Header != "" {
		name, pat, hasPat := strings.Cut(r.Header, ":")
		hname = strings.TrimSpace(name)
		if hname == "" {
			return Detector{}, fmt.Errorf("block rule %q: header %q: want \"Name: regex\"", r.Name, r.Header)
		}
		if pat = strings.TrimSpace(pat); hasPat && pat != "" {
			re, err := regexp.Compile(pat)
			if err != nil {
				return Detector{}, fmt.Errorf("block rule %q: header regex: %w", r.Name, err)
			}
			hre = re
		}
	}
	if r.Body != "" {
		re, err := regexp.Compile(r.Body)
		if err != nil {
			return Detector{}, fmt.Errorf("block rule %q: body regex: %w", r.Name, err)
		}
		bre = re
	}
	status := slices.Clone(r.Status)
	return Detector{Name: r.Name, Match: func(resp *crawl.Response) bool {
		if len(status) > 0 && !slices.Contains(status, resp.Status) {
			return false
		}
		if hname != "" {
			vals := resp.Headers.Values(hname)
			if len(vals) == 0 {
				return false
			}
			if hre != nil && !slices.ContainsFunc(vals, hre.MatchString) {
				return false
			}
		}
		return bre == nil || bre.Match(resp.Body[:min(len(resp.Body), bodyWindow)])
	}}, nil
}

// Set is the detectors of a crawl, tried in order.
type Set []Detector

// Detect returns the name of the first detector that matches resp, or "".
// JavaScript predicates are skipped: they need the spider's runtime
// (runtime/middleware's Blocks runs them in their place in the order).
func (s Set) Detect(resp *crawl.Response) string {
	for _, d := range s {
		if d.Match != nil && d.Match(resp) {
			return d.Name
		}
	}
	return ""
}

// New builds the set from BLOCK_DETECTORS (built-in names, and "js:NAME"
// for a predicate the script exports) and BLOCK_RULES: the user's rules
// first, so a rule can name a block more precisely than a built-in; the
// BLOCK_DETECTORS entries then in their order.
func New(builtinNames []string, rules []Rule) (Set, error) {
	var s Set
	for _, r := range rules {
		d, err := r.Compile()
		if err != nil {
			return nil, err
		}
		s = append(s, d)
	}
	for _, n := range builtinNames {
		if fn, ok := strings.CutPrefix(n, JSPrefix); ok {
			if !validJSName(fn) {
				return nil, fmt.Errorf("block detector %q: want js:NAME, NAME an exported function of the script", n)
			}
			s = append(s, Detector{Name: n, JS: fn})
			continue
		}
		d, ok := Builtin(n)
		if !ok {
			return nil, fmt.Errorf("no built-in block detector %q (there are: %s; or js:NAME for a function the script exports)", n, strings.Join(BuiltinNames(), ", "))
		}
		s = append(s, d)
	}
	return s, nil
}

// ParseRule reads one BLOCK_RULES entry: v is {status, header, body} as
// the settings decode it (status: a number or a list of numbers).
func ParseRule(name string, v any) (Rule, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Rule{}, fmt.Errorf("block rule %q: want a mapping {status, header, body}, got %T", name, v)
	}
	r := Rule{Name: name}
	for k, val := range m {
		switch k {
		case "status":
			codes, err := statusList(val)
			if err != nil {
				return Rule{}, fmt.Errorf("block rule %q: status: %w", name, err)
			}
			r.Status = codes
		case "header", "body":
			s, ok := val.(string)
			if !ok {
				return Rule{}, fmt.Errorf("block rule %q: %s: want a string, got %T", name, k, val)
			}
			if k == "header" {
				r.Header = s
			} else {
				r.Body = s
			}
		default:
			return Rule{}, fmt.Errorf("block rule %q: unknown key %q (want status, header, body)", name, k)
		}
	}
	if _, err := r.Compile(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

func statusList(v any) ([]int, error) {
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	default:
		items = []any{t}
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		var n int
		switch x := it.(type) {
		case int64:
			n = int(x)
		case int:
			n = x
		case float64:
			n = int(x)
			if float64(n) != x {
				return nil, fmt.Errorf("%v is not a status code", x)
			}
		default:
			return nil, fmt.Errorf("want status codes, got %T", it)
		}
		if n < 100 || n > 599 {
			return nil, fmt.Errorf("%d is not an HTTP status code (100-599)", n)
		}
		out = append(out, n)
	}
	return out, nil
}
