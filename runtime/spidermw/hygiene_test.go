package spidermw

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// collect is an engine.Output that records what passes, as the
// reference does: request URLs, and "item" for items.
type collect struct{ got []string }

func (c *collect) Request(r *crawl.Request) { c.got = append(c.got, r.URL) }
func (c *collect) Item(*crawl.Item)         { c.got = append(c.got, "item") }
func (c *collect) Error(error)              {}

// TestURLLengthReference: URLLENGTH_LIMIT drops what Scrapy 2.8's
// UrlLengthMiddleware drops, with its INFO line word for word and its
// stat (testdata/reference/middleware, "urllength").
func TestURLLengthReference(t *testing.T) {
	var cases struct {
		URLLength []struct {
			Name  string   `json:"name"`
			Limit int      `json:"limit"`
			URLs  []string `json:"urls"`
		} `json:"urllength"`
	}
	var want struct {
		URLLength map[string]struct {
			Requests []string   `json:"requests"`
			Kept     []string   `json:"kept"`
			Log      [][]string `json:"log"`
			Ignored  int64      `json:"ignored"`
		} `json:"urllength"`
	}
	reftest.Load(t, "middleware", "cases.json", &cases)
	reftest.Load(t, "middleware", "expected.json", &want)
	if len(cases.URLLength) == 0 || len(cases.URLLength) != len(want.URLLength) {
		t.Fatalf("%d cases, %d results: regenerate", len(cases.URLLength), len(want.URLLength))
	}
	for _, c := range cases.URLLength {
		t.Run(c.Name, func(t *testing.T) {
			exp := want.URLLength[c.Name]
			var logs bytes.Buffer
			st := stats.NewMemory()
			h := NewHygiene(c.Limit, 0, 0, st, slog.New(slog.NewJSONHandler(&logs, nil)))
			out := &collect{}
			w := h.WrapOutput(nil, out)
			reqs := exp.Requests // Scrapy's escaped URLs, in order
			for _, u := range c.URLs {
				if u == "" {
					w.Item(&crawl.Item{})
					continue
				}
				w.Request(&crawl.Request{URL: reqs[0]})
				reqs = reqs[1:]
			}
			if !reflect.DeepEqual(out.got, exp.Kept) && !(len(out.got) == 0 && len(exp.Kept) == 0) {
				t.Errorf("kept %q, scrapy %q", out.got, exp.Kept)
			}
			var gotLog [][]string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if line == "" {
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				gotLog = append(gotLog, []string{fmt.Sprint(rec["level"]), fmt.Sprint(rec["msg"])})
			}
			if fmt.Sprint(gotLog) != fmt.Sprint(exp.Log) {
				t.Errorf("log %q, scrapy %q", gotLog, exp.Log)
			}
			v, _ := st.Get("urllength/request_ignored_count")
			if got, _ := v.(int64); got != exp.Ignored {
				t.Errorf("urllength/request_ignored_count %v, scrapy %d", v, exp.Ignored)
			}
		})
	}
}

// TestPathRepeats: the repeat count of a path's most repeated run.
func TestPathRepeats(t *testing.T) {
	for path, want := range map[string]int{
		"/":                              1,
		"/a/b/c":                         1,
		"/a/a":                           2,
		"/x/a/a/a":                       3,
		"/a/b/a/b/a/b/x":                 3,
		"/cal/2026/12/2026/12":           2,
		"/" + strings.Repeat("a/", 2000): 2000,
		"/" + strings.Repeat("a/b/c/d/e/f/g/h/i/", 3): 1, // a run of 9 segments is past maxRunSize
	} {
		if got := pathRepeats(path); got != want {
			t.Errorf("%.40s: %d, want %d", path, got, want)
		}
	}
}

// TestHygieneTrapsAndHostLimit: URL_PATH_REPEAT_LIMIT and
// HOST_REQUEST_LIMIT drop what they should, count it, and let the rest
// through; the capped host is logged once.
func TestHygieneTrapsAndHostLimit(t *testing.T) {
	var logs bytes.Buffer
	st := stats.NewMemory()
	h := NewHygiene(0, 2, 3, st, slog.New(slog.NewTextHandler(&logs, nil)))
	out := &collect{}
	w := h.WrapOutput(nil, out)
	for _, u := range []string{
		"https://a.test/1", "https://a.test/x/y/x/y", "https://a.test/x/y/x/y/x/y", // the third: 3 repeats > 2
		"https://A.test/2", "https://a.test/3", "https://a.test/4", "https://a.test/5", // a.test's cap is 3
		"https://b.test/1",
	} {
		w.Request(&crawl.Request{URL: u})
	}
	want := []string{"https://a.test/1", "https://a.test/x/y/x/y", "https://A.test/2", "https://b.test/1"}
	if !reflect.DeepEqual(out.got, want) {
		t.Errorf("kept %q, want %q", out.got, want)
	}
	for k, n := range map[string]int64{"traps/path_repeats_ignored_count": 1, "hostlimit/request_ignored_count": 3, "hostlimit/hosts_capped": 1} {
		v, _ := st.Get(k)
		if got, _ := v.(int64); got != n {
			t.Errorf("%s = %v, want %d", k, v, n)
		}
	}
	if strings.Count(logs.String(), "host request limit reached") != 1 {
		t.Errorf("log:\n%s", logs.String())
	}
	if NewHygiene(0, 0, 0, nil, nil) != nil {
		t.Error("with every check off the middleware should not be built")
	}
}
