package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"golang.org/x/net/idna"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
)

func init() { register(newNewCmd) }

var spiderNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func newNewCmd() *cobra.Command {
	var tmpl, dir string
	cmd := &cobra.Command{
		Use:   "new NAME URL",
		Short: "Create a spider: NAME/spider.yaml and NAME/NAME.js (or NAME.ts)",
		Long: `New writes a working spider skeleton (like scrapy genspider) into the
directory NAME: spider.yaml and NAME.js. Templates: basic (parse pages and
follow a next link), crawl (CrawlSpider rules), redis (a RedisSpider fed by
spiderrun push), ts (basic in TypeScript: NAME.ts with a typed item, plus
spiderrun.d.ts and a strict tsconfig.json, so that tsc -p NAME and
spiderrun validate type-check it).

URL is the start URL and is kept as given: scheme, port, path and query
(http://127.0.0.1:8080/shop/?page=1 stays exactly that). Without a scheme,
https:// is put in front, as scrapy genspider does since Scrapy 2.10
(Scrapy 2.8 wrote http://DOMAIN/ whatever the URL): example.com becomes
https://example.com/ and localhost:8080/x becomes https://localhost:8080/x.
allowed_domains gets the URL's host name without the port (an
internationalized name is listed both as written and in its xn-- form).
Only http and https URLs are accepted.

Examples:
  spiderrun new quotes https://quotes.toscrape.com/
  spiderrun new local http://127.0.0.1:8000/catalogue/
  spiderrun new books books.toscrape.com --template crawl
  spiderrun new shop https://shop.example.com/ --template ts`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !spiderNameRe.MatchString(name) {
				return usageErr(fmt.Errorf("spider name %q: use letters, digits, _ and - only", name))
			}
			start, domains, err := startURLOf(args[1])
			if err != nil {
				return usageErr(err)
			}
			t, ok := newTemplates[tmpl]
			if !ok {
				return usageErr(fmt.Errorf("unknown template %q (basic, crawl, redis, ts)", tmpl))
			}
			target := filepath.Join(dir, name)
			scriptName := name + ".js"
			if t.typescript {
				scriptName = name + ".ts"
			}
			files := map[string]string{
				"spider.yaml": t.spec,
				scriptName:    t.script,
			}
			// Written as they are, not as templates.
			plain := map[string][]byte{}
			all := []string{"spider.yaml", scriptName}
			if t.typescript {
				plain["spiderrun.d.ts"] = jsbridge.Declarations()
				plain["tsconfig.json"] = []byte(tsconfig(scriptName, "spiderrun.d.ts"))
				all = append(all, "spiderrun.d.ts", "tsconfig.json")
			}
			for _, f := range all {
				if _, err := os.Stat(filepath.Join(target, f)); err == nil {
					return failErr(fmt.Errorf("%s already exists; not overwriting", filepath.Join(target, f)))
				}
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return failErr(fmt.Errorf("create %s: %w", target, err))
			}
			data := map[string]string{
				"Name": name, "StartURL": yamlString(start), "AllowedDomains": yamlList(domains),
				"RedisKey": yamlString(name + ":start_urls"), "SchemaID": dsl.SchemaID, "Template": tmpl,
			}
			for _, f := range []string{"spider.yaml", scriptName} {
				var b strings.Builder
				if err := template.Must(template.New(f).Parse(files[f])).Execute(&b, data); err != nil {
					return failErr(fmt.Errorf("render %s: %w", f, err))
				}
				if err := os.WriteFile(filepath.Join(target, f), []byte(b.String()), 0o644); err != nil {
					return failErr(fmt.Errorf("write %s: %w", f, err))
				}
			}
			for _, f := range all[2:] {
				if err := os.WriteFile(filepath.Join(target, f), plain[f], 0o644); err != nil {
					return failErr(fmt.Errorf("write %s: %w", f, err))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (template %s, start URL %s)\nrun it:  spiderrun run %s -o items.jsonl\n",
				filepath.Join(target, "spider.yaml"), tmpl, start, filepath.Join(target, "spider.yaml"))
			if t.typescript {
				fmt.Fprintf(cmd.OutOrStdout(), "check its types:  tsc -p %s  (or spiderrun validate, which runs tsc when it is on the PATH)\n", target)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&tmpl, "template", "t", "basic", "template: basic, crawl, redis or ts")
	cmd.Flags().StringVar(&dir, "dir", ".", "directory in which to create NAME/")
	return cmd
}

// startURLOf turns new's URL argument into the start URL, kept as the
// user wrote it (https:// put in front when there is no scheme, "/" added
// when there is no path, query or fragment), and the allowed_domains
// entries: the host name without port, lowercased, and for an
// internationalized name also its ASCII (xn--) form, so the offsite filter
// matches links written either way.
func startURLOf(arg string) (start string, domains []string, err error) {
	s := strings.TrimSpace(arg)
	if s == "" {
		return "", nil, errors.New("URL is empty: write a start URL such as https://example.com/")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + strings.TrimPrefix(s, "//")
	}
	u, perr := url.Parse(s)
	if perr != nil {
		return "", nil, fmt.Errorf("URL %q: %v", arg, unwrapURLError(perr))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return "", nil, fmt.Errorf("URL %q: scheme %q is not supported (use http or https)", arg, u.Scheme)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", nil, fmt.Errorf("URL %q has no host: write a start URL such as https://example.com/", arg)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", nil, fmt.Errorf("URL %q: port %q is not a number from 1 to 65535", arg, p)
		}
	}
	domains = []string{host}
	if net.ParseIP(host) == nil {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", nil, fmt.Errorf("URL %q: host %q is not a valid host name", arg, u.Hostname())
		}
		if ascii != host {
			domains = append(domains, ascii)
		}
	}
	if u.Path == "" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery && !strings.HasSuffix(s, "#") {
		s += "/"
	}
	return s, domains, nil
}

