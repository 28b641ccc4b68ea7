package execjs_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// writeFiles creates files (name → source) under a temp dir and returns it.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t testing.TB, paths []string, opts execjs.Options) *execjs.Contexts {
	t.Helper()
	ctxs, err := execjs.Load(paths, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(ctxs.Close)
	return ctxs
}

func mustCall(t testing.TB, c *execjs.Contexts, key, fn string, args ...any) any {
	t.Helper()
	v, err := c.Call(key, fn, args)
	if err != nil {
		t.Fatalf("%s.%s: %v", key, fn, err)
	}
	return v
}

func TestIsolationBetweenContexts(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"a.js": `var leaked = 'from a';
globalThis.viaGlobal = 1;
window.viaWindow = 2;
Object.prototype.polluted = true;
Array.prototype.evil = function () {};
function seen() { return [typeof leaked, typeof viaGlobal, typeof viaWindow, ({}).polluted === true]; }`,
		"b.js": `function seen() { return [typeof leaked, typeof viaGlobal, typeof viaWindow, ({}).polluted === true, typeof [].evil]; }`,
	})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	if got, want := mustCall(t, c, "a", "seen"), []any{"string", "number", "number", true}; !reflect.DeepEqual(got, want) {
		t.Errorf("a sees %v, want %v", got, want)
	}
	if got, want := mustCall(t, c, "b", "seen"), []any{"undefined", "undefined", "undefined", false, "undefined"}; !reflect.DeepEqual(got, want) {
		t.Errorf("b sees %v, want %v (state leaked from a)", got, want)
	}
}

