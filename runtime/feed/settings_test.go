package feed_test

import (
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

func TestFromSettings(t *testing.T) {
	yes, no, two := true, false, 2
	for _, tc := range []struct {
		in   settings.Feed
		want feed.Config
	}{
		// Options not given: the format from the extension, append, the
		// empty document stored.
		{settings.Feed{URI: "out/items.jsonl"}, feed.Config{URI: "out/items.jsonl", Format: feed.JSONLines, StoreEmpty: true}},
		{settings.Feed{URI: "items.txt", Format: "csv", Overwrite: &yes, StoreEmpty: &no, Indent: &two, Fields: []settings.KV{{Key: "a", Value: "a"}}, Encoding: "latin1"},
			feed.Config{URI: "items.txt", Format: feed.CSV, Overwrite: true, StoreEmpty: false, Indent: 2, Fields: []string{"a"}, Encoding: "latin1"}},
	} {
		got, err := feed.FromSettings(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := feed.FromSettings(settings.Feed{URI: "items"}); err == nil {
		t.Error("a feed without format or extension was accepted")
	}
}
