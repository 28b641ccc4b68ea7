package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/internal/doctest"
)

// The spider specs of the documentation run (issue #14). Every ```yaml
// block of README.md and specs/*.md is a complete spider spec, unless the
// line before it is `<!-- doc-test: fragment (reason) -->`. Its script and
// js_path files are the blocks of the same page whose first line names
// them (`// quotes.js`; README.md's are found from any page). The spec runs
// through `spiderrun run` against docHosts, local stand-ins for the hosts
// it names (the URLs in the spec and its scripts are rewritten to them and
// back in the items), and must exit 0 with the `// item:` lines (and
// `// items: N`) of its script blocks. A spec marked
// `<!-- doc-test: validate (reason) -->` only goes through
// `spiderrun validate`. jsbridge's TestDocExamples runs the other js
// blocks and checks that each block is accounted for.

// mdBlock is one fenced yaml or js/ts block (internal/doctest).
type mdBlock = doctest.Block

func readMarkdownBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	blocks, errs := doctest.Read("../..", path)
	for _, err := range errs {
		t.Error(err)
	}
	return blocks
}

// docHosts serves a local stand-in for each host the documented specs
// name. Pages link with the server's own URL (r.Host) where a site must
// give absolute URLs (sitemaps).
func docHosts(t *testing.T) map[string]*httptest.Server {
	html := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}
	xml := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+body)
	}
	quotes := http.NewServeMux()
	quote := func(text, author string) string {
		return `<div class="quote"><span class="text">` + text + `</span><small class="author">` + author + `</small></div>`
	}
	quotes.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><head><title>Quotes to Scrape</title></head><body>`+
			quote("The world as we have created it", "Albert Einstein")+quote("The person, be it gentleman or lady", "Jane Austen")+
			`<ul class="pager"><li class="next"><a href="/page/2/">Next →</a></li></ul></body></html>`)
	})
	quotes.HandleFunc("/page/2/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><head><title>Quotes to Scrape</title></head><body>`+quote("Third", "Someone")+`</body></html>`)
	})

	// shop.example: specs/crawling.md's CrawlSpider and SitemapSpider.
	shop := http.NewServeMux()
	shop.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><head><title>Shop</title></head><body>`+
			`<a href="/cat/1/">Books</a> <a href="/cat/1/cart">cart</a> `+
			`<a href="/product/1.html?ref=home">promo</a> <a href="/product/1.html;jsessionid=s1">Product 1</a> `+
			`<a href="/product/3.html">Product 3 (sold out)</a></body></html>`)
	})
	shop.HandleFunc("/cat/1/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><body><a href="/product/2.html">Product 2</a> <a href="/product/4.html">Product 4</a></body></html>`)
	})
	shop.HandleFunc("/product/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(r.PathValue("id"), ".html")
		if id == "4" {
			http.NotFound(w, r)
			return
		}
		html(w, `<html><body><h1>Product `+id+`</h1><span class="price">`+id+`.99</span></body></html>`)
	})
	shop.HandleFunc("/blog/{id}", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><body><h1>Post `+r.PathValue("id")+`</h1></body></html>`)
	})
	shop.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "User-agent: *\nDisallow: /cart\nSitemap: http://%s/sitemap.xml\n", r.Host)
	})
	shop.HandleFunc("/sitemap.xml", func(w http.ResponseWriter, r *http.Request) {
		xml(w, fmt.Sprintf(`<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`+
			`<sitemap><loc>http://%[1]s/sitemap-products.xml</loc></sitemap>`+
			`<sitemap><loc>http://%[1]s/sitemap-blog.xml</loc></sitemap>`+
			`<sitemap><loc>http://%[1]s/sitemap-archive.xml</loc></sitemap></sitemapindex>`, r.Host))
	})
	urlset := func(w http.ResponseWriter, body string) {
		xml(w, `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">`+body+`</urlset>`)
	}
	shop.HandleFunc("/sitemap-products.xml", func(w http.ResponseWriter, r *http.Request) {
		urlset(w, fmt.Sprintf(`<url><loc>http://%[1]s/product/1</loc>`+
			`<xhtml:link rel="alternate" hreflang="de" href="http://%[1]s/product/1?lang=de"/></url>`+
			`<url><loc>http://%[1]s/about</loc></url>`, r.Host))
	})
	shop.HandleFunc("/sitemap-blog.xml", func(w http.ResponseWriter, r *http.Request) {
		urlset(w, fmt.Sprintf(`<url><loc>http://%s/blog/1</loc></url>`, r.Host))
	})
	shop.HandleFunc("/sitemap-archive.xml", func(w http.ResponseWriter, r *http.Request) {
		urlset(w, fmt.Sprintf(`<url><loc>http://%s/product/99</loc></url>`, r.Host)) // not in sitemap_follow
	})

	// api.example.com: specs/execjs.md.
	api := http.NewServeMux()
	api.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("sign") != "" {
			fmt.Fprint(w, `{"items": [{"id": 3}]}`)
			return
		}
		fmt.Fprint(w, `{"items": [{"id": 1}, {"id": 2}]}`)
	})

	// example.com: specs/sessions.md, a page per account.
	example := http.NewServeMux()
	example.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if c, err := r.Cookie("sessionid"); err == nil {
			user = map[string]string{"a1": "alice", "b1": "bob"}[c.Value]
		}
		html(w, `<html><body><p class="user">`+user+`</p></body></html>`)
	})

	// example.com/login and /account/N: specs/sessions.md's identity
	// factory. The login form's CSRF token is bound to a pre-session
	// cookie; each session is walled after 3 pages.
	var mu sync.Mutex
	csrf, served := map[string]string{}, map[string]int{}
	seq := 0
	example.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seq++
		if r.Method == http.MethodGet {
			pre, tok := fmt.Sprint("p", seq), fmt.Sprint("t", seq)
			csrf[pre] = tok
			http.SetCookie(w, &http.Cookie{Name: "pre", Value: pre, Path: "/"})
			html(w, `<form method="post"><input type="hidden" name="csrf" value="`+tok+`"></form>`)
			return
		}
		if c, err := r.Cookie("pre"); err != nil || csrf[c.Value] == "" || csrf[c.Value] != r.PostFormValue("csrf") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		sess := fmt.Sprint("s", seq)
		served[sess] = 0
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: sess, Path: "/"})
		html(w, `<p class="welcome">welcome</p>`)
	})
	example.HandleFunc("/account/{n}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		sess := ""
		if c, err := r.Cookie("sessionid"); err == nil {
			sess = c.Value
		}
		if n, ok := served[sess]; !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		} else if n >= 3 {
			html(w, `<div class="hold-on">Hold on, checking your browser</div>`)
			return
		}
		served[sess]++
		html(w, `<html><body><h1>Account `+r.PathValue("n")+`</h1><p class="user">demo</p></body></html>`)
	})

	hosts := map[string]*httptest.Server{}
	for host, h := range map[string]http.Handler{"quotes.toscrape.com": quotes, "shop.example": shop, "api.example.com": api, "example.com": example} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		hosts[host] = srv
	}
	return hosts
}

