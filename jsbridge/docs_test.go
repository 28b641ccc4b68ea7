package jsbridge

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/spiderrun/spiderrun/internal/doctest"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	wsdl "github.com/spiderrun/spiderrun/runtime/websocket"
)

// The documentation's code blocks are executed (issue #14: the documented
// JS contract equals the runtime). Every fenced block of README.md and
// specs/*.md whose language is js, javascript, mjs, ts or typescript runs
// here through the real engine against docSite, unless
//
//   - its first line names a file (`// quotes.js`) that a spider spec (a
//     yaml block) of the same page uses as its script or js_path: then
//     cmd/spiderrun's TestDocSpecs runs it with that spec through the CLI
//     (here it is only compiled), or
//   - the line before it is `<!-- doc-test: fragment (reason) -->`.
//
// A block's `// item: {...}` lines are items the crawl must produce,
// `// items: N` the exact number of items; every block must also finish
// without an error. The fence's attributes (```js hooks=spider_opened:opened
// pipelines=clean spider_middlewares=process_start:mark) wire it like the
// spec keys of the same names.

// docBlock is one fenced code block of a markdown file (internal/doctest).
type docBlock = doctest.Block

// docFiles are the markdown files whose code blocks are executed.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := doctest.Files("..")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readDocBlocks returns the blocks of path, reporting the markdown's
// problems as test errors.
func readDocBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	blocks, errs := doctest.Read("..", path)
	for _, err := range errs {
		t.Error(err)
	}
	return blocks
}

var (
	specScriptRe = regexp.MustCompile(`(?m)^script:\s*(\S+\.(?:js|mjs|cjs|ts))\s*(?:#.*)?$`)
	specJSPathRe = regexp.MustCompile(`(?m)^js_path:\s*\[([^\]]*)\]`)
)

// specFiles are the files the spider specs (yaml blocks) among blocks
// use: their script and js_path entries (a directory ends in "/").
func specFiles(blocks []docBlock) []string {
	var out []string
	for _, b := range blocks {
		if b.Lang != "yaml" || b.Kind == "fragment" {
			continue
		}
		for _, m := range specScriptRe.FindAllStringSubmatch(b.Code, -1) {
			out = append(out, m[1])
		}
		for _, m := range specJSPathRe.FindAllStringSubmatch(b.Code, -1) {
			for _, p := range strings.Split(m[1], ",") {
				out = append(out, strings.Trim(strings.TrimSpace(p), `'"`))
			}
		}
	}
	return out
}

// usedBySpec reports whether a block naming file name is a script or
// js_path file of one of the specs.
func usedBySpec(name string, files []string) bool {
	for _, f := range files {
		if f == name || (strings.HasSuffix(f, "/") && strings.HasPrefix(name, f)) {
			return true
		}
	}
	return false
}

