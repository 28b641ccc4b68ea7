package settings_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

func TestKVText(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"text/html", "text/html"},
		{int64(1), "1"},
		{1.5, "1.5"},
		{true, "true"},
	} {
		if got := (settings.KV{Key: "k", Value: tc.v}).Text(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestDefaultsAreFresh: a caller may change the slices it got.
func TestDefaultsAreFresh(t *testing.T) {
	a := settings.Defaults()
	a.RetryHTTPCodes[0] = 0
	a.DefaultRequestHeaders[0].Key = "x"
	b := settings.Defaults()
	if b.RetryHTTPCodes[0] != 500 || b.DefaultRequestHeaders[0].Key != "Accept" {
		t.Fatal("Defaults shares its slices between calls")
	}
}
