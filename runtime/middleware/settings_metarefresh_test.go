package middleware_test

import (
	"context"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestMetaRefreshIgnoreTagsSetting: METAREFRESH_IGNORE_TAGS reaches the
// redirect middleware: by default (Scrapy's, none) a refresh inside
// <noscript> is followed; with [noscript] it is not.
func TestMetaRefreshIgnoreTagsSetting(t *testing.T) {
	t.Parallel()
	body := `<html><noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript></html>`
	for _, tc := range []struct {
		tags []string
		want string
	}{
		{nil, "http://a.example/nojs"},
		{[]string{"noscript"}, ""},
	} {
		v := settings.Defaults()
		v.MetaRefreshIgnoreTags = tc.tags
		m := middleware.RedirectFromSettings(&v, nil)
		resp := &crawl.Response{Status: 200, URL: "http://a.example/p", Body: []byte(body),
			Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html"}}}
		res, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/p"}, resp)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if res.Request != nil {
			got = res.Request.URL
		}
		if got != tc.want {
			t.Errorf("METAREFRESH_IGNORE_TAGS %v: redirected to %q, want %q", tc.tags, got, tc.want)
		}
	}
}
