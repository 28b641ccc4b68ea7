package middleware

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
)

type robotsReference struct {
	Allowed    map[string]string   `json:"allowed"`
	CrawlDelay map[string]*float64 `json:"crawl_delay"`
	Sitemaps   []string            `json:"sitemaps"`
	// URLs and Agents of a real file (real/*.txt), built by gen.py from
	// its own rules.
	URLs   []string `json:"urls"`
	Agents []string `json:"agents"`
}

// robotsDifferences are the files where we differ from Protego on
// purpose (specs/scrapy-differences.md): check says what we do instead.
var robotsDifferences = map[string]struct {
	why   string
	check func(r *robotsRules) bool
}{
	"bom.txt": {"a leading UTF-8 byte order mark is skipped; Protego reads it as part of the first field, drops the User-agent line and allows everything",
		func(r *robotsRules) bool {
			return !r.allowed("http://www.example.com/bom", "Scrapy/2.8.0 (+https://scrapy.org)") &&
				r.allowed("http://www.example.com/other", "Scrapy/2.8.0 (+https://scrapy.org)")
		}},
}

// TestRobotsReference compares our robots.txt parser with Protego, Scrapy
// 2.8's default ROBOTSTXT_PARSER, on every file x URL x user agent of
// testdata/reference/robots.
func TestRobotsReference(t *testing.T) {
	t.Parallel()
	var cases struct {
		Files  []string `json:"files"`
		Real   []string `json:"real"`
		Agents []string `json:"agents"`
		URLs   []string `json:"urls"`
	}
	var want map[string]robotsReference
	reftest.Load(t, "robots", "cases.json", &cases)
	reftest.Load(t, "robots", "expected.json", &want)
	var names []string
	names = append(names, cases.Files...)
	for _, n := range cases.Real {
		names = append(names, "real/"+n)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join(reftest.Dir("robots"), name))
			if err != nil {
				t.Fatal(err)
			}
			exp, ok := want[name]
			if !ok {
				t.Fatal("no expected result: regenerate")
			}
			rules := parseRobots(body)
			agents, urls := cases.Agents, cases.URLs
			if exp.URLs != nil {
				agents, urls = exp.Agents, exp.URLs
			}
			if d, ok := robotsDifferences[name]; ok {
				if !d.check(rules) {
					t.Errorf("differs from Protego on purpose (%s), but not as intended", d.why)
				}
				return
			}
			for _, agent := range agents {
				var got strings.Builder
				for _, u := range urls {
					if rules.allowed(u, agent) {
						got.WriteByte('1')
					} else {
						got.WriteByte('0')
					}
				}
				if g, w := got.String(), exp.Allowed[agent]; g != w {
					for i, u := range urls {
						if i < len(w) && g[i] != w[i] {
							t.Errorf("agent %q, %s: allowed=%c, protego %c", agent, u, g[i], w[i])
						}
					}
				}
				d, has := rules.crawlDelay(agent)
				if w := exp.CrawlDelay[agent]; (w == nil) != !has || w != nil && *w != d {
					t.Errorf("agent %q: crawl delay %v (%v), protego %v", agent, d, has, w)
				}
			}
			if got := rules.sitemaps; !reflect.DeepEqual(got, exp.Sitemaps) && len(got)+len(exp.Sitemaps) > 0 {
				t.Errorf("sitemaps %q, protego %q", got, exp.Sitemaps)
			}
		})
	}
}
