package extract

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
)

type sitemapReference struct {
	Sitemaps map[string]map[string]any `json:"sitemaps"`
	Robots   []struct {
		URLs      []string `json:"urls"`
		Requested []string `json:"requested"`
	} `json:"robots"`
	GzipMagic map[string]bool `json:"gzip_magic"`
}

type sitemapCases struct {
	Sitemaps []string `json:"sitemaps"`
	Robots   []struct {
		File string `json:"file"`
		Base string `json:"base"`
	} `json:"robots"`
	GzipMagic []string `json:"gzip_magic"`
}

// sitemapDifferences are the fixtures where we differ from Scrapy on
// purpose (specs/scrapy-differences.md).
var sitemapDifferences = map[string]string{}

// entryMap is a SitemapEntry as Scrapy's Sitemap yields it: a dict of the
// child elements' text, "alternate" the list of link hrefs.
func entryMap(e SitemapEntry) map[string]any {
	m := map[string]any{"loc": e.Loc}
	for k, v := range e.Fields {
		m[k] = v
	}
	if len(e.Alternate) > 0 {
		alt := make([]any, len(e.Alternate))
		for i, a := range e.Alternate {
			alt[i] = a
		}
		m["alternate"] = alt
	}
	return m
}

// TestSitemapReference compares ParseSitemap, SitemapURLsFromRobots and
// IsGzip with Scrapy 2.8's Sitemap, sitemap_urls_from_robots and
// gzip_magic_number on testdata/reference/sitemap.
func TestSitemapReference(t *testing.T) {
	t.Parallel()
	var cases sitemapCases
	var want sitemapReference
	reftest.Load(t, "sitemap", "cases.json", &cases)
	reftest.Load(t, "sitemap", "expected.json", &want)
	for _, name := range cases.Sitemaps {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join(reftest.Dir("sitemap"), name))
			if err != nil {
				t.Fatal(err)
			}
			exp, ok := want.Sitemaps[name]
			if !ok {
				t.Fatal("no expected result: regenerate")
			}
			got := map[string]any{}
			sm, err := ParseSitemap(body)
			if err != nil {
				got["error"] = err.Error()
			} else {
				entries := []any{}
				for _, e := range sm.Entries {
					entries = append(entries, entryMap(e))
				}
				got["type"], got["entries"] = sm.Type, entries
			}
			if why, ok := sitemapDifferences[name]; ok {
				t.Logf("differs from Scrapy on purpose: %s\n got: %v\nscrapy: %v", why, got, exp)
				return
			}
			if _, e := exp["error"]; e {
				if _, g := got["error"]; !g {
					t.Errorf("got %v, scrapy raised %v", jsonString(got), exp["error"])
				}
				return
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("\n got    %s\n scrapy %s", jsonString(got), jsonString(exp))
			}
		})
	}
	for i, c := range cases.Robots {
		text, err := os.ReadFile(filepath.Join(reftest.Dir("sitemap"), c.File))
		if err != nil {
			t.Fatal(err)
		}
		got := SitemapURLsFromRobots(string(text), c.Base)
		if got == nil {
			got = []string{}
		}
		// Scrapy yields raw URLs that its Request makes safe; ours are
		// made safe at once.
		if !reflect.DeepEqual(got, want.Robots[i].Requested) {
			t.Errorf("sitemap_urls_from_robots(%s, %s):\n got    %q\n scrapy %q", c.File, c.Base, got, want.Robots[i].Requested)
		}
	}
	for _, h := range cases.GzipMagic {
		b, _ := hex.DecodeString(h)
		if got := IsGzip(b); got != want.GzipMagic[h] {
			t.Errorf("IsGzip(%s) = %v, scrapy's gzip_magic_number %v", h, got, want.GzipMagic[h])
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