// docSite is the fixture site of the documentation examples. Every host
// reaches it (docFetcher): an example may name https://example.com/...
func docSite(t *testing.T) (plain, secure *httptest.Server) {
	quote := func(id int, text, author string, tags ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `<div class="quote" data-id="%d"><span class="text">%s</span><small class="author">%s</small>`, id, text, author)
		for _, tg := range tags {
			fmt.Fprintf(&b, `<a class="tag" href="/tag/%s/">%s</a>`, tg, tg)
		}
		fmt.Fprintf(&b, `<a class="detail" href="/author/%d">about</a></div>`, id)
		return b.String()
	}
	html := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><head><title>Quotes to Scrape</title></head><body>`+
			quote(1, "The world as we have created it", "Albert Einstein", "change", "thinking")+
			quote(2, "The person, be it gentleman or lady", "Jane Austen")+
			`<ul class="pager"><li class="next"><a href="/page/2/">Next →</a></li></ul>`+
			`<form id="login" action="/login" method="post"><input type="hidden" name="csrf_token" value="t0k3n">`+
			`<input name="username"><input type="password" name="password"></form>`+
			`<p class="price">£51.77</p><script>window.__STATE__ = {"page": 1};</script></body></html>`)
	})
	mux.HandleFunc("/page/2/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><head><title>Quotes to Scrape</title></head><body>`+quote(3, "Third", "Someone")+`</body></html>`)
	})
	mux.HandleFunc("/author/{id}", func(w http.ResponseWriter, r *http.Request) {
		born := map[string]string{"1": "1879", "2": "1902"}[r.PathValue("id")]
		html(w, `<html><body><span class="born">`+born+`</span></body></html>`)
	})
	mux.HandleFunc("/api/quotes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"quotes": [{"text": "a"}, {"text": "b"}]}`)
	})
	echo := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}
	mux.HandleFunc("/login", echo)
	// specs/sessions.md: a page per account, by its session cookie.
	mux.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if c, err := r.Cookie("sessionid"); err == nil {
			user = map[string]string{"a1": "alice", "b1": "bob"}[c.Value]
		}
		html(w, `<html><body><p class="user">`+user+`</p></body></html>`)
	})
	// specs/websocket.md: wss://example.com/feed and /echo.
	ws := func(fn func(ctx context.Context, c *websocket.Conn)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			fn(r.Context(), c)
		}
	}
	mux.HandleFunc("/feed", ws(func(ctx context.Context, c *websocket.Conn) {
		send := func(v string) bool { return c.Write(ctx, websocket.MessageText, []byte(v)) == nil }
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var msg struct {
				Subscribe string `json:"subscribe"`
				Next      int    `json:"next"`
			}
			_ = json.Unmarshal(data, &msg) // "ping" is not JSON
			switch {
			case msg.Subscribe == "quotes":
				if !send(`{"type":"quote","text":"first quote"}`) || !send(`{"type":"quote","text":"second quote"}`) ||
					!send(`{"type":"page-end","page":1}`) {
					return
				}
			case msg.Next == 2:
				send(`{"type":"quote","text":"third quote"}`)
				c.Close(websocket.StatusNormalClosure, "the end")
				return
			}
		}
	}))
	wsEcho := ws(func(ctx context.Context, c *websocket.Conn) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil || c.Write(ctx, typ, data) != nil {
				return
			}
		}
	})
	// /echo: the request's method and body, or over WebSocket every
	// message back with its frame type.
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			wsEcho(w, r)
			return
		}
		echo(w, r)
	})
	plain = httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	secure = httptest.NewTLSServer(mux)
	t.Cleanup(secure.Close)
	return plain, secure
}