func TestStructuredCopyRoundTrip(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"copy.js": `function id(x) { return x; }
function kinds(x) { return Object.keys(x).map(function (k) { var v = x[k]; return k + ':' + (v instanceof Uint8Array ? 'Uint8Array' : Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v); }); }
function keys(x) { return Object.keys(x); }`,
	})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"bool", true, true},
		{"int", 42, int64(42)},
		{"int64 max safe", int64(1 << 53), int64(1 << 53)},
		{"uint8", uint8(7), int64(7)},
		{"float", 2.5, 2.5},
		{"integral float", 3.0, int64(3)},
		{"string unicode", "签名 ✓ \u0000 end", "签名 ✓ \u0000 end"},
		{"bytes", []byte{0, 1, 254, 255}, []byte{0, 1, 254, 255}},
		{"empty bytes", []byte{}, []byte{}},
		{"slice any", []any{int64(1), "two", nil, false}, []any{int64(1), "two", nil, false}},
		{"typed slice", []string{"a", "b"}, []any{"a", "b"}},
		{"map sorted", map[string]any{"b": 1, "a": 2}, crawl.NewItem("a", int64(2), "b", int64(1))},
		{"map string", map[string]string{"k": "v"}, crawl.NewItem("k", "v")},
		{"item keeps order", crawl.NewItem("z", 1, "y", []any{crawl.NewItem("x", "deep")}),
			crawl.NewItem("z", int64(1), "y", []any{crawl.NewItem("x", "deep")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustCall(t, c, "copy", "id", tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("id(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
	t.Run("js kinds", func(t *testing.T) {
		got := mustCall(t, c, "copy", "kinds", crawl.NewItem("b", []byte("x"), "a", []any{}, "n", nil, "s", "x", "f", 1.5))
		want := []any{"b:Uint8Array", "a:array", "n:null", "s:string", "f:number"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("kinds = %v, want %v", got, want)
		}
	})
	t.Run("js key order survives", func(t *testing.T) {
		got, err := c.Eval("copy", `({zeta: 1, alpha: {inner: [1, 2.25, 'x']}, mid: new Uint8Array([9, 8]), buf: new Uint8Array([1,2,3,4]).buffer})`)
		if err != nil {
			t.Fatal(err)
		}
		want := crawl.NewItem("zeta", int64(1), "alpha", crawl.NewItem("inner", []any{int64(1), 2.25, "x"}),
			"mid", []byte{9, 8}, "buf", []byte{1, 2, 3, 4})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, want %#v", got, want)
		}
	})
	t.Run("shared reference is not a cycle", func(t *testing.T) {
		got, err := c.Eval("copy", `var s = {v: 1}; [s, s]`)
		if err != nil {
			t.Fatal(err)
		}
		want := []any{crawl.NewItem("v", int64(1)), crawl.NewItem("v", int64(1))}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, want %#v", got, want)
		}
	})
	t.Run("class instance copies own fields", func(t *testing.T) {
		got, err := c.Eval("copy", `function P(){ this.x = 1; } P.prototype.y = 2; new P()`)
		if err != nil {
			t.Fatal(err)
		}
		if want := crawl.NewItem("x", int64(1)); !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, want %#v", got, want)
		}
	})
}

func TestStructuredCopyErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"copy.js": `function id(x) { return x; }`})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	results := []struct {
		src, want string
	}{
		{`(function f() {})`, `result: function is not copyable`},
		{`({a: {b: [1, function () {}]}})`, `result.a.b[1]: function is not copyable`},
		{`Symbol('s')`, `result: symbol is not copyable`},
		{`({n: 10n})`, `result.n: BigInt is not copyable`},
		{`var o = {k: {}}; o.k.back = o; o`, `result.k.back: cyclic reference`},
		{`var a = [1]; a.push(a); a`, `result[1]: cyclic reference`},
		{`[new Map()]`, `result[0]: Map is not copyable`},
		{`({d: new Date(0)})`, `result.d: Date is not copyable`},
		{`({e: new Error('x')})`, `result.e: Error is not copyable`},
		{`({f: new Float32Array(2)})`, `result.f: Float32Array is not copyable`},
		{`new Set([1])`, `result: Set is not copyable`},
		{`({p: Promise.resolve(1)})`, `result.p: Promise is not copyable`},
		{`/x/`, `result: RegExp is not copyable`},
		{`var d = []; for (var i = 0, x = d; i < 1100; i++) { x.push([]); x = x[0]; } d`, `nesting deeper than 1000`},
	}
	for _, tt := range results {
		t.Run("result "+tt.want, func(t *testing.T) {
			_, err := c.Eval("copy", tt.src)
			var ce *execjs.CopyError
			if !errors.As(err, &ce) {
				t.Fatalf("eval(%s): got %v, want a CopyError", tt.src, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	args := []struct {
		name string
		in   []any
		want string
	}{
		{"func", []any{func() {}}, `args[0]: Go value of type func() is not copyable`},
		{"nested chan", []any{1, map[string]any{"c": make(chan int)}}, `args[1].c: Go value of type chan int is not copyable`},
		{"struct", []any{struct{ A int }{1}}, `args[0]: Go value of type struct { A int } is not copyable`},
		{"int keys", []any{map[int]string{1: "x"}}, `args[0]: map with int keys is not copyable`},
	}
	for _, tt := range args {
		t.Run("args "+tt.name, func(t *testing.T) {
			_, err := c.Call("copy", "id", tt.in)
			var ce *execjs.CopyError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a CopyError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestErrorPositions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		call  string   // function to call; empty: the error is at load
		want  string   // first line of the error, exactly
		stack []string // lines the stack must contain
	}{
		{
			name:  "syntax error",
			files: map[string]string{"sign.js": "function ok() { return 1; }\n\nfunction broken() {\n  var x = ;\n}\n"},
			want:  `execjs sign: load: sign.js:4:11: SyntaxError: Unexpected token ;`,
		},
		{
			name:  "error while loading",
			files: map[string]string{"boot.js": "var x = 1;\nnull.y;\n"},
			want:  `execjs boot: load: boot.js:2:6: TypeError: Cannot read property 'y' of undefined`,
			stack: []string{"\tat boot.js:2:6"},
		},
		{
			name: "runtime error in a call",
			files: map[string]string{"rt.js": `function inner(o) {
  var unused = 0;
  return o.missing.deeper;
}
function outer() {
  return inner({});
}`},
			call:  "outer",
			want:  `execjs rt: call "outer": rt.js:3:20: TypeError: Cannot read property 'deeper' of undefined`,
			stack: []string{"\tat inner (rt.js:3:20)", "\tat outer (rt.js:6:15)"},
		},
		{
			name:  "thrown non-error",
			files: map[string]string{"th.js": "function f() {\n  throw 'plain string';\n}\n"},
			call:  "f",
			want:  `execjs th: call "f": th.js:2:3: uncaught plain string`,
		},
		{
			name: "error inside an imported script",
			files: map[string]string{
				"ctx/imp.js":   "importScripts('../lib/bad.js');\nfunction f() { return 1; }\n",
				"lib/bad.js":   "// vendor bundle\nvar lib = {};\nlib.init();\n",
				"lib/other.js": "",
			},
			want:  `execjs imp: load: ../lib/bad.js:3:9: TypeError: Object has no member 'init'`,
			stack: []string{"\tat ../lib/bad.js:3:9", "\tat importScripts (native)", "\tat imp.js:1:14"},
		},
		{
			name:  "rejected promise",
			files: map[string]string{"pr.js": "async function f() {\n  await null;\n  throw new RangeError('bad range');\n}\n"},
			call:  "f",
			want:  `execjs pr: call "f": pr.js:3:9: uncaught (in promise) RangeError: bad range`,
			stack: []string{"\tat f (pr.js:3:9)"},
		},
		{
			name:  "not a function",
			files: map[string]string{"nf.js": "var notfn = 3;\n"},
			call:  "notfn",
			want:  `execjs nf: call "notfn": not a function: notfn is a number in nf.js`,
		},
		{
			name:  "undefined function",
			files: map[string]string{"nf.js": "var x;\n"},
			call:  "nope",
			want:  `execjs nf: call "nope": not a function: nope is not defined in nf.js`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tt.files)
			path := dir
			if _, err := os.Stat(filepath.Join(dir, "ctx")); err == nil {
				path = filepath.Join(dir, "ctx")
			}
			c, err := execjs.Load([]string{path}, execjs.Options{})
			if err == nil {
				t.Cleanup(c.Close)
				key := c.Keys()[0]
				_, err = c.Call(key, tt.call, nil)
			}
			if err == nil {
				t.Fatal("no error")
			}
			var e *execjs.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *execjs.Error", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if lines[0] != tt.want {
				t.Errorf("error:\n got  %s\n want %s", lines[0], tt.want)
			}
			for _, s := range tt.stack {
				if !strings.Contains(err.Error(), s+"\n") && !strings.HasSuffix(err.Error(), s) {
					t.Errorf("stack lacks %q:\n%s", s, err)
				}
			}
		})
	}
}

func TestTimeoutInterruptsAndReloads(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"loop.js": `var calls = 0;
function bump() { return ++calls; }
function spin() {
  calls = 100;
  while (true) {}
}
function recurse() { return recurse() + 1; }`})
	// 1s rather than less: loading a context also runs under the timeout,
	// and a busy machine under -race needs a few hundred ms for it.
	c := mustLoad(t, []string{dir}, execjs.Options{Timeout: time.Second})
	if got := mustCall(t, c, "loop", "bump"); got != int64(1) {
		t.Fatalf("bump = %v", got)
	}
	_, err := c.Call("loop", "spin", nil)
	if !errors.Is(err, execjs.ErrTimeout) {
		t.Fatalf("spin: %v, want ErrTimeout", err)
	}
	if want := `execjs loop: call "spin": loop.js:`; !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "timed out after 1s (JS_TIMEOUT)\n\tat spin (loop.js:") {
		t.Errorf("error %q: want prefix %q, the timeout and the stack", err, want)
	}
	// The interrupted runtime is dropped: the file is loaded afresh, so
	// the state spin() left (calls = 100) is gone.
	if got := mustCall(t, c, "loop", "bump"); got != int64(1) {
		t.Errorf("bump after timeout = %v, want 1 (a reloaded context)", got)
	}
	// Recursion gets its own, generous budget: reaching 10,000 frames takes
	// longer than 200ms under -race on a busy machine.
	c = mustLoad(t, []string{dir}, execjs.Options{Timeout: time.Minute})
	_, err = c.Call("loop", "recurse", nil)
	if err == nil || !strings.HasPrefix(err.Error(), `execjs loop: call "recurse": loop.js:7:`) ||
		!strings.Contains(err.Error(), "RangeError: Maximum call stack size exceeded (10000 frames)\n\tat recurse (loop.js:7:") {
		t.Errorf("recurse: %v, want a stack overflow error", err)
	}
	if got := mustCall(t, c, "loop", "bump"); got == nil {
		t.Error("context unusable after stack overflow")
	}
}