// docSpecFiles are the extra files a page's spec needs that the page does
// not show.
var docSpecFiles = map[string]map[string]string{
	// A stand-in for js-md5's browser build (32 hex digits, like md5).
	"specs/execjs.md": {"js/lib/md5.min.js": `window.md5 = function (s) {
  var h = 0;
  for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return ("0000000" + h.toString(16)).slice(-8).repeat(4);
};
`},
	// A captured profile set of one member: validate reads SESSION_PROFILES.
	"specs/sessions.md": {"profiles/alice.yaml": shippedProfile("chrome_148")},
}

// shippedProfile is the text of one of runtime/impersonate's profiles.
func shippedProfile(name string) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "runtime", "impersonate", "profiles", name+".yaml"))
	if err != nil {
		panic(err) // the test binary runs in cmd/spiderrun
	}
	return string(b)
}

// TestDocSpecs runs every spider spec of the documentation (see above).
func TestDocSpecs(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob("../../specs/*.md")
	paths = append([]string{"../../README.md"}, paths...)
	pages := map[string][]mdBlock{}
	for _, p := range paths {
		pages[p] = readMarkdownBlocks(t, p)
	}
	hosts := docHosts(t)
	ran, validated := 0, 0
	for _, p := range paths {
		for _, b := range pages[p] {
			if b.Lang != "yaml" || b.Kind == "fragment" {
				continue
			}
			if b.Kind == "validate" {
				validated++
			} else {
				ran++
			}
			t.Run(b.String(), func(t *testing.T) {
				t.Parallel()
				runDocSpec(t, b, pages[p], pages["../../README.md"], hosts)
			})
		}
	}
	if ran < 5 || validated < 1 {
		t.Fatalf("%d specs run, %d validated: is the markdown parser broken?", ran, validated)
	}
}

