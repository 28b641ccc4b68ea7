package jsbridge

import (
	"context"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestRequestKindOption checks the kind option from JS (testdata/
// request_kind.js) and what reaches the engine.
func TestRequestKindOption(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "request_kind.js", nil)
	rec, err := call(t, s, "kinds")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{crawl.KindFetch, crawl.KindXHR, ""}
	if len(rec.reqs) != len(want) {
		t.Fatalf("output %s", rec)
	}
	for i, r := range rec.reqs {
		if r.Kind != want[i] {
			t.Errorf("request %d (%s): kind %q, want %q", i, r.URL, r.Kind, want[i])
		}
	}
}

// TestRequestCredentialsOption checks the credentials option from JS and
// what reaches the engine.
func TestRequestCredentialsOption(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "request_kind.js", nil)
	rec, err := call(t, s, "credentials")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{crawl.CredentialsInclude, crawl.CredentialsSameOrigin, ""}
	if len(rec.reqs) != len(want) {
		t.Fatalf("output %s", rec)
	}
	for i, r := range rec.reqs {
		if r.Credentials != want[i] {
			t.Errorf("request %d (%s): credentials %q, want %q", i, r.URL, r.Credentials, want[i])
		}
	}
}

func TestFromResponseKind(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "request_kind.js", nil)
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := htmlResponse("http://example.test/page", "fromForm", `<html><form action="/s"><input name="q"></form></html>`)
	if err := s.Callback(ctx, resp, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.reqs) != 1 || rec.reqs[0].Kind != crawl.KindForm {
		t.Fatalf("output %s", rec)
	}
}
