package jsbridge

import (
	"context"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestOutputShapes drives every return shape of DESIGN.md §1 and checks
// the emitted sequence (requests, items in field order, errors).
func TestOutputShapes(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "shapes.js", nil)
	tests := []struct {
		callback string
		want     string
		wantErr  string
	}{
		{"none", "", ""},
		{"nul", "", ""},
		{"one_request", "R GET http://example.test/1", ""},
		{"one_item", `I {"b":2,"a":1,"nested":{"z":[1,"x",null,true]}}`, ""},
		{"map_item", `I {"k2":2,"k1":1}`, ""},
		{"class_item", `I {"text":"t","author":"a"}`, ""},
		{"error_value", "I {\"n\":1}\nE testdata/shapes.js:14:51: TypeError: bad page (callback error_value on http://example.test/page)\nI {\"n\":2}", ""},
		{"array", "R GET http://example.test/1\nI {\"n\":1}\nR GET http://example.test/2", ""},
		{"generator", "R GET http://example.test/1\nI {\"n\":1}\nR GET http://example.test/2\nI {\"n\":2}", ""},
		{"promise", "R GET http://example.test/1\nI {\"n\":1}", ""},
		{"async_fn", `I {"n":1}`, ""},
		{"async_gen", "R GET http://example.test/1\nI {\"n\":1}\nR GET http://example.test/2\nI {\"n\":2}\nI {\"n\":3}", ""},
		{"iterator", "I {\"i\":0}\nI {\"i\":1}", ""},
		{"set_of_requests", "R GET http://example.test/1\nR GET http://example.test/2", ""},
		{"throws_midway", "I {\"n\":1}\nR GET http://example.test/1", "testdata/shapes.js:31:72: RangeError: boom (callback throws_midway on http://example.test/page)"},
		{"async_throws_midway", `I {"n":1}`, "testdata/shapes.js:32:81: TypeError: Cannot read property 'x' of undefined (callback async_throws_midway on http://example.test/page)"},
		{"bad_string", "E testdata/shapes.js:33:17: TypeError: callback bad_string yielded a string (just a string); want a Request, an item object, or an iterable of them (callback bad_string on http://example.test/page)\nI {\"n\":1}", ""},
		{"this_is_spider", `I {"same":true,"name":"test"}`, ""},
		{"kwargs", `I {"kw":{}}`, ""},
		{"async_paths", "I {\"caught\":\"caught\"}\nI {\"caught2\":\"yield-rejected\"}\nI {\"star\":1}\nI {\"star\":2}\nI {\"star\":3}\nI {\"awaited\":4}", ""},
		{"partly_consumed", "I {\"n\":2}\nI {\"n\":3}", ""},
		{"rejected_return", `I {"n":1}`, "testdata/shapes.js:64:82: RangeError: late (callback rejected_return on http://example.test/page)"},
		{"lowered_tag", `I {"tagged":true,"after_next":false}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.callback, func(t *testing.T) {
			t.Parallel()
			rec, err := call(t, s, tc.callback)
			if got := rec.String(); got != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
			gotErr := ""
			if err != nil {
				gotErr = firstLine(err.Error())
			}
			if gotErr != tc.wantErr {
				t.Errorf("error:\n%s\nwant:\n%s", gotErr, tc.wantErr)
			}
		})
	}
}

// TestItemValues checks that values that are not JSON data are rejected
// with the field path (RELIABILITY.md J09), and that the rest of the page's
// output is kept.
func TestItemValues(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "item_errors.js", nil)
	tests := []struct{ callback, want string }{
		{"cyclic", "item.b.c: cyclic reference"},
		{"fn_field", "item.a.f: a function is not data"},
		{"bigint", "item.n: a BigInt is not valid JSON"},
		{"nan", "item.x[1]: NaN is not valid JSON"},
		{"keeps_others", "I {\"ok\":1}\nE"},
		{"dates", `I {"d":"1970-01-01T00:00:00.000Z","bytes":"hi"}`},
	}
	for _, tc := range tests {
		t.Run(tc.callback, func(t *testing.T) {
			t.Parallel()
			rec, err := call(t, s, tc.callback)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.String(); !strings.Contains(got, tc.want) {
				t.Errorf("output:\n%s\nwant it to contain %q", got, tc.want)
			}
		})
	}
}

// TestManyYields: a long async generator streams with constant driver
// state (no promise chain growing with the number of values).
func TestManyYields(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "shapes.js", nil)
	out := &countOutput{}
	req := &crawl.Request{URL: "http://example.test/", Callback: "many", CbKwargs: map[string]any{"n": int64(20000)}}
	if err := s.Callback(context.Background(), &crawl.Response{URL: req.URL, Status: 200, Request: req}, out); err != nil {
		t.Fatal(err)
	}
	if out.items != 20000 || out.errs != 0 {
		t.Errorf("items %d errors %d", out.items, out.errs)
	}
}
