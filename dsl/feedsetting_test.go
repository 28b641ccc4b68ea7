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
	if err := s.SetFromCLI(`FEEDS={"a.csv": {"overwrite": true, "indent": 2, "fields": "title", "format": null}, "b.out": {"format": "json", "fields": [1, "x"]}}`); err != nil {
		t.Fatal(err)
	}
	want := Feeds{
		{URI: "a.csv", FeedOptions: FeedOptions{Overwrite: &yes, Indent: &two, Fields: []string{"title"}}},
		{URI: "b.out", FeedOptions: FeedOptions{Format: "json", Fields: []string{"1", "x"}}},
	}
	if got := DecodeFeeds(s.Pairs("FEEDS")); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ value, err string }{
		{`{"a.csv": {"overwrite": "yes"}}`, `-s FEEDS: feed "a.csv": overwrite: expected true or false, got "yes"`},
		{`{"a.csv": {"indent": 1.5}}`, `-s FEEDS: feed "a.csv": indent: expected an integer, got 1.5`},
		{`{"a.csv": {"indent": -1}}`, `-s FEEDS: feed "a.csv": indent: must not be negative`},
		{`{"a.csv": {"fields": [{"a": 1}]}}`, `-s FEEDS: feed "a.csv": fields: [0]: expected a string, got a mapping`},
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