// unwrapURLError drops url.Error's "parse \"...\": " prefix, which repeats
// the URL the message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's string syntax
// is YAML's), so any URL or host (IPv6 "::1", "#", ": ") stays one string.
func yamlString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func yamlList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = yamlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

type spiderTemplate struct {
	spec, script string
	// typescript: the script is NAME.ts, written with spiderrun.d.ts and
	// tsconfig.json.
	typescript bool
}

var newTemplates = map[string]spiderTemplate{
	"basic": {
		spec: `# yaml-language-server: $schema={{.SchemaID}}
# Spider {{.Name}}: see specs/spec.md for every key and specs/settings.md for settings.
name: {{.Name}}
start_urls: [{{.StartURL}}]
allowed_domains: {{.AllowedDomains}}
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
start_urls: [{{.StartURL}}]
allowed_domains: {{.AllowedDomains}}
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
redis_key: {{.RedisKey}}
allowed_domains: {{.AllowedDomains}}
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
	"ts": {
		typescript: true,
		spec: `# yaml-language-server: $schema={{.SchemaID}}
# Spider {{.Name}} in TypeScript: see specs/spec.md for every key and specs/settings.md for settings.
name: {{.Name}}
start_urls: [{{.StartURL}}]
allowed_domains: {{.AllowedDomains}}
script: {{.Name}}.ts
settings:
  ROBOTSTXT_OBEY: true
  CONCURRENT_REQUESTS_PER_DOMAIN: 4
  DOWNLOAD_DELAY: 0.5
`,
		script: `// Callbacks of the {{.Name}} spider (see specs/js-api.md), in TypeScript.
// spiderrun strips the types when it runs the spider; tsc checks them:
//   tsc -p .    or    spiderrun validate spider.yaml
// (tsconfig.json lists spiderrun.d.ts, the declarations of Request,
// Response, spider...: refresh it with  spiderrun types > spiderrun.d.ts).

/** The item this spider scrapes: your own type, a plain interface. */
interface Page {
  url: string;
  title: string;
}

// parse receives each start_urls response; yield items and requests.
// Requests are scheduled as soon as they are yielded.
export function* parse(response: Response): Generator<Page | Request> {
  yield {
    url: response.url,
    // get() is null when nothing matches; get(default) never is.
    title: response.css("title::text").get(""),
  };
  const next = response.css("a[rel=next]::attr(href)").get();
  if (next) {
    yield response.follow(next, { callback: parse });
  }
}
`,
	},
}