func TestTimeoutWhileLoading(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"hang.js": "for (;;) {}\n"})
	_, err := execjs.Load([]string{dir}, execjs.Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, execjs.ErrTimeout) || !strings.HasPrefix(err.Error(), "execjs hang: load: hang.js:1:") {
		t.Fatalf("got %v, want a load timeout at hang.js:1", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	t.Parallel()
	dir := writeFiles(t, map[string]string{"bomb.js": `function bomb() {
  var keep = [];
  for (;;) keep.push(new Array(4096).fill(keep.length));
}
function ok() { return 'alive'; }
function churn() {
  var sum = 0;
  for (var i = 0; i < 100; i++) { var s = 'x'.repeat(1 << 20) + i; sum += s.length; }
  return sum;
}`})
	c := mustLoad(t, []string{dir}, execjs.Options{Timeout: 60 * time.Second, MemoryLimit: 64 << 20})
	// About 200 MiB of short-lived strings over several watchdog ticks:
	// garbage must not count.
	if got := mustCall(t, c, "bomb", "churn"); got != int64(100*(1<<20)+10+2*90) {
		t.Errorf("churn = %v", got)
	}
	_, err := c.Call("bomb", "bomb", nil)
	if !errors.Is(err, execjs.ErrMemoryLimit) {
		t.Fatalf("bomb: %v, want ErrMemoryLimit", err)
	}
	if got := mustCall(t, c, "bomb", "ok"); got != "alive" {
		t.Errorf("ok after memory limit = %v", got)
	}
}

func TestLoadingPaths(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"js/b.js":          "function who() { return 'b'; }",
		"js/a.js":          "function who() { return 'a'; }",
		"js/notes.txt":     "not javascript",
		"js/sub/c.js":      "function who() { return 'c'; }",
		"extra/sign.v2.js": "function who() { return 'sign.v2'; }",
		"dup1/sign.js":     "function who() { return 1; }",
		"dup2/sign.js":     "function who() { return 2; }",
	})
	t.Run("directories and files", func(t *testing.T) {
		c := mustLoad(t, []string{filepath.Join(dir, "js"), filepath.Join(dir, "extra/sign.v2.js")}, execjs.Options{})
		if got, want := c.Keys(), []string{"a", "b", "sign.v2"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("keys = %v, want %v (sorted, *.js only, no recursion)", got, want)
		}
		for _, k := range c.Keys() {
			if got := mustCall(t, c, k, "who"); got != k {
				t.Errorf("%s.who() = %v", k, got)
			}
		}
	})
	t.Run("duplicate keys", func(t *testing.T) {
		_, err := execjs.Load([]string{filepath.Join(dir, "dup1"), filepath.Join(dir, "dup2")}, execjs.Options{})
		if !errors.Is(err, execjs.ErrDuplicateKey) {
			t.Fatalf("got %v, want ErrDuplicateKey", err)
		}
		for _, s := range []string{filepath.Join(dir, "dup1", "sign.js"), filepath.Join(dir, "dup2", "sign.js"), `context "sign"`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
	})
	t.Run("missing path", func(t *testing.T) {
		_, err := execjs.Load([]string{filepath.Join(dir, "nope")}, execjs.Options{})
		if err == nil || !strings.Contains(err.Error(), "nope") || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v, want a not-exist error naming the path", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		c := mustLoad(t, []string{filepath.Join(dir, "js")}, execjs.Options{})
		_, err := c.Call("zzz", "who", nil)
		if !errors.Is(err, execjs.ErrUnknownContext) || !strings.Contains(err.Error(), "loaded: a, b") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCallForms(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"forms.js": `const arrow = (a, b) => a + b;
let counter = 0;
class Signer { constructor(k) { this.k = k; } sign(s) { return this.k + ':' + s; } }
const signer = new Signer('key');
var api = { nested: { twice: function (x) { return x * 2; } } };
function varargs() { return Array.prototype.slice.call(arguments).length; }`,
	})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	tests := []struct {
		fn   string
		args []any
		want any
	}{
		{"arrow", []any{1, 2}, int64(3)},
		{"signer.sign", []any{"msg"}, "key:msg"},
		{"api.nested.twice", []any{21}, int64(42)},
		{"varargs", []any{1, 2, 3, 4}, int64(4)},
		{"varargs", nil, int64(0)},
	}
	for _, tt := range tests {
		if got := mustCall(t, c, "forms", tt.fn, tt.args...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s(%v) = %#v, want %#v", tt.fn, tt.args, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a b", "x;y", "signer..sign", "1abc"} {
		if _, err := c.Call("forms", bad, nil); !errors.Is(err, execjs.ErrNotFunction) {
			t.Errorf("Call(%q): %v, want ErrNotFunction", bad, err)
		}
	}
	got, err := c.Eval("forms", "counter += 5; signer.sign(String(counter))")
	if err != nil || got != "key:5" {
		t.Errorf("eval = %v, %v", got, err)
	}
	_, err = c.Eval("forms", "1 +\n  undefinedThing")
	if err == nil || !strings.HasPrefix(err.Error(), "execjs forms: eval: <eval>:2:3: ReferenceError: undefinedThing is not defined") {
		t.Errorf("eval error = %v", err)
	}
}

func TestBrowserGlobals(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"env.js": `
var loadedWithWindow = typeof window === 'object' && window === this && self === window && globalThis === window;
function probe() {
  document.cookie = 'sid=abc; path=/';
  document.cookie = 'theme=dark';
  document.cookie = 'theme=light; max-age=3600';
  document.cookie = 'gone=1';
  document.cookie = 'gone=; expires=Thu, 01 Jan 1970 00:00:00 GMT';
  var rnd = crypto.getRandomValues(new Uint8Array(32));
  var nonZero = Array.prototype.some.call(rnd, function (b) { return b !== 0; });
  var canvas = document.createElement('canvas');
  document.getElementsByTagName('head')[0].appendChild(document.createElement('script'));
  localStorage.setItem('k', 1);
  return {
    loadedWithWindow: loadedWithWindow,
    ua: navigator.userAgent,
    platform: navigator.platform,
    appName: navigator.appName,
    webdriver: navigator.webdriver,
    href: location.href,
    host: location.hostname,
    search: location.search,
    cookie: document.cookie,
    atob: atob('aGVsbG8gd29ybGQ='),
    btoa: btoa('\u00ff\u0000abc'),
    encoded: Array.prototype.slice.call(new TextEncoder().encode('é✓')),
    decoded: new TextDecoder().decode(new Uint8Array([0xe4, 0xbd, 0xa0, 0xe5, 0xa5, 0xbd])),
    nonZero: nonZero,
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
    buffer: Buffer.from('hi there').toString('base64'),
    util: require('util').format('%s=%d', 'n', 7),
    url: new URL('/p?q=1', 'https://example.com/a/b').href,
    searchParams: new URLSearchParams('a=1&b=2').get('b'),
    canvas: canvas.tagName + ':' + canvas.getContext('2d'),
    storage: localStorage.getItem('k'),
    tags: [window, navigator, document, location, localStorage, document.createElement('div')].map(function (o) { return Object.prototype.toString.call(o); }),
    types: [typeof process, typeof module, typeof exports, typeof define, typeof setTimeout, typeof performance.now]
  };
}
function badAtob() { return atob('%%%'); }
function badBtoa() { return btoa('✓'); }
`})
	c := mustLoad(t, []string{dir}, execjs.Options{
		UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) TestAgent/1.0",
		Location:  "https://shop.example.com/item/1?id=9#top",
		Cookie:    "pre=1",
	})
	got := mustCall(t, c, "env", "probe")
	want := crawl.NewItem(
		"loadedWithWindow", true,
		"ua", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) TestAgent/1.0",
		"platform", "MacIntel",
		"appName", "Netscape",
		"webdriver", false,
		"href", "https://shop.example.com/item/1?id=9#top",
		"host", "shop.example.com",
		"search", "?id=9",
		"cookie", "pre=1; sid=abc; theme=light",
		"atob", "hello world",
		"btoa", "/wBhYmM=",
		"encoded", []any{int64(0xc3), int64(0xa9), int64(0xe2), int64(0x9c), int64(0x93)},
		"decoded", "你好",
		"nonZero", true,
		"uuid", true,
		"buffer", "aGkgdGhlcmU=",
		"util", "n=7",
		"url", "https://example.com/p?q=1",
		"searchParams", "2",
		"canvas", "CANVAS:null",
		"storage", "1",
		"tags", []any{"[object Window]", "[object Navigator]", "[object HTMLDocument]", "[object Location]", "[object Storage]", "[object HTMLElement]"},
		"types", []any{"undefined", "undefined", "undefined", "undefined", "function", "function"},
	)
	if !reflect.DeepEqual(got, want) {
		gb, _ := got.(*crawl.Item).MarshalJSON()
		wb, _ := want.MarshalJSON()
		t.Errorf("probe:\n got  %s\n want %s", gb, wb)
	}
	for fn, msg := range map[string]string{"badAtob": "not correctly encoded", "badBtoa": "outside of the Latin1 range"} {
		if _, err := c.Call("env", fn, nil); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", fn, err, msg)
		}
	}
}

