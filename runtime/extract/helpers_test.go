package extract

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func htmlResponse(url, body string, contentType ...string) *crawl.Response {
	ct := "text/html; charset=utf-8"
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	return &crawl.Response{URL: url, Status: 200, Body: []byte(body),
		Headers: crawl.Headers{{Name: "Content-Type", Value: ct}}}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustSelector(t testing.TB, text, typ string) *Selector {
	t.Helper()
	s, err := NewSelector(text, typ)
	if err != nil {
		t.Fatalf("NewSelector: %v", err)
	}
	return s
}
