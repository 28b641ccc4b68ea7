package jsbridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestSpiderMiddlewareHooks checks process_spider_input, _output and
// _exception in Scrapy's order: inputs engine side first, outputs and
// exceptions spider side first, and a handled exception's output passing
// only the output hooks of the middlewares closer to the engine.
func TestSpiderMiddlewareHooks(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "spidermw.js", func(o *Options) {
		o.SpiderMiddlewares = []SpiderMiddleware{
			{ProcessSpiderInput: "a_input", ProcessSpiderOutput: "a_output", ProcessSpiderException: "a_exception"},
			{ProcessSpiderInput: "b_input", ProcessSpiderOutput: "b_output", ProcessSpiderException: "b_exception"},
		}
	})
	for _, tc := range []struct {
		name, url, callback string
		want, wantErr       string
	}{
		{"both outputs, spider side first", "http://x.test/ok", "parse", `I {"page":"http://x.test/ok","b":true,"a":true}`, ""},
		{"callback error handled by b, output through a only", "http://x.test/boom", "parse",
			`I {"recovered_by":"b","error":"callback failed","a":true}`, ""},
		{"input error unhandled: no callback", "http://x.test/reject", "parse", "", "Error: rejected by a"},
		{"input error handled by a: no output hook after it", "http://x.test/reject-recover", "parse",
			`I {"recovered_by":"a","error":"rejected by a: recover-a"}`, ""},
		{"async input error", "http://x.test/async-fail", "parse", "", "Error: rejected async by b"},
		{"error midway keeps earlier output", "http://x.test/m", "parse_midway", `I {"n":1,"b":true,"a":true}`, "TypeError: midway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			err := s.Callback(t.Context(), htmlResponse(tc.url, tc.callback, "<title>t</title>"), rec)
			if got := rec.String(); got != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
			gotErr := ""
			if err != nil {
				var je *Error
				if errors.As(err, &je) {
					gotErr = je.Type + ": " + je.Message
				} else {
					gotErr = err.Error()
				}
			}
			if gotErr != tc.wantErr {
				t.Errorf("error %q, want %q", gotErr, tc.wantErr)
			}
		})
	}
	t.Run("errbacks skip the input hooks", func(t *testing.T) {
		rec := &recorder{}
		req := &crawl.Request{URL: "http://x.test/reject", Errback: "errback"}
		if _, err := s.Errback(t.Context(), crawl.NewFailure(crawl.TimeoutError, req, errors.New("slow")), rec); err != nil {
			t.Fatal(err)
		}
		if got, want := rec.String(), `I {"errback":"TimeoutError","b":true,"a":true}`; got != want {
			t.Errorf("output %s, want %s", got, want)
		}
	})
}

func TestSpiderMiddlewareUnknownFunction(t *testing.T) {
	t.Parallel()
	for _, mw := range []SpiderMiddleware{{ProcessSpiderInput: "nope"}, {ProcessSpiderException: "nope"}} {
		p, err := compile.Compile(compile.Source{Filename: "testdata/spidermw.js", Path: "testdata/spidermw.js"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(Options{Program: p, Name: "x", Logger: newTestLogger(&logBuffer{}), SpiderMiddlewares: []SpiderMiddleware{mw}})
		if err == nil || !strings.Contains(err.Error(), `spider_middlewares[0].process_spider_`) || !strings.Contains(err.Error(), `"nope" is not an exported function`) {
			t.Errorf("%+v: %v", mw, err)
		}
	}
}