// docFetcher downloads every URL from docSite, whatever its host: HTTP(S)
// from the plain server (the Host header keeps the name), ws:// and wss://
// through the real WebSocket manager, dialled to the plain and TLS server.
func docFetcher(t *testing.T, plain, secure *httptest.Server) engine.Fetcher {
	addr, tlsAddr := plain.Listener.Addr().String(), secure.Listener.Addr().String()
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Host = r.URL.Host
		r.URL.Scheme, r.URL.Host = "http", addr
		return http.DefaultTransport.RoundTrip(r)
	})}
	h := httpFetcher(client)
	wsm := wsdl.NewManager(wsdl.Options{
		// A profile name makes wss:// go through DialTLS (the impersonating
		// dialer in a real crawl).
		Impersonate: "doc-test",
		DialTLS: func(ctx context.Context, _, _, _ string, _ *url.URL, alpn []string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", tlsAddr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: alpn}) //nolint:gosec // the local test server
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(wsm.Close)
	return engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
		if wsdl.IsWebSocket(r) {
			resp, err := wsm.Download(ctx, r)
			return resp, nil, err
		}
		return h.Fetch(ctx, r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDocExamples runs every js/ts block of README.md and specs/*.md (see
// the comment at the top of this file) through the real engine against
// the fixture site and checks its `// item:` lines.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	plain, secure := docSite(t)
	ran := 0
	for _, path := range docFiles(t) {
		blocks := readDocBlocks(t, path)
		used := specFiles(blocks)
		for _, b := range blocks {
			if (b.Lang != "js" && b.Lang != "ts") || b.Kind == "fragment" {
				continue
			}
			if b.Name != "" && usedBySpec(b.Name, used) {
				// Run with its spec by cmd/spiderrun TestDocSpecs; it
				// must compile on its own.
				t.Run(b.String(), func(t *testing.T) {
					if _, err := compileDocBlock(b); err != nil {
						t.Fatal(err)
					}
				})
				continue
			}
			ran++
			t.Run(b.String(), func(t *testing.T) {
				t.Parallel()
				runDocBlock(t, b, plain, secure)
			})
		}
	}
	if ran < 15 {
		t.Fatalf("only %d blocks executed: is the markdown parser broken?", ran)
	}
}

func compileDocBlock(b docBlock) (*compile.Program, error) {
	return compile.Compile(compile.Source{Filename: b.File, Code: b.Code, Line: b.Line, Col: 1,
		ResolveDir: "..", TypeScript: b.Lang == "ts"})
}

// runDocBlock runs one block as a spider whose start URL is the fixture
// site's home page.
func runDocBlock(t *testing.T, b docBlock, plain, secure *httptest.Server) {
	prog, err := compileDocBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opts := Options{Program: prog, Name: "docs", StartURLs: []string{plain.URL + "/"}, Logger: newTestLogger(logs)}
	for _, kv := range splitList(b.Attrs["hooks"]) {
		sig, fn, _ := strings.Cut(kv, ":")
		if opts.Hooks == nil {
			opts.Hooks = map[string]string{}
		}
		opts.Hooks[sig] = fn
	}
	for _, kv := range splitList(b.Attrs["spider_middlewares"]) {
		method, fn, _ := strings.Cut(kv, ":")
		var m SpiderMiddleware
		switch method {
		case "process_start":
			m.ProcessStart = fn
		case "process_spider_input":
			m.ProcessSpiderInput = fn
		case "process_spider_exception":
			m.ProcessSpiderException = fn
		default:
			m.ProcessSpiderOutput = fn
		}
		opts.SpiderMiddlewares = append(opts.SpiderMiddlewares, m)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	var pipes []pipeline.Pipeline
	for _, fn := range splitList(b.Attrs["pipelines"]) {
		p, err := s.Pipeline(fn)
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	res, sink := runEngine(t, s, func(o *engine.Options) {
		o.Pipelines = pipes
		o.Fetcher = docFetcher(t, plain, secure)
	})
	if res.Reason != engine.ReasonFinished || res.Errors != 0 {
		t.Fatalf("reason %q, %d errors\nlogs:\n%s", res.Reason, res.Errors, logs)
	}
	got := sink.jsonLines()
	if len(b.Items) == 0 && b.Count < 0 {
		t.Logf("no // item lines: checked that it runs without an error (%d items)", len(got))
	}
	for _, want := range b.Items {
		var v any
		if err := json.Unmarshal([]byte(want), &v); err != nil {
			t.Fatalf("bad // item line %q: %v", want, err)
		}
		if !slices.Contains(got, want) {
			t.Errorf("missing item %s\ngot:\n%s\nlogs:\n%s", want, strings.Join(got, "\n"), logs)
		}
	}
	if b.Count >= 0 && len(got) != b.Count {
		t.Errorf("%d items, want %d (// items: %d)\ngot:\n%s", len(got), b.Count, b.Count, strings.Join(got, "\n"))
	}
}

// TestDocBlocksAccounted: every code block of the documentation is
// executed here, executed with its spec by cmd/spiderrun TestDocSpecs, or
// marked as a fragment with a reason; fragments stay few.
func TestDocBlocksAccounted(t *testing.T) {
	t.Parallel()
	var here, withSpec, specs, validated []string
	fragments := map[string]string{}
	for _, path := range docFiles(t) {
		blocks := readDocBlocks(t, path)
		used := specFiles(blocks)
		for _, b := range blocks {
			switch {
			case b.Kind == "fragment":
				if b.Reason == "" {
					t.Errorf("%s: a fragment needs a reason: <!-- doc-test: fragment (why) -->", b)
				}
				fragments[b.String()] = b.Reason
			case b.Kind == "validate" && b.Lang == "yaml":
				if b.Reason == "" {
					t.Errorf("%s: say why the spec is only validated: <!-- doc-test: validate (why) -->", b)
				}
				validated = append(validated, b.String())
			case b.Kind != "":
				t.Errorf("%s: unknown doc-test directive %q (fragment, or validate for a spec)", b, b.Kind)
			case b.Lang == "yaml":
				if !regexp.MustCompile(`(?m)^name:`).MatchString(b.Code) {
					t.Errorf("%s: a yaml block that is not a spider spec (no name:) must be marked as a fragment", b)
				}
				specs = append(specs, b.String())
			case b.Name != "" && usedBySpec(b.Name, used):
				withSpec = append(withSpec, b.String())
			default:
				here = append(here, b.String())
			}
		}
	}
	if len(fragments) > 4 {
		t.Errorf("%d fragments: make more of them runnable (%v)", len(fragments), fragments)
	}
	t.Logf("executed here: %d; scripts run with their spec: %d; specs run: %d; specs validated: %d; fragments: %d",
		len(here), len(withSpec), len(specs), len(validated), len(fragments))
	for b, why := range fragments {
		t.Logf("fragment %s: %s", b, why)
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
