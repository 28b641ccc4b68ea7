package crawl

import (
	"context"
	"testing"
)

func TestRequestContext(t *testing.T) {
	if r := RequestFromContext(context.Background()); r != nil {
		t.Fatalf("empty context gave %v", r)
	}
	want := &Request{URL: "http://a.test/"}
	if got := RequestFromContext(WithRequest(context.Background(), want)); got != want {
		t.Fatalf("got %v, want the same request back", got)
	}
}
