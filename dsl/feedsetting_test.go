package dsl

import (
	"reflect"
	"testing"
)

// TestFeedsSetting: FEEDS is decoded with the options and types of the
// spec's feeds: key, by the one decoder its check also runs.
func TestFeedsSetting(t *testing.T) {
	yes, two := true, 2
	s := DefaultSettings()
	if err := s.SetFromCLI(`FEEDS={"a.csv": {"overwrite": true, "indent": 2, "fields": "title", "format": null}, "b.out": {"format": "json", "fields": [1, {"x": "X"}]}, ` +
		`"c.xml": {"fields": {"a": "A"}, "batch_item_count": 2, "item_export_kwargs": {"item_element": "product"}, ` +
		`"postprocessing": ["scrapy.extensions.postprocessing.GzipPlugin"], "lzma_check": "CHECK_CRC32"}}`); err != nil {
		t.Fatal(err)
	}
	want := Feeds{
		{URI: "a.csv", FeedOptions: FeedOptions{Overwrite: &yes, Indent: &two, Fields: FeedFields{{"title", "title"}}}},
		{URI: "b.out", FeedOptions: FeedOptions{Format: "json", Fields: FeedFields{{"1", "1"}, {"x", "X"}}}},
		{URI: "c.xml", FeedOptions: FeedOptions{Fields: FeedFields{{"a", "A"}}, BatchItemCount: &two,
			ItemExportKwargs: map[string]any{"item_element": "product"}, Postprocessing: []string{"scrapy.extensions.postprocessing.GzipPlugin"}, LzmaCheck: "CHECK_CRC32"}},
	}
	if got := DecodeFeeds(s.Pairs("FEEDS")); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ value, err string }{
		{`{"a.csv": {"overwrite": "yes"}}`, `-s FEEDS: feed "a.csv": overwrite: expected true or false, got "yes"`},
		{`{"a.csv": {"indent": 1.5}}`, `-s FEEDS: feed "a.csv": indent: expected an integer, got 1.5`},
		{`{"a.csv": {"indent": -1}}`, `-s FEEDS: feed "a.csv": indent: must not be negative`},
		{`{"a.csv": {"fields": [{"a": 1, "b": 2}]}}`, `-s FEEDS: feed "a.csv": fields: [0]: expected a field name or {field: output name}, got a mapping of 2 entries`},
		{`{"a.csv": {"fields": {"a": "A", "b": "B"}}}`, `-s FEEDS: feed "a.csv": fields: a mapping of fields loses its order in the FEEDS setting: write it in the spec's feeds: key, or as a list [{field: Output name}, ...]`},
		{`{"a.csv": {"item_filter": "myproject.filters.MyFilter"}}`, `-s FEEDS: feed "a.csv": item_filter: not supported: it takes a Python ItemFilter class; filter items in a JS pipeline (return null to drop an item) instead`},
		{`{"a.csv": {"item_export_kwargs": ["a"]}}`, `-s FEEDS: feed "a.csv": item_export_kwargs: expected a mapping, got a list`},
		{`{"a.csv": {"fileds": ["a"]}}`, `-s FEEDS: feed "a.csv": unknown option "fileds" (did you mean "fields"?)`},
		{`{"a": {}}`, `-s FEEDS: feed "a": cannot tell the format from the file name; set format (jsonlines, json, csv, xml)`},
		{`{"a.csv": {"format": "yaml"}}`, `-s FEEDS: feed "a.csv": format must be one of jsonlines, jsonl, json, csv, xml, got "yaml"`},
		{`{"a.csv": "csv"}`, `-s FEEDS: feed "a.csv": options must be a mapping such as {format: jsonlines}, got string`},
	} {
		err := DefaultSettings().SetFromCLI("FEEDS=" + tc.value)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s:\n got %v\nwant %s", tc.value, err, tc.err)
		}
	}
}
