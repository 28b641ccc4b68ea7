package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/dsl"
)

func init() { register(newNewCmd) }

var spiderNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func newNewCmd() *cobra.Command {
	var tmpl, dir string
	cmd := &cobra.Command{
		Use:   "new NAME DOMAIN",
		Short: "Create a spider: NAME/spider.yaml and NAME/NAME.js",
		Long: `New writes a working spider skeleton (like scrapy genspider) into the
directory NAME: spider.yaml and NAME.js. Templates: basic (parse pages and
follow a next link), crawl (CrawlSpider rules), redis (a RedisSpider fed by
spiderrun push).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, domain := args[0], args[1]
			if !spiderNameRe.MatchString(name) {
				return usageErr(fmt.Errorf("spider name %q: use letters, digits, _ and - only", name))
			}
			host, err := hostOf(domain)
			if err != nil {
				return usageErr(err)
			}
			t, ok := newTemplates[tmpl]
			if !ok {
				return usageErr(fmt.Errorf("unknown template %q (basic, crawl, redis)", tmpl))
			}
			target := filepath.Join(dir, name)
			files := map[string]string{
				"spider.yaml": t.spec,
				name + ".js":  t.script,
			}
			for f := range files {
				if _, err := os.Stat(filepath.Join(target, f)); err == nil {
					return failErr(fmt.Errorf("%s already exists; not overwriting", filepath.Join(target, f)))
				}
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return failErr(fmt.Errorf("create %s: %w", target, err))
			}
			data := map[string]string{"Name": name, "Domain": host, "SchemaID": dsl.SchemaID, "Template": tmpl}
			for _, f := range []string{"spider.yaml", name + ".js"} {
				var b strings.Builder
				if err := template.Must(template.New(f).Parse(files[f])).Execute(&b, data); err != nil {
					return failErr(fmt.Errorf("render %s: %w", f, err))
				}
				if err := os.WriteFile(filepath.Join(target, f), []byte(b.String()), 0o644); err != nil {
					return failErr(fmt.Errorf("write %s: %w", f, err))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (template %s)\nrun it:  spiderrun run %s -o items.jsonl\n",
				filepath.Join(target, "spider.yaml"), tmpl, filepath.Join(target, "spider.yaml"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&tmpl, "template", "t", "basic", "template: basic, crawl or redis")
	cmd.Flags().StringVar(&dir, "dir", ".", "directory in which to create NAME/")
	return cmd
}

// hostOf accepts a domain or a URL (as scrapy genspider does) and returns
// the host name.
func hostOf(domain string) (string, error) {
	d := strings.TrimSpace(domain)
	if strings.Contains(d, "://") {
		u, err := url.Parse(d)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("domain %q: not a host name or URL", domain)
		}
		d = u.Hostname()
	}
	d = strings.ToLower(strings.TrimSuffix(d, "/"))
	if d == "" || strings.ContainsAny(d, "/:?# ") {
		return "", errors.New("domain " + fmt.Sprintf("%q", domain) + ": write a host name such as example.com")
	}
	return d, nil
}

type spiderTemplate struct{ spec, script string }

var newTemplates = map[string]spiderTemplate{
	"basic": {
		spec: `# yaml-language-server: $schema={{.SchemaID}}
# Spider {{.Name}}: see specs/spec.md for every key and specs/settings.md for settings.
name: {{.Name}}
start_urls: [https://{{.Domain}}/]
allowed_domains: [{{.Domain}}]
script: {{.Name}}.js
settings:
  ROBOTSTXT_OBEY: true
  CONCURRENT_REQUESTS_PER_DOMAIN: 4
  DOWNLOAD_DELAY: 0.5
`,
		script: `// Callbacks of the {{.Name}} spider (see specs/js-api.md).

// parse receives each start_urls response; yield items (plain objects) and
// requests. Requests are scheduled as soon as they are yielded.
export async function* parse(response) {
  yield {
    url: response.url,
    title: response.css("title::text").get(),
  };
  const next = response.css("a[rel=next]::attr(href)").get();
  if (next) {
    yield response.follow(next, { callback: parse });
  }
}
`,
	},
	"crawl": {
		spec: `# yaml-language-server: $schema={{.SchemaID}}
# CrawlSpider {{.Name}}: the rules decide which links to follow and parse.
name: {{.Name}}
start_urls: [https://{{.Domain}}/]
allowed_domains: [{{.Domain}}]
script: {{.Name}}.js
rules:
  # Follow listing pages (no callback: follow defaults to true).
  - link_extractor:
      allow: ['/page/\d+/']
  # Parse detail pages with parse_item.
  - link_extractor:
      allow: ['/item/']
    callback: parse_item
settings:
  ROBOTSTXT_OBEY: true
  DEPTH_LIMIT: 5
`,
		script: `// Callbacks of the {{.Name}} CrawlSpider (see specs/crawling.md).

// parse_item receives the responses of links taken by the second rule.
export function parse_item(response) {
  return {
    url: response.url,
    title: response.css("h1::text").get(),
  };
}
`,
	},
	"redis": {
		spec: `# yaml-language-server: $schema={{.SchemaID}}
# RedisSpider {{.Name}}: feed it with  spiderrun push spider.yaml URL...
name: {{.Name}}
redis_key: {{.Name}}:start_urls
allowed_domains: [{{.Domain}}]
script: {{.Name}}.js
settings:
  SCHEDULER: redis
  REDIS_URL: redis://127.0.0.1:6379/0
  SCHEDULER_PERSIST: true
  MAX_IDLE_TIME_BEFORE_CLOSE: 60
`,
		script: `// Callbacks of the {{.Name}} RedisSpider (see specs/distributed.md).
// Each task pushed to {{.Name}}:start_urls (a URL, or JSON with url) is
// downloaded and parsed here.
export function parse(response) {
  return {
    url: response.url,
    title: response.css("title::text").get(),
  };
}
`,
	},
}
