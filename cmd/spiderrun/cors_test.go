package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestCORSThroughCrawl runs a spider whose page calls an API on another
// origin (kind fetch, a JSON PUT, credentials include), impersonating
// chrome_156, through `spiderrun run`: the allowed call reaches its
// callback after the browser's preflight; the refused one reaches its
// errback with a failure that says why, and the server never sees it.
func TestCORSThroughCrawl(t *testing.T) {
	var srv *fingerprint.Server
	srv, err := fingerprint.Start(fingerprint.Config{Answer: func(c fingerprint.Capture) fingerprint.Answer {
		switch {
		case c.Path == "/":
			return fingerprint.Answer{ContentType: "text/html", Body: []byte("<!doctype html><title>app</title>")}
		case c.Method == "OPTIONS" && c.Path == "/api/ok":
			return fingerprint.Answer{Status: 204, Headers: crawl.Headers{
				{Name: "Access-Control-Allow-Origin", Value: c.Headers.Get("origin")},
				{Name: "Access-Control-Allow-Credentials", Value: "true"},
				{Name: "Access-Control-Allow-Methods", Value: "PUT"},
				{Name: "Access-Control-Allow-Headers", Value: "content-type"}}}
		case c.Method == "OPTIONS":
			return fingerprint.Answer{Status: 204}
		}
		return fingerprint.Answer{ContentType: "application/json", Body: []byte(`{"saved":true}`)}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export async function* start() {
  yield new Request({ url: spider.args.page, callback: parse });
}
export function* parse(response) {
  for (const path of ["/api/ok", "/api/no"]) {
    yield new Request({ url: spider.args.api + path, method: "PUT", json: { item: 42 },
      kind: "fetch", credentials: "include", callback: api, errback: refused });
  }
}
export function api(response) {
  return { url: response.url, saved: response.json().saved };
}
export function refused(failure) {
  return { url: failure.request.url, refused: failure.message };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: cors\nscript: spider.js\nsettings:\n  ROBOTSTXT_OBEY: false\n  IMPERSONATE: chrome_156\n  TLS_VERIFY: false\n  RETRY_ENABLED: false\n")
	page, api := srv.URL("localhost", "/"), strings.TrimSuffix(srv.URL("127.0.0.1", "/"), "/")
	items, _ := runItems(t, spec, "-a", "page="+page, "-a", "api="+api)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[strings.TrimPrefix(fmt.Sprint(it["url"]), api)] = it
	}
	if it := got["/api/ok"]; it == nil || it["saved"] != true {
		t.Errorf("allowed call: %v", it)
	}
	if it := got["/api/no"]; it == nil || !strings.Contains(fmt.Sprint(it["refused"]), "CORS preflight refused by "+api+"/api/no") ||
		!strings.Contains(fmt.Sprint(it["refused"]), "no Access-Control-Allow-Origin") {
		t.Errorf("refused call: %v", it)
	}
	// Captures are recorded once answered, by the connection's goroutine,
	// so the PUT's can land before its preflight's: compare the sets.
	seen := map[string][]string{}
	for _, c := range srv.Captures() {
		seen[c.Path] = append(seen[c.Path], c.Method)
	}
	for _, methods := range seen {
		slices.Sort(methods)
	}
	if !slices.Equal(seen["/api/ok"], []string{"OPTIONS", "PUT"}) || !slices.Equal(seen["/api/no"], []string{"OPTIONS"}) {
		t.Errorf("the server saw %v", seen)
	}
	for _, c := range srv.Captures() {
		if c.Path == "/api/ok" && c.Method == "PUT" && (c.Headers.Get("origin") != strings.TrimSuffix(page, "/") || c.Headers.Get("sec-fetch-mode") != "cors") {
			t.Errorf("the PUT: %v", c.Headers)
		}
	}
}
