package blocks

import (
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func resp(status int, body string, headers ...string) *crawl.Response {
	r := &crawl.Response{URL: "https://shop.test/p", Status: status, Body: []byte(body)}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers.Add(headers[i], headers[i+1])
	}
	return r
}

// TestDefaultDetectors: each vendor's block answer is recognised by its
// detector, and the pages that look like them but are content are not.
func TestDefaultDetectors(t *testing.T) {
	set, err := New(DefaultNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		resp *crawl.Response
		want string
	}{
		{"cloudflare managed challenge", resp(403, "<html>…</html>", "Cf-Mitigated", "challenge"), "cloudflare"},
		{"cloudflare interstitial", resp(503, "<title>Just a moment...</title>", "Server", "cloudflare"), "cloudflare"},
		{"cloudflare 1020 page", resp(403, `<div id="cf-error-details">Access denied</div>`, "Server", "cloudflare"), "cloudflare"},
		{"cloudflare-served 404 is content", resp(404, "<title>Just a moment...</title>", "Server", "cloudflare"), ""},
		{"cloudflare-served 403 of the origin", resp(403, "<h1>Forbidden</h1>", "Server", "cloudflare"), ""},
		{"datadome captcha", resp(403, `<script src="https://ct.captcha-delivery.com/c.js"></script>`, "X-DataDome", "protected"), "datadome"},
		{"datadome header on a page", resp(200, "<p>ok</p>", "X-DataDome", "protected"), ""},
		{"perimeterx press and hold", resp(403, `<div id="px-captcha"></div>`), "perimeterx"},
		{"akamai access denied", resp(403, "<H1>Access Denied</H1> Reference&#32;&#35;18 https://errors.edgesuite.net/18"), "akamai"},
		{"akamai server header", resp(403, "", "Server", "AkamaiGHost"), "akamai"},
		{"kasada silent 429", resp(429, "", "X-Kpsdk-Ct", "abc"), "kasada"},
		{"kasada loader", resp(429, `<script src="/149e9513-01fa-4fb0-aad4-566afd725d1b/2d206a39-8ed7-437e-a3be-862e0f06eea3/ips.js"></script>`), "kasada"},
		{"plain 429 rate limit", resp(429, "slow down", "Retry-After", "5"), ""},
		{"plain 403", resp(403, "<h1>Forbidden</h1>"), ""},
		{"login form with reCAPTCHA", resp(200, `<form><div class="g-recaptcha"></div></form>`), ""},
		{"an ordinary page", resp(200, "<p>Access Denied is a film</p>"), ""},
	}
	for _, c := range cases {
		if got := set.Detect(c.resp); got != c.want {
			t.Errorf("%s: detected %q, want %q", c.name, got, c.want)
		}
	}
}

// TestCaptchaDetectorOptIn: "captcha" recognises widget pages once it is
// asked for.
func TestCaptchaDetectorOptIn(t *testing.T) {
	set, err := New([]string{"captcha"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Detect(resp(200, `<div class="cf-turnstile" data-sitekey="x"></div>`)); got != "captcha" {
		t.Errorf("turnstile page: %q", got)
	}
	if got := set.Detect(resp(200, "<p>hello</p>")); got != "" {
		t.Errorf("plain page: %q", got)
	}
}

// TestBodyWindow: markers past the first 64 KiB are not searched, so a
// huge page costs a bounded scan.
func TestBodyWindow(t *testing.T) {
	set, _ := New([]string{"perimeterx"}, nil)
	late := strings.Repeat("x", bodyWindow) + "px-captcha"
	if got := set.Detect(resp(403, late)); got != "" {
		t.Errorf("marker after the window detected: %q", got)
	}
	if got := set.Detect(resp(403, late[len(late)-bodyWindow:])); got != "perimeterx" {
		t.Errorf("marker inside the window: %q", got)
	}
}

// TestRules: a user rule matches only when every part it sets matches,
// and comes before the built-ins.
func TestRules(t *testing.T) {
	parse := func(name string, v map[string]any) Rule {
		r, err := ParseRule(name, v)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rules := []Rule{
		parse("wall", map[string]any{"status": []any{int64(200)}, "body": `id="wall"`}),
		parse("geo", map[string]any{"header": "X-Block-Reason: ^geo"}),
		parse("marker", map[string]any{"status": int64(403), "header": "X-Shield"}),
	}
	set, err := New([]string{"cloudflare"}, rules)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		resp *crawl.Response
		want string
	}{
		{resp(200, `<div id="wall">`), "wall"},
		{resp(404, `<div id="wall">`), ""},
		{resp(200, "x", "X-Block-Reason", "geo-fence"), "geo"},
		{resp(200, "x", "X-Block-Reason", "other"), ""},
		{resp(403, "", "X-Shield", ""), "marker"},
		{resp(200, "", "X-Shield", "1"), ""},
		{resp(403, "", "X-Shield", "1", "Cf-Mitigated", "challenge"), "marker"},
	}
	for i, c := range cases {
		if got := set.Detect(c.resp); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}

// TestRuleErrors: every way to write a bad rule names the rule and the
// part.
func TestRuleErrors(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{"x", `block rule "r": want a mapping {status, header, body}, got string`},
		{map[string]any{}, `block rule "r": set at least one of status, header, body`},
		{map[string]any{"status": "403"}, `block rule "r": status: want status codes, got string`},
		{map[string]any{"status": []any{1.5}}, `block rule "r": status: 1.5 is not a status code`},
		{map[string]any{"status": int64(700)}, `block rule "r": status: 700 is not an HTTP status code (100-599)`},
		{map[string]any{"header": ": x"}, `block rule "r": header ": x": want "Name: regex"`},
		{map[string]any{"header": "X: ("}, `block rule "r": header regex: error parsing regexp`},
		{map[string]any{"body": int64(1)}, `block rule "r": body: want a string, got int64`},
		{map[string]any{"bodi": "x"}, `block rule "r": unknown key "bodi" (want status, header, body)`},
	}
	for _, c := range cases {
		_, err := ParseRule("r", c.v)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.v, err, c.want)
		}
	}
	if _, err := New([]string{"cloudflair"}, nil); err == nil || !strings.Contains(err.Error(), `no built-in block detector "cloudflair" (there are: cloudflare, datadome, perimeterx, akamai, kasada, captcha; or js:NAME`) {
		t.Errorf("unknown detector: %v", err)
	}
}
