package jsbridge

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// newREPL loads testdata/repl.js and binds a page as response.
func newREPL(t *testing.T, mutate func(*Options)) *REPL {
	t.Helper()
	s, _ := newSpider(t, "repl.js", mutate)
	ctx := context.Background()
	r, err := s.NewREPL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	page := `<html><head><title>Shop</title></head><body><h1 class="name">Widget</h1>
<ul><li><a href="/a">A</a></li><li><a href="/b">B</a></li></ul></body></html>`
	if err := r.Bind(ctx, htmlResponse("http://example.test/p/1", "", page)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestREPLEval(t *testing.T) {
	r := newREPL(t, nil)
	// One session, in order: definitions persist from one input to the next
	// and line numbers run on across inputs.
	steps := []struct {
		in      string
		want    string // printed value
		wantErr string // error text (prefix)
	}{
		{in: `response.css("h1.name::text").get()`, want: `"Widget"`},
		{in: `response.css("a::attr(href)")`, want: `["/a","/b"]`},
		{in: `response.css("h1")[0]`, want: `"<h1 class=\"name\">Widget</h1>"`},
		{in: `response`, want: `<200 http://example.test/p/1>`},
		{in: `request`, want: `<GET http://example.test/p/1>`},
		{in: `({a: 1, b: [true, null], r: response})`, want: `{"a":1,"b":[true,null],"r":"<200 http://example.test/p/1>"}`},
		{in: `1 + 2`, want: `3`},
		{in: `undefined`, want: `undefined`},
		{in: `"<b>"`, want: `"<b>"`},
		{in: `parse`, want: `[Function: parse]`},
		{in: `parse(response)`, want: `{"title":"Shop"}`},
		{in: `let x = 40`, want: `undefined`},
		{in: `x + 2`, want: `42`},
		{in: "function add(a, b) {\n  return a + b;\n}", want: `undefined`},
		{in: `add(x, 1)`, want: `41`},
		{in: `nope()`, wantErr: `shell:18:5: ReferenceError: nope is not defined`},
		{in: `1 +* 2`, wantErr: `shell:19:4: SyntaxError: Unexpected token *`},
		{in: `boom()`, wantErr: "testdata/repl.js:7:15: TypeError: Cannot read property 'x' of undefined\n\tat boom (testdata/repl.js:7:15)\n\tat <anonymous> (shell:20:5)"},
		{in: `await new Promise(res => setTimeout(() => res("late"), 10))`, want: `"late"`},
		{in: `const y = await Promise.resolve(7)`, want: `undefined`},
		{in: `y * 2`, want: `14`},
		{in: `Promise.resolve([1, "two"])`, want: `[1,"two"]`},
		{in: `await Promise.reject(new TypeError("bad"))`, wantErr: `shell:25:22: TypeError: bad`},
		{in: `new Promise(() => {})`, wantErr: `shell:26:1: Error: the promise can never settle`},
		{in: `help()`, want: "Bound in this shell:"},
		{in: `new Error("shown, not thrown")`, want: `Error: shown, not thrown`},
		{in: ``, want: ``},
		{in: `[1, 2].map(n => n * 2)`, want: `[2,4]`},
		{in: `{a: 1, "b": [2]}`, want: `{"a":1,"b":[2]}`},
		{in: `{ let z = 1; }`, want: `undefined`},
	}
	ctx := context.Background()
	for _, st := range steps {
		out, err := r.Eval(ctx, st.in)
		if st.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), st.wantErr) || strings.Contains(err.Error(), "shell:27") {
				t.Errorf("%q: err = %v, want prefix %q (out %q)", st.in, err, st.wantErr, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: unexpected error %v", st.in, err)
			continue
		}
		if !strings.HasPrefix(out, st.want) || (st.in != "help()" && out != st.want) {
			t.Errorf("%q = %q, want %q", st.in, out, st.want)
		}
	}
}

func TestREPLErrorInScriptNamesBothPositions(t *testing.T) {
	r := newREPL(t, nil)
	_, err := r.Eval(context.Background(), "boom()")
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *EvalError", err)
	}
	msg := err.Error()
	for _, want := range []string{"testdata/repl.js:7:", "TypeError", "shell:1:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestREPLIncomplete(t *testing.T) {
	r := newREPL(t, nil)
	ctx := context.Background()
	for _, in := range []string{"function f() {", "[1,\n2", "`a", "1 +", "const v = await foo(", "if (true) {\n  await 1"} {
		if _, err := r.Eval(ctx, in); !errors.Is(err, ErrIncomplete) {
			t.Errorf("%q: err = %v, want ErrIncomplete", in, err)
		}
	}
	if r.Line() != 0 {
		t.Errorf("incomplete input consumed lines: %d", r.Line())
	}
	out, err := r.Eval(ctx, "function f() {\n  return 5;\n}\nf()")
	if err != nil || out != "5" {
		t.Fatalf("completed input = %q, %v", out, err)
	}
	if r.Line() != 4 {
		t.Errorf("Line() = %d, want 4", r.Line())
	}
	// An unterminated string cannot continue on the next line.
	if _, err := r.Eval(ctx, `"abc`); err == nil || errors.Is(err, ErrIncomplete) {
		t.Errorf("unterminated string: err = %v, want a syntax error", err)
	}
}

func TestREPLTimeoutKeepsSession(t *testing.T) {
	r := newREPL(t, func(o *Options) { o.JSTimeout = 200 * time.Millisecond })
	ctx := context.Background()
	_, err := r.Eval(ctx, "while (true) {}")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.HasPrefix(err.Error(), "shell:1:") || !strings.Contains(err.Error(), "JS_TIMEOUT") {
		t.Errorf("err = %q, want a positioned JS_TIMEOUT error", err)
	}
	out, err := r.Eval(ctx, `response.css("title::text").get()`)
	if err != nil || out != `"Shop"` {
		t.Fatalf("after timeout: %q, %v", out, err)
	}
}

func TestREPLDownloadWithoutCrawl(t *testing.T) {
	// fetch() before the crawl is open rejects with a message, not a hang.
	r := newREPL(t, nil)
	_, err := r.Eval(context.Background(), `fetch("http://example.test/")`)
	if err == nil || !strings.Contains(err.Error(), "not open yet") {
		t.Fatalf("err = %v, want the crawl-not-open rejection", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the loop and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// SetConsole: console.log prints as Node's REPL does (strings plain,
// objects as JSON), warn and error go to the second writer, and a
// callback of the script logs through the same console.
func TestREPLConsole(t *testing.T) {
	r := newREPL(t, nil)
	ctx := context.Background()
	var out, errOut lockedBuffer
	if err := r.SetConsole(ctx, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		`console.log("plain", "text", 1, true, null, undefined, {a: "b"}, [1, "x"])`,
		`console.info("info")`,
		`console.debug("debug")`,
		`console.warn("careful")`,
		`console.error(new TypeError("bad"))`,
		`await new Promise(res => setTimeout(() => { console.log("from a timer"); res(); }, 5))`,
	} {
		if got, err := r.Eval(ctx, in); err != nil || got != "undefined" {
			t.Errorf("%s = %q, %v", in, got, err)
		}
	}
	want := "plain text 1 true null undefined {\"a\":\"b\"} [1,\"x\"]\ninfo\ndebug\nfrom a timer\n"
	if out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if e := errOut.String(); !strings.HasPrefix(e, "careful\nTypeError: bad\n") {
		t.Errorf("stderr %q", e)
	}
}

// Cancelling Eval's context (the shell's Ctrl-C) interrupts a running
// input or abandons an awaited promise; the REPL goes on.
func TestREPLInterrupt(t *testing.T) {
	r := newREPL(t, func(o *Options) { o.JSTimeout = time.Minute })
	for _, in := range []string{"while (true) {}", "await new Promise(res => setTimeout(res, 60000))"} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := r.Eval(ctx, in)
		var ee *EvalError
		if !errors.As(err, &ee) || ee.JS.Type != "Interrupted" || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err = %v, want an Interrupted EvalError wrapping context.Canceled", in, err)
		}
		if !strings.HasPrefix(err.Error(), "shell:") || !strings.Contains(err.Error(), "Interrupted: input interrupted") {
			t.Errorf("%s: err = %q", in, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: interrupt took %v", in, d)
		}
		cancel()
		out, err := r.Eval(context.Background(), `response.css("title::text").get()`)
		if err != nil || out != `"Shop"` {
			t.Fatalf("after interrupting %s: %q, %v", in, out, err)
		}
	}
}
