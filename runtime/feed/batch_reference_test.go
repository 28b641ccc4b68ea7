package feed_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFeedBatchReference runs batched feeds (batch_item_count,
// FEED_EXPORT_BATCH_ITEM_COUNT, %(batch_id)d URIs, postprocessing) the
// way the crawler configures them (Options.FromSettings) and compares
// every file with the ones Scrapy 2.8's FeedExporter left for the same
// FEEDS entry (testdata/reference/feeds/batches.json; compressed files
// compared decompressed). Where Scrapy differs on purpose: its trailing
// batch opened after the last full one (an empty file, or the empty
// document with store_empty) is not written here, and json and xml files
// end with a line break (specs/scrapy-differences.md).
func TestFeedBatchReference(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name     string          `json:"name"`
		URI      string          `json:"uri"`
		Items    int             `json:"items"`
		Settings map[string]int  `json:"settings"`
		Feed     json.RawMessage `json:"feed"`
	}
	var want map[string]map[string]string
	reftest.Load(t, "feeds", "batches.json", &cases)
	reftest.Load(t, "feeds", "expected_batches.json", &want)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			var opts struct {
				Format            string          `json:"format"`
				BatchItemCount    *int            `json:"batch_item_count"`
				StoreEmpty        *bool           `json:"store_empty"`
				Fields            json.RawMessage `json:"fields"`
				ItemExportKwargs  map[string]any  `json:"item_export_kwargs"`
				Postprocessing    []string        `json:"postprocessing"`
				GzipCompresslevel *int            `json:"gzip_compresslevel"`
			}
			if err := json.Unmarshal(c.Feed, &opts); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			f := settings.Feed{URI: filepath.Join(dir, c.URI), Format: opts.Format, BatchItemCount: opts.BatchItemCount,
				StoreEmpty: opts.StoreEmpty, ItemExportKwargs: opts.ItemExportKwargs, Postprocessing: opts.Postprocessing,
				GzipCompresslevel: opts.GzipCompresslevel}
			names, rename := orderedFields(t, opts.Fields)
			for _, n := range names {
				out := n
				if o, ok := rename[n]; ok {
					out = o
				}
				f.Fields = append(f.Fields, settings.KV{Key: n, Value: out})
			}
			no := false
			if f.StoreEmpty == nil {
				f.StoreEmpty = &no // Scrapy 2.8's FEED_STORE_EMPTY
			}
			cfg, err := feed.Options{BatchItemCount: c.Settings["FEED_EXPORT_BATCH_ITEM_COUNT"]}.FromSettings(f)
			if err != nil {
				t.Fatal(err)
			}
			var items []*crawl.Item
			for i := 1; i <= c.Items; i++ {
				items = append(items, crawl.NewItem("id", int64(i), "name", "n"+string(rune('0'+i))))
			}
			export(t, cfg, nil, items)

			got := map[string]string{}
			filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				for i := len(cfg.Postprocessing) - 1; i >= 0; i-- {
					if b, err = decompress(cfg.Postprocessing[i].Name, b); err != nil {
						t.Fatalf("%s: %v", path, err)
					}
				}
				rel, _ := filepath.Rel(dir, path)
				got[filepath.ToSlash(rel)] = string(b)
				return nil
			})
			scrapy := want[c.Name]
			var files []string
			for name := range scrapy {
				files = append(files, name)
			}
			sort.Strings(files)
			for i, name := range files {
				w := scrapy[name]
				if _, ok := got[name]; !ok && i == len(files)-1 && isEmptyDocument(w) {
					t.Logf("differs from Scrapy on purpose: no file for the batch after the last full one (Scrapy leaves %s: %q)", name, w)
					continue
				}
				if cfg.Format == feed.JSON || cfg.Format == feed.XML {
					w += "\n"
				}
				if got[name] != w {
					t.Errorf("%s:\n got:    %q\n scrapy: %q", name, got[name], w)
				}
				delete(got, name)
			}
			for name, b := range got {
				t.Errorf("%s: written (%q), Scrapy wrote no such file", name, b)
			}
		})
	}
}

// isEmptyDocument reports a file Scrapy leaves for a batch without items:
// empty, or the empty document of its format.
func isEmptyDocument(s string) bool {
	return s == "" || s == "[\n\n]" || strings.HasPrefix(s, "<?xml") && strings.Count(s, "\n") <= 2
}
