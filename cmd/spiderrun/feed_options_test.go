package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// itemsSpider writes a spider that yields five items from one page, and
// its spec with the extra YAML given (feeds:, settings:).
func itemsSpider(t *testing.T, extra string) (dir, spec string) {
	t.Helper()
	srv := pageServer(t)
	dir = t.TempDir()
	spec = filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, "name: books\nscript: spider.js\nstart_urls: [\""+srv.URL+"/\"]\n"+extra)
	writeFile(t, filepath.Join(dir, "spider.js"), "export function* parse(response) {\n"+
		"  for (let i = 1; i <= 5; i++) yield {id: i, name: `n${i}`, tags: ['a', 'b']};\n}\n")
	return dir, spec
}

// TestFeedOptionsRun: the options a Scrapy user brings in FEEDS, through
// the real CLI: fields as a mapping (renamed columns), item_export_kwargs,
// batch_item_count with %(batch_id)d, GzipPlugin postprocessing. The
// bytes of each format are compared with Scrapy's exporters in
// runtime/feed (TestFeedReference); here they must arrive in the files.
func TestFeedOptionsRun(t *testing.T) {
	t.Parallel()
	dir, spec := itemsSpider(t, "feeds:\n"+
		"  items.csv: {overwrite: true, fields: {name: Name, id: ID}, item_export_kwargs: {delimiter: ';', join_multivalued: '|'}}\n"+
		"  items.xml: {overwrite: true, item_export_kwargs: {item_element: book, root_element: books}, fields: [id]}\n"+
		"  \"parts/items-%(batch_id)02d.jsonl\": {batch_item_count: 2, fields: [id]}\n"+
		"  items.jsonl.gz:\n"+
		"    format: jsonlines\n"+
		"    overwrite: true\n"+
		"    fields: [id, tags]\n"+
		"    postprocessing: [scrapy.extensions.postprocessing.GzipPlugin]\n"+
		"    gzip_compresslevel: 1\n")
	if code, _, stderr := runCLI(t, "validate", spec); code != exitOK {
		t.Fatalf("validate: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", spec); code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	if got, want := readFile(t, filepath.Join(dir, "items.csv")), "Name;ID\r\nn1;1\r\nn2;2\r\nn3;3\r\nn4;4\r\nn5;5\r\n"; got != want {
		t.Errorf("items.csv: %q, want %q", got, want)
	}
	wantXML := "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<books>\n<book><id>1</id></book>\n<book><id>2</id></book>\n" +
		"<book><id>3</id></book>\n<book><id>4</id></book>\n<book><id>5</id></book>\n</books>\n"
	if got := readFile(t, filepath.Join(dir, "items.xml")); got != wantXML {
		t.Errorf("items.xml: %q, want %q", got, wantXML)
	}
	// Batches of 2: 01, 02, 03; no empty fourth file (Scrapy leaves one).
	parts, _ := filepath.Glob(filepath.Join(dir, "parts", "*"))
	if len(parts) != 3 {
		t.Fatalf("batches: %v", parts)
	}
	for i, want := range []string{"{\"id\":1}\n{\"id\":2}\n", "{\"id\":3}\n{\"id\":4}\n", "{\"id\":5}\n"} {
		name := filepath.Join(dir, "parts", "items-0"+string(rune('1'+i))+".jsonl")
		if got := readFile(t, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	z, err := os.ReadFile(filepath.Join(dir, "items.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("x", 0) + "{\"id\":1,\"tags\":[\"a\",\"b\"]}\n{\"id\":2,\"tags\":[\"a\",\"b\"]}\n{\"id\":3,\"tags\":[\"a\",\"b\"]}\n" +
		"{\"id\":4,\"tags\":[\"a\",\"b\"]}\n{\"id\":5,\"tags\":[\"a\",\"b\"]}\n"; string(plain) != want {
		t.Errorf("items.jsonl.gz decompressed: %q, want %q", plain, want)
	}
	if zr.Header.Name != "items.jsonl" {
		t.Errorf("gzip header name %q, want items.jsonl (Python's GzipFile)", zr.Header.Name)
	}
}

// TestFeedOptionsRefused: every feed option that cannot be honoured is
// refused by validate at its line:col and by run (exit 2) before the
// crawl, with what to use instead.
func TestFeedOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown kwarg", "feeds:\n  out.xml: {item_export_kwargs: {item_elem: x}}\n",
			`:5:45: feeds["out.xml"].item_export_kwargs.item_elem: not an option of the xml exporter (known: export_empty_fields, item_element, root_element)`},
		{"indent kwarg", "feeds:\n  out.json:\n    item_export_kwargs:\n      indent: 2\n",
			`:7:15: feeds["out.json"].item_export_kwargs.indent: not supported: set the feed's indent option (Scrapy raises TypeError: got multiple values for keyword argument 'indent')`},
		{"csv kwarg on json", "feeds:\n  out.json: {item_export_kwargs: {delimiter: ';'}}\n",
			`:5:46: feeds["out.json"].item_export_kwargs.delimiter: not an option of the json exporter (known: ensure_ascii, export_empty_fields, separators, sort_keys)`},
		{"bad delimiter", "feeds:\n  out.csv: {item_export_kwargs: {delimiter: ';;'}}\n",
			`:5:45: feeds["out.csv"].item_export_kwargs.delimiter: expected one character (not a line break), got ";;"`},
		{"batch without batch_id", "feeds:\n  out.jsonl: {batch_item_count: 10}\n",
			`:5:33: feeds["out.jsonl"].batch_item_count: 10: %(batch_time)s or %(batch_id)d must be in the feed URI (e.g. items-%(batch_id)d.jsonl), or every batch would replace the last`},
		{"batch setting without batch_id", "feeds:\n  out.jsonl: {}\nsettings:\n  FEED_EXPORT_BATCH_ITEM_COUNT: 3\n",
			`:7:33: settings.FEED_EXPORT_BATCH_ITEM_COUNT: feeds.out.jsonl: 3: %(batch_time)s or %(batch_id)d must be in the feed URI (e.g. items-%(batch_id)d.jsonl), or every batch would replace the last`},
		{"python plugin", "feeds:\n  out.jsonl: {postprocessing: [scrapy.extensions.postprocessing.GzipPlugin, myproject.pp.Zstd]}\n",
			`:5:77: feeds["out.jsonl"].postprocessing[1]: unknown plugin "myproject.pp.Zstd": Python plugins cannot run here; the built-in ones are scrapy.extensions.postprocessing.GzipPlugin, scrapy.extensions.postprocessing.LZMAPlugin, scrapy.extensions.postprocessing.Bz2Plugin (compress in a JS pipeline's close_spider hook for anything else)`},
		{"plugin option without plugin", "feeds:\n  out.jsonl: {gzip_compresslevel: 5}\n",
			`:5:35: feeds["out.jsonl"].gzip_compresslevel: has no effect without scrapy.extensions.postprocessing.GzipPlugin in postprocessing`},
		{"item_classes", "feeds:\n  out.jsonl: {item_classes: [myproject.items.Book]}\n",
			`:5:15: feeds["out.jsonl"].item_classes: not supported: it takes Python item classes; spiderrun items are plain objects: drop the items a feed must not get in a JS pipeline, or give each kind of item its own field and select fields`},
		{"item_filter", "feeds:\n  out.jsonl: {item_filter: myproject.filters.Mine}\n",
			`:5:15: feeds["out.jsonl"].item_filter: not supported: it takes a Python ItemFilter class; filter items in a JS pipeline (return null to drop an item) instead`},
		{"uri_params", "feeds:\n  out.jsonl: {uri_params: myproject.utils.params}\n",
			`:5:15: feeds["out.jsonl"].uri_params: not supported: it takes a Python function; feed URIs take %(name)s, %(time)s, %(batch_id)d, %(batch_time)s and every spider argument (-a NAME=VALUE) as %(NAME)s`},
		{"FEEDS setting kwarg", "settings:\n  FEEDS: {out.xml: {item_export_kwargs: {item_elem: x}}}\n",
			`:5:10: settings.FEEDS: feed "out.xml": item_export_kwargs.item_elem: not an option of the xml exporter (known: export_empty_fields, item_element, root_element)`},
		{"FEEDS setting uri_params", "settings:\n  FEEDS: {out.jsonl: {uri_params: myproject.utils.params}}\n",
			`:5:10: settings.FEEDS: feed "out.jsonl": uri_params: not supported: it takes a Python function; feed URIs take %(name)s, %(time)s, %(batch_id)d, %(batch_time)s and every spider argument (-a NAME=VALUE) as %(NAME)s`},
		{"fields twice", "feeds:\n  out.csv: {fields: [a, {a: A}]}\n",
			`:5:21: feeds["out.csv"].fields: field "a" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, spec := itemsSpider(t, tc.yaml)
			code, _, stderr := runCLI(t, "validate", spec)
			if want := spec + tc.want + "\n"; code != exitUsage || stderr != want {
				t.Errorf("validate: exit %d, stderr\n%s\nwant %d and\n%s", code, stderr, exitUsage, want)
			}
			code, _, stderr = runCLI(t, "run", spec)
			if code != exitUsage || !strings.Contains(stderr, strings.TrimPrefix(tc.want[strings.Index(tc.want, " "):], " ")) {
				t.Errorf("run: exit %d, stderr\n%s\nwant %d and %q", code, stderr, exitUsage, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("run wrote files before refusing: %v", entries)
			}
		})
	}
}

// TestFeedOptionsOutputFlags: FEED_EXPORT_FIELDS as a mapping and
// FEED_EXPORT_BATCH_ITEM_COUNT apply to -o; a batched -o without
// %(batch_id)d is refused as Scrapy refuses it.
func TestFeedOptionsOutputFlags(t *testing.T) {
	t.Parallel()
	dir, spec := itemsSpider(t, "")
	code, _, stderr := runCLI(t, "run", spec, "-s", `FEED_EXPORT_FIELDS={"name": "Title", "id": "Number"}`,
		"-s", "FEED_EXPORT_BATCH_ITEM_COUNT=3", "-O", filepath.Join(dir, "b-%(batch_id)d.csv"))
	if code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	if got, want := readFile(t, filepath.Join(dir, "b-1.csv")), "Title,Number\r\nn1,1\r\nn2,2\r\nn3,3\r\n"; got != want {
		t.Errorf("b-1.csv: %q, want %q", got, want)
	}
	if got, want := readFile(t, filepath.Join(dir, "b-2.csv")), "Title,Number\r\nn4,4\r\nn5,5\r\n"; got != want {
		t.Errorf("b-2.csv: %q, want %q", got, want)
	}
	out := filepath.Join(dir, "all.jsonl")
	code, _, stderr = runCLI(t, "run", spec, "-s", "FEED_EXPORT_BATCH_ITEM_COUNT=3", "-o", out)
	want := "spiderrun: feed " + out + ": FEED_EXPORT_BATCH_ITEM_COUNT 3: %(batch_time)s or %(batch_id)d must be in the feed URI (e.g. items-%(batch_id)d.jsonl), or every batch would replace the last\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, want)
	}
}

// TestFeedCompressedDurable: a compressed feed cannot keep the JOBDIR's
// promise (an acknowledged request's items are durable: a gzip, bz2 or xz
// stream is complete only at its end, and a killed run's file cannot be
// continued), so a crawl with a JOBDIR refuses it with what to do instead.
func TestFeedCompressedDurable(t *testing.T) {
	t.Parallel()
	dir, spec := itemsSpider(t, "feeds:\n  items.jsonl.gz: {format: jsonlines, postprocessing: [scrapy.extensions.postprocessing.GzipPlugin]}\n")
	code, _, stderr := runCLI(t, "run", spec, "-s", "JOBDIR="+filepath.Join(dir, "job"))
	if code == exitOK || !strings.Contains(stderr, "postprocessing (compression) cannot be used with --jobdir/JOBDIR or the Redis scheduler") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "items.jsonl.gz")); err == nil {
		t.Error("the refused feed was created")
	}
}

// TestFeedCompressedDurableValidate: a JOBDIR set in the spec makes
// validate refuse a compressed feed, at its postprocessing, as run does.
func TestFeedCompressedDurableValidate(t *testing.T) {
	t.Parallel()
	_, spec := itemsSpider(t, "feeds:\n  items.jsonl.gz: {format: jsonlines, postprocessing: [GzipPlugin]}\nsettings:\n  JOBDIR: job\n")
	code, _, stderr := runCLI(t, "validate", spec)
	want := spec + `:5:55: feeds["items.jsonl.gz"].postprocessing: postprocessing (compression) cannot be used with --jobdir/JOBDIR or the Redis scheduler: ` +
		"a compressed file is complete only when the crawl ends, so after a kill its items would be lost although their requests are done; " +
		"write the feed uncompressed (jsonlines) and compress it afterwards\n"
	if code != exitUsage || stderr != want {
		t.Errorf("validate: exit %d, stderr\n%s\nwant\n%s", code, stderr, want)
	}
}