var (
	specScriptKey = regexp.MustCompile(`(?m)^script:\s*(\S+\.(?:js|mjs|cjs|ts))\s*(?:#.*)?$`)
	specJSPathKey = regexp.MustCompile(`(?m)^js_path:\s*\[([^\]]*)\]`)
	specFeedKey   = regexp.MustCompile(`(?m)^feeds:\s*\n\s+([\w./-]+):`)
)

func runDocSpec(t *testing.T, spec mdBlock, page, readme []mdBlock, hosts map[string]*httptest.Server) {
	// Rewrite every URL of a known host to its stand-in, longest host
	// first (api.example.com before example.com), and bare host names
	// (allowed_domains) to 127.0.0.1.
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	rewrite := func(s string, bare bool) string {
		for _, h := range names {
			s = regexp.MustCompile(`(?:https?|wss?)://`+regexp.QuoteMeta(h)+`\b`).ReplaceAllString(s, hosts[h].URL)
			if bare {
				s = regexp.MustCompile(`([\s\[,'"])`+regexp.QuoteMeta(h)+`([\s\],'"])`).ReplaceAllString(s, "${1}127.0.0.1${2}")
			}
		}
		return s
	}
	unrewrite := func(s string) string {
		for _, h := range names {
			s = strings.ReplaceAll(s, hosts[h].URL, "https://"+h)
		}
		return s
	}

	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.yaml"), rewrite(spec.Code, true))
	want, count := spec.Items, spec.Count // an inline script's lines
	find := func(name string) (mdBlock, bool) {
		for _, blocks := range [][]mdBlock{page, readme} {
			for _, b := range blocks {
				if b.Name == name && b.Lang != "yaml" {
					return b, true
				}
			}
		}
		return mdBlock{}, false
	}
	use := func(name string) {
		b, ok := find(name)
		if !ok {
			t.Fatalf("%s: no block of %s (or README.md) starts with `// %s`", spec, spec.File, name)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, path, rewrite(b.Code, false))
		want = append(want, b.Items...)
		if b.Count >= 0 {
			count = b.Count
		}
	}
	if m := specScriptKey.FindStringSubmatch(spec.Code); m != nil {
		use(m[1])
	}
	if m := specJSPathKey.FindStringSubmatch(spec.Code); m != nil {
		for _, p := range strings.Split(m[1], ",") {
			p = strings.Trim(strings.TrimSpace(p), `'"`)
			if !strings.HasSuffix(p, "/") {
				use(p)
				continue
			}
			n := 0
			for _, b := range page {
				if b.Name != "" && strings.HasPrefix(b.Name, p) {
					use(b.Name)
					n++
				}
			}
			if n == 0 {
				t.Fatalf("%s: no block of %s names a file in js_path %s", spec, spec.File, p)
			}
		}
	}
	for name, content := range docSpecFiles[spec.File] {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, path, content)
	}

	code, stdout, stderr := runCLI(t, "validate", filepath.Join(dir, "spider.yaml"))
	if code != exitOK {
		t.Fatalf("spiderrun validate: exit %d\n%s%s", code, stdout, stderr)
	}
	if spec.Kind == "validate" {
		t.Logf("validated only: %s", spec.Reason)
		return
	}
	out := filepath.Join(dir, "out.jsonl")
	code, _, stderr = runCLI(t, "run", filepath.Join(dir, "spider.yaml"), "-O", out, "-s", "LOG_LEVEL=INFO")
	if code != exitOK {
		t.Fatalf("spiderrun run: exit %d\n%s", code, stderr)
	}
	var got []string
	for _, l := range readLines(t, out, "") {
		got = append(got, unrewrite(l))
	}
	t.Logf("%d items:\n%s", len(got), strings.Join(got, "\n"))
	if len(want) == 0 && count < 0 {
		t.Fatalf("%s: its script blocks have no // item lines: nothing to check", spec)
	}
	for _, w := range want {
		var v any
		if err := json.Unmarshal([]byte(w), &v); err != nil {
			t.Fatalf("bad // item line %q: %v", w, err)
		}
		if !slices.Contains(got, w) {
			t.Errorf("missing item %s\ngot:\n%s\nstderr:\n%s", w, strings.Join(got, "\n"), stderr)
		}
	}
	if count >= 0 && len(got) != count {
		t.Errorf("%d items, want %d\ngot:\n%s", len(got), count, strings.Join(got, "\n"))
	}
	// A feed the spec declares is written beside it.
	if m := specFeedKey.FindStringSubmatch(spec.Code); m != nil {
		if st, err := os.Stat(filepath.Join(dir, m[1])); err != nil || st.Size() == 0 {
			t.Errorf("feed %s of the spec: %v", m[1], err)
		}
	}
}