func TestTimersAndPromises(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"tm.js": `
var log = [];
setTimeout(function () { log.push('load-timer'); }, 0);
Promise.resolve().then(function () { log.push('load-microtask'); });
function events() { return log.slice(); }
function schedule() {
  setTimeout(function (a, b) { log.push('t0:' + a + b); }, 0, 'x', 'y');
  setTimeout(function () { log.push('far-future'); }, 1e9);
  Promise.resolve().then(function () { log.push('micro'); });
  log.push('sync');
  return 'returned';
}
async function sleepy(ms) {
  await new Promise(function (r) { setTimeout(r, ms); });
  return 'woke after ' + ms;
}
function odd() {
  log = [];
  setTimeout(function () { log.push('nan'); }, NaN);
  setTimeout(function () { log.push('no-delay'); });
  setTimeout(function () { log.push('negative'); }, -5);
  setTimeout(function () { log.push('infinity'); }, Infinity);
  setTimeout("log.push('string-code')", 0);
  var id = setTimeout(function () { log.push('cleared'); }, 0);
  clearTimeout(id);
}
function never() { return new Promise(function () {}); }
function poll() {
  return new Promise(function () { setInterval(function () {}, 10); });
}
`})
	c := mustLoad(t, []string{dir}, execjs.Options{Timeout: 30 * time.Second})
	if got, want := mustCall(t, c, "tm", "events"), []any{"load-microtask", "load-timer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after load: %v, want %v", got, want)
	}
	if got := mustCall(t, c, "tm", "schedule"); got != "returned" {
		t.Errorf("schedule = %v", got)
	}
	// The due timer ran after the call (microtasks first, as in a browser);
	// the far-future one neither ran nor made the call wait.
	want := []any{"load-microtask", "load-timer", "sync", "micro", "t0:xy"}
	if got := mustCall(t, c, "tm", "events"); !reflect.DeepEqual(got, want) {
		t.Errorf("after schedule: %v, want %v", got, want)
	}
	if got := mustCall(t, c, "tm", "sleepy", 5000); got != "woke after 5000" {
		t.Errorf("sleepy = %v (a promise awaiting a timer is settled by fast-forwarding)", got)
	}
	mustCall(t, c, "tm", "odd")
	if got, want := mustCall(t, c, "tm", "events"), []any{"nan", "no-delay", "negative", "string-code"}; !reflect.DeepEqual(got, want) {
		t.Errorf("odd delays: %v, want %v", got, want)
	}
	if _, err := c.Call("tm", "never", nil); !errors.Is(err, execjs.ErrPromisePending) {
		t.Errorf("never: %v, want ErrPromisePending", err)
	}
	if _, err := c.Call("tm", "poll", nil); err == nil || !strings.Contains(err.Error(), "timer callbacks") {
		t.Errorf("poll: %v, want the timer-callback bound", err)
	}
	// The bound is per call: the interval poll() left behind still runs
	// (once per drain) without failing later calls.
	for range 3 {
		if _, err := c.Call("tm", "events", nil); err != nil {
			t.Fatalf("events after poll: %v", err)
		}
	}
}

