package jsbridge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
)

// docBlock is one ```js block of specs/js-api.md.
type docBlock struct {
	line  int // line of the first code line
	code  string
	attrs map[string]string
	items []string // `// item: {...}` lines
}

func readDocBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []docBlock
	var cur *docBlock
	var code strings.Builder
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```js"):
			cur = &docBlock{line: n + 1, attrs: map[string]string{}}
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "```js")) {
				k, v, _ := strings.Cut(kv, "=")
				cur.attrs[k] = v
			}
			code.Reset()
		case cur != nil && strings.HasPrefix(line, "```"):
			cur.code = code.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
			if item, ok := strings.CutPrefix(strings.TrimSpace(line), "// item: "); ok {
				cur.items = append(cur.items, item)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// docSite is the fixture site of the documentation examples.
func docSite(t *testing.T) *httptest.Server {
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
			`<input name="username"><input type="password" name="password"></form></body></html>`)
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
	mux.HandleFunc("/echo", echo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestDocExamples runs every ```js block of specs/js-api.md through the
// real engine against the fixture site and checks its `// item:` lines.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	blocks := readDocBlocks(t, "../specs/js-api.md")
	if len(blocks) < 10 {
		t.Fatalf("found %d js blocks in specs/js-api.md", len(blocks))
	}
	srv := docSite(t)
	for _, b := range blocks {
		t.Run(fmt.Sprintf("line_%d", b.line), func(t *testing.T) {
			t.Parallel()
			prog, err := compile.Compile(compile.Source{Filename: "specs/js-api.md", Code: b.code, Line: b.line, Col: 1, ResolveDir: "../specs"})
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			opts := Options{Program: prog, Name: "docs", StartURLs: []string{srv.URL + "/"}, Logger: newTestLogger(logs)}
			for _, kv := range splitList(b.attrs["hooks"]) {
				sig, fn, _ := strings.Cut(kv, ":")
				if opts.Hooks == nil {
					opts.Hooks = map[string]string{}
				}
				opts.Hooks[sig] = fn
			}
			for _, kv := range splitList(b.attrs["spider_middlewares"]) {
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
			for _, fn := range splitList(b.attrs["pipelines"]) {
				p, err := s.Pipeline(fn)
				if err != nil {
					t.Fatal(err)
				}
				pipes = append(pipes, p)
			}
			res, sink := runEngine(t, s, func(o *engine.Options) { o.Pipelines = pipes })
			if res.Reason != engine.ReasonFinished || res.Errors != 0 {
				t.Fatalf("reason %q, %d errors\nlogs:\n%s", res.Reason, res.Errors, logs)
			}
			got := sink.jsonLines()
			for _, want := range b.items {
				var v any
				if err := json.Unmarshal([]byte(want), &v); err != nil {
					t.Fatalf("bad // item line %q: %v", want, err)
				}
				if !slices.Contains(got, want) {
					t.Errorf("missing item %s\ngot:\n%s", want, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
