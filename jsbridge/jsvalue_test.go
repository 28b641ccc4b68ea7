package jsbridge

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// showJS renders a JS value with what JSON.stringify hides: own key order,
// prototypes, Uint8Array, undefined and -0.
const showJS = `function show(v) {
  function rec(v) {
    if (v === null) return "null";
    if (v === undefined) return "undefined";
    if (v instanceof Uint8Array) return "u8[" + Array.from(v).join(",") + "]";
    if (Array.isArray(v)) return "[" + v.map(rec).join(",") + "]";
    if (typeof v === "object") {
      var p = Object.getPrototypeOf(v) === Object.prototype ? "" : "!proto ";
      return "{" + p + Object.getOwnPropertyNames(v).map(function (k) { return JSON.stringify(k) + ":" + rec(v[k]); }).join(",") + "}";
    }
    return typeof v + ":" + String(v) + (Object.is(v, -0) ? "(-0)" : "");
  }
  return rec(v);
}`

// showBoth converts each Go value into the spider runtime (the importer) and
// into an execjs context (a call argument), and renders both in JS.
func showBoth(t *testing.T, values []any) (spider, ctx []string, ctxErr []error) {
	t.Helper()
	s, _ := newSpider(t, "state.js", nil)
	done := make(chan error, 1)
	s.loop.post(func() {
		fn, err := s.vm.RunString("(" + showJS + ")")
		if err != nil {
			done <- err
			return
		}
		show, _ := goja.AssertFunction(fn)
		for _, v := range values {
			r, err := show(goja.Undefined(), s.importer().value(v))
			if err != nil {
				done <- err
				return
			}
			spider = append(spider, r.String())
		}
		done <- nil
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("spider loop did not run the job")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "show.js"), []byte(showJS), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := execjs.Load([]string{dir}, execjs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, v := range values {
		r, err := c.Call("show", "show", []any{v})
		s, _ := r.(string)
		ctx, ctxErr = append(ctx, s), append(ctxErr, err)
	}
	return spider, ctx, ctxErr
}

// Go → JS is one conversion (jsvalue.Converter): the spider runtime and
// execjs contexts build the same JS value from the same Go data.
func TestGoToJSSameInBothHosts(t *testing.T) {
	t.Parallel()
	negZero := math.Copysign(0, -1)
	cases := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "boolean:true"},
		{"s", "string:s"},
		{42, "number:42"},
		{int64(-7), "number:-7"},
		{int32(3), "number:3"},
		{uint8(200), "number:200"},
		{uint64(1 << 63), "number:9223372036854776000"},
		{1.5, "number:1.5"},
		{float32(0.25), "number:0.25"},
		{negZero, "number:0(-0)"},
		{math.Inf(1), "number:Infinity"},
		{json.Number("12"), "number:12"},
		{json.Number("1.25"), "number:1.25"},
		{[]byte{0, 1, 255}, "u8[0,1,255]"},
		{[]any{1, "a", nil, []any{}}, "[number:1,string:a,null,[]]"},
		{[]any(nil), "[]"},
		{map[string]any{"b": 1, "a": 2}, `{"a":number:2,"b":number:1}`},
		{map[string]any(nil), "{}"},
		// A "__proto__" key is a field, not the object's prototype.
		{map[string]any{"__proto__": map[string]any{"admin": true}}, `{"__proto__":{"admin":boolean:true}}`},
		{&crawl.Item{Fields: []crawl.Field{{Key: "z", Value: 1}, {Key: "a", Value: []byte("hi")}}}, `{"z":number:1,"a":u8[104,105]}`},
		{(*crawl.Item)(nil), "null"},
		{[]string{"x", "y"}, "[string:x,string:y]"},
		{[]int{1, 2}, "[number:1,number:2]"},
		{map[string]string{"k": "v"}, `{"k":string:v}`},
		{map[string]any{"n": []any{map[string]any{"b": []byte{7}}}}, `{"n":[{"b":u8[7]}]}`},
	}
	in := make([]any, len(cases))
	for i, c := range cases {
		in[i] = c.in
	}
	spider, ctx, ctxErr := showBoth(t, in)
	for i, c := range cases {
		if ctxErr[i] != nil {
			t.Errorf("%#v: execjs: %v", c.in, ctxErr[i])
			continue
		}
		if spider[i] != c.want || ctx[i] != c.want {
			t.Errorf("%#v:\n spider %s\n execjs %s\n want   %s", c.in, spider[i], ctx[i], c.want)
		}
	}
}

type jsvalueStruct struct {
	A int    `json:"a"`
	B string `json:"b"`
}

// The differences on purpose: jsbridge's importer hooks (values.go) make a
// nil []string an empty array, cross Stringers as their text and other Go
// values through JSON; execjs copies only data and says which value it
// could not copy.
func TestGoToJSDifferencesOnPurpose(t *testing.T) {
	t.Parallel()
	values := []any{[]string(nil), 1500 * time.Millisecond, jsvalueStruct{A: 1, B: "x"}}
	spider, ctx, ctxErr := showBoth(t, values)
	if want := []string{"[]", "string:1.5s", `{"a":number:1,"b":string:x}`}; !equal(spider, want) {
		t.Errorf("spider: %q, want %q", spider, want)
	}
	if ctxErr[0] != nil || ctx[0] != "null" {
		t.Errorf("execjs nil []string: %q, %v", ctx[0], ctxErr[0])
	}
	if ctxErr[1] != nil || ctx[1] != "number:1500000000" {
		t.Errorf("execjs Duration: %q, %v", ctx[1], ctxErr[1])
	}
	var ce *execjs.CopyError
	if !errors.As(ctxErr[2], &ce) || ce.Path != "args[0]" {
		t.Errorf("execjs struct: %v, want a CopyError at args[0]", ctxErr[2])
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Both hosts export integral numbers as int64 by one rule (jsvalue.Int);
// only -0 differs: JSON semantics (0) in jsbridge, kept by execjs's copy.
func TestNumberRule(t *testing.T) {
	for _, c := range []struct {
		f  float64
		ok bool
	}{{3, true}, {-3, true}, {1 << 53, true}, {1<<53 + 2, false}, {1.5, false}, {math.NaN(), false}, {math.Inf(-1), false}} {
		if _, ok := jsvalue.Int(c.f); ok != c.ok {
			t.Errorf("Int(%v) ok = %v", c.f, ok)
		}
	}
}