func TestRequireAndImportScriptsResolveNextToTheContext(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"js/main.js":          "var helper = require('./lib/helper.js');\nimportScripts('lib/global.js');\nfunction f(x) { return helper.twice(x) + globalHelper(x); }",
		"js/lib/helper.js":    "exports.twice = function (x) { return x * 2; };",
		"js/lib/global.js":    "function globalHelper(x) { return x + 1; }",
		"js/lib/ignored.json": "{}",
	})
	// A different working directory must not matter.
	c := mustLoad(t, []string{filepath.Join(dir, "js", "main.js")}, execjs.Options{})
	if got := mustCall(t, c, "main", "f", 10); got != int64(31) {
		t.Errorf("f(10) = %v, want 31", got)
	}
}

func TestConsoleGoesToLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := writeFiles(t, map[string]string{"say.js": "function say() { console.log('hello %s', 'log'); console.warn('careful'); console.error('bad', 42); }"})
	c := mustLoad(t, []string{dir}, execjs.Options{Logger: logger})
	mustCall(t, c, "say", "say")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{`level=INFO msg="hello log" execjs=say`, `level=WARN msg=careful execjs=say`, `level=ERROR msg="bad 42" execjs=say`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestConcurrentCalls runs under -race: calls into one context are
// serialized (the counter sees every increment), different contexts run
// side by side.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"c1.js": "var n = 0; function inc(k) { n++; return k + ':' + n; } function total() { return n; }",
		"c2.js": "var n = 0; function inc(k) { n++; return k + ':' + n; } function total() { return n; }",
	})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	const workers, per = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"c1", "c2"}[w%2]
			for i := range per {
				v, err := c.Call(key, "inc", []any{fmt.Sprint(w, "-", i)})
				if err != nil {
					errs <- err
					return
				}
				if s, _ := v.(string); !strings.HasPrefix(s, fmt.Sprint(w, "-", i, ":")) {
					errs <- fmt.Errorf("inc returned %v", v)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, k := range []string{"c1", "c2"} {
		if got := mustCall(t, c, k, "total"); got != int64(workers/2*per) {
			t.Errorf("%s total = %v, want %d", k, got, workers/2*per)
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"x.js": "function f() { return 1; }"})
	c, err := execjs.Load([]string{dir}, execjs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Call("x", "f", nil); !errors.Is(err, execjs.ErrClosed) || err.Error() != `execjs x: call "f": contexts closed` {
		t.Errorf("call after close: %v, want ErrClosed", err)
	}
	if _, err := c.Eval("x", "1"); !errors.Is(err, execjs.ErrClosed) {
		t.Errorf("eval after close: %v, want ErrClosed", err)
	}
}

func TestNodeCryptoErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"nc.js": `var crypto = require('node:crypto');
function badHash() { return crypto.createHash('whirlpool'); }
function badKey() { return crypto.createCipheriv('aes-128-cbc', 'short', '0123456789abcdef'); }
function badIV() { return crypto.createCipheriv('aes-128-cbc', '0123456789abcdef', 'x'); }
function badMode() { return crypto.createCipheriv('aes-128-gcm', '0123456789abcdef', '0123456789abcdef'); }
function badDecrypt() {
  var d = crypto.createDecipheriv('aes-128-cbc', '0123456789abcdef', 'fedcba9876543210');
  return d.update('00112233445566778899aabbccddeeff', 'hex', 'utf8') + d.final('utf8');
}
function twice() { var h = crypto.createHash('md5'); h.digest('hex'); return h.digest('hex'); }
function random() { var b = crypto.randomBytes(16); return [b.length, typeof crypto.randomUUID()]; }`})
	c := mustLoad(t, []string{dir}, execjs.Options{})
	for fn, want := range map[string]string{
		"badHash":    "digest method not supported: whirlpool",
		"badKey":     "invalid key length 5 for aes-128-cbc (want 16)",
		"badIV":      "invalid IV length 1 (want 16)",
		"badMode":    `unsupported cipher "aes-128-gcm"`,
		"badDecrypt": "bad decrypt",
		"twice":      "digest already called",
	} {
		_, err := c.Call("nc", fn, nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nc.js:") {
			t.Errorf("%s: %v, want %q with a position in nc.js", fn, err, want)
		}
	}
	if got, want := mustCall(t, c, "nc", "random"), []any{int64(16), "string"}; !reflect.DeepEqual(got, want) {
		t.Errorf("random = %v, want %v", got, want)
	}
}
