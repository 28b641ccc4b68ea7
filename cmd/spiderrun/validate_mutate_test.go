package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	mutationCount = flag.Int("mutations", 96, "how many mutated specs and scripts TestValidateEqualsRun/mutations checks (the first ones are directed: one per snippet)")
	mutationSeed  = flag.Uint64("mutation-seed", 1, "seed of TestValidateEqualsRun/mutations (0: a random one, printed)")
)

// mutationBase is one example a mutation starts from: its spec, its
// script, and the flags that keep its run offline and short.
type mutationBase struct {
	name   string
	dir    string // examples/<name>
	script string // file name of the script
	site   string // testdata/sites/<site> served for -a base=; "" = the example's own file:// site
}

var mutationBases = []mutationBase{
	{name: "offline", dir: "../../examples/offline", script: "spider.js"},
	{name: "quotes", dir: "../../examples/quotes", script: "quotes.js", site: "quotes"},
	{name: "quotes_js", dir: "../../examples/quotes_js", script: "quotes_js.js", site: "quotes"},
	{name: "books", dir: "../../examples/books", script: "books.js", site: "books"},
}

// offlineFlags keep every run of a mutant offline and short: any host but
// the local test server goes to a closed port, and the crawl stops after a
// few pages (the flags go to validate too, so both see the same settings).
var offlineFlags = []string{
	"-s", "PROXIES=http://127.0.0.1:9", "-s", "NO_PROXY=127.0.0.1",
	"-s", "RETRY_ENABLED=false", "-s", "CLOSESPIDER_PAGECOUNT=4", "-s", "CLOSESPIDER_TIMEOUT=4s",
	"-s", "JS_TIMEOUT=2s", "-s", "STATS_DUMP=false",
}

// goTrace matches what a Go panic or stack trace leaves in output;
// internalName what spec and script errors must not show (the crawl's log
// of callback errors is checked only for goTrace: how the JS runtime names
// errors thrown from Go is jsbridge's).
var (
	goTrace      = regexp.MustCompile(`goroutine \d|panic:|\.go:\d+`)
	internalName = regexp.MustCompile(`GoError|spiderrun-bundle\.js|spiderrun-prelude\.js|\*[a-z]+\.[A-Z][A-Za-z]+\b`)
)

// posPrefix is the file:line:col: a spec or script error starts with.
var posPrefix = regexp.MustCompile(`^(.+?):(\d+):(\d+): `)

// validateRunMutations is the generative half of TestValidateEqualsRun:
// it mutates the examples' specs and scripts (lines deleted, duplicated,
// swapped; keys and values changed; bad regexes, selectors, callbacks and
// bytes inserted; files truncated or compressed) and runs the real CLI on
// each mutant. Whenever `run` refuses a mutant (exit 2), `validate` must
// have refused it with the same file:line:col and message, and no output
// may hold a Go stack trace or an internal name. go test -run
// TestValidateEqualsRun/mutations -mutations=2000 checks many more.
func validateRunMutations(t *testing.T) {
	if *mutationCount <= 0 {
		t.Skip("-mutations=0")
	}
	bin := buildCLI(t)
	seed := *mutationSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-mutation-seed=%d reproduces), %d mutations", seed, seed, *mutationCount)
	sites := map[string]string{}
	for _, b := range mutationBases {
		if b.site != "" && sites[b.site] == "" {
			srv := httptest.NewServer(siteHandler(t, filepath.Join("../../testdata/sites", b.site)))
			t.Cleanup(srv.Close)
			sites[b.site] = srv.URL
		}
	}
	offlineSite, err := filepath.Abs("../../examples/offline/site")
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		n    int
		base mutationBase
		rng  *rand.Rand
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		failures []string
		refused  atomic.Int64 // mutants both commands refused
		ran      atomic.Int64 // mutants run accepted
		killed   atomic.Int64
		internal atomic.Int64 // runs whose log names an internal type
	)
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, s)
	}
	root := t.TempDir()
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {

		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				dir := filepath.Join(root, fmt.Sprint(j.n))
				spec, script, what := mutate(t, j.rng, j.n, j.base, dir)
				if j.base.site == "" {
					if err := os.Symlink(offlineSite, filepath.Join(dir, "site")); err != nil {
						fail(err.Error())
						continue
					}
				}
				flags := offlineFlags
				if j.base.site != "" {
					flags = append(flags[:len(flags):len(flags)], "-a", "base="+sites[j.base.site])
				}
				vCode, vOut, vErr, _ := runBin(bin, dir, 20*time.Second, append([]string{"validate", "spider.yaml"}, flags...)...)
				args := append([]string{"run", "spider.yaml", "-O", "out.jsonl"}, flags...)
				// A run that is still going after a few seconds has passed
				// its start-up checks (it can no longer exit 2): a crawl
				// waiting for a Redis server no test runs, say.
				rCode, rOut, rErr, timedOut := runBin(bin, dir, 6*time.Second, args...)
				report := func(problem string) {
					fail(fmt.Sprintf("mutant %d of %s (%s): %s\nvalidate: exit %d\n%s%s\nrun: exit %d\n%s%s\nspec:\n%s\nscript:\n%s",
						j.n, j.base.name, what, problem, vCode, vOut, vErr, rCode, rOut, rErr, clip(spec), clip(script)))
				}
				for i, out := range []string{vOut, vErr, rOut, rErr} {
					m := goTrace.FindString(out)
					if m == "" && (i < 2 || rCode == exitUsage) {
						m = internalName.FindString(out)
					}
					if m != "" {
						report(fmt.Sprintf("output holds %q (a Go trace or an internal name)", m))
						break
					}
				}
				if rCode != exitUsage && internalName.MatchString(rErr) {
					internal.Add(1)
				}
				if timedOut {
					killed.Add(1)
					t.Logf("mutant %d of %s (%s): run stopped at the time limit", j.n, j.base.name, what)
				}
				switch {
				case vCode != exitOK && vCode != exitUsage:
					report("validate exited neither 0 nor 2")
				case rCode == exitUsage && vCode != exitUsage:
					report("run refused a spec validate accepted")
				case vCode == exitUsage && rCode != exitUsage && !timedOut:
					report("validate refused a spec run accepted")
				case rCode == exitUsage:
					refused.Add(1)
					first, _, _ := strings.Cut(strings.TrimPrefix(rErr, "spiderrun: "), "\n")
					if !posPrefix.MatchString(first) {
						report("run's error has no file:line:col")
					} else if want := "spiderrun: " + vErr; rErr != want {
						report("run and validate print different errors")
					}
				default:
					ran.Add(1)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	for n := range *mutationCount {
		jobs <- job{n: n, base: mutationBases[n%len(mutationBases)], rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(n)))}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d mutants refused by both commands, %d run, %d runs stopped at the time limit, %d runs logged an internal name (GoError ...)",
		refused.Load(), ran.Load(), killed.Load(), internal.Load())
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Error(f)
	}
}

// runBin runs the CLI in dir and kills it after limit.
func runBin(bin, dir string, limit time.Duration, args ...string) (code int, stdout, stderr string, timedOut bool) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return code, out.String(), errb.String(), ctx.Err() != nil
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "\n[...]"
	}
	return s
}

// directed are the first mutants of every run, one per known way to
// fail: each spec snippet appended to the spec, each script snippet
// appended to the script, and the files replaced by binary or compressed
// ones. The random mutants follow.
var directed = func() []func(spec, script string) (string, string, string) {
	var out []func(spec, script string) (string, string, string)
	for _, sn := range specSnippets {
		out = append(out, func(spec, script string) (string, string, string) {
			return addToSpec(spec, sn), script, fmt.Sprintf("spec: added %q", sn)
		})
	}
	for _, sn := range scriptSnippets {
		out = append(out, func(spec, script string) (string, string, string) {
			return spec, script + "\n" + sn + "\n", fmt.Sprintf("script: appended %q", sn)
		})
	}
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.String()
	}
	return append(out,
		func(spec, script string) (string, string, string) { return gz(spec), script, "spec: gzipped" },
		func(spec, script string) (string, string, string) { return spec, gz(script), "script: gzipped" },
		func(spec, script string) (string, string, string) {
			return "\x7fELF\x02\x01\x01\x00" + spec, script, "spec: an ELF header"
		},
		func(spec, script string) (string, string, string) {
			return spec, "\x7fELF\x02\x01\x01\x00" + script, "script: an ELF header"
		},
	)
}()

// addToSpec appends a snippet to a spec; a snippet that opens a mapping
// the spec already has (settings:) adds its entries to the spec's.
func addToSpec(spec, snippet string) string {
	head, body, ok := strings.Cut(snippet, "\n")
	if ok && strings.HasSuffix(head, ":") && strings.HasPrefix(body, "  ") {
		if i := strings.Index(spec, "\n"+head+"\n"); i >= 0 {
			i += len(head) + 2
			return spec[:i] + body + "\n" + spec[i:]
		}
	}
	return spec + "\n" + snippet + "\n"
}

// mutate writes mutant n of base into dir (spider.yaml and the script)
// and returns both and a description of the mutation.
func mutate(t *testing.T, rng *rand.Rand, n int, base mutationBase, dir string) (spec, script, what string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	specB, err := os.ReadFile(filepath.Join(base.dir, "spider.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scriptB, err := os.ReadFile(filepath.Join(base.dir, base.script))
	if err != nil {
		t.Fatal(err)
	}
	spec, script = string(specB), string(scriptB)
	if n < len(directed) {
		spec, script, what = directed[n](spec, script)
		writeMutant(t, filepath.Join(dir, "spider.yaml"), spec)
		writeMutant(t, filepath.Join(dir, base.script), script)
		return spec, script, what
	}
	var whats []string
	for range 1 + rng.IntN(2) {
		var w string
		if rng.IntN(2) == 0 {
			spec, w = mutateText(rng, spec, specOps)
			w = "spec: " + w
		} else {
			script, w = mutateText(rng, script, scriptOps)
			w = "script: " + w
		}
		whats = append(whats, w)
	}
	writeMutant(t, filepath.Join(dir, "spider.yaml"), spec)
	writeMutant(t, filepath.Join(dir, base.script), script)
	return spec, script, strings.Join(whats, "; ")
}

func writeMutant(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A textOp changes a text; it returns the result and what it did.
type textOp func(rng *rand.Rand, lines []string) ([]string, string)

// mutateText applies one op chosen from ops (or one that works on bytes).
func mutateText(rng *rand.Rand, s string, ops []textOp) (string, string) {
	switch rng.IntN(12) {
	case 0: // truncate
		n := rng.IntN(len(s) + 1)
		return s[:n], fmt.Sprintf("truncated to %d bytes", n)
	case 1: // a raw byte
		bad := []string{"\xff", "\x00", "\xc3", "\t", "\r", "\ufeff"}[rng.IntN(6)]
		n := rng.IntN(len(s) + 1)
		return s[:n] + bad + s[n:], fmt.Sprintf("inserted %q at byte %d", bad, n)
	case 2: // compressed
		if rng.IntN(3) == 0 {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write([]byte(s))
			zw.Close()
			return b.String(), "gzipped"
		}
	}
	lines := strings.SplitAfter(s, "\n")
	out, w := ops[rng.IntN(len(ops))](rng, lines)
	return strings.Join(out, ""), w
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// Generic line operations.
var lineOps = []textOp{
	func(rng *rand.Rand, l []string) ([]string, string) {
		i := rng.IntN(len(l))
		return append(append([]string(nil), l[:i]...), l[i+1:]...), fmt.Sprintf("deleted line %d", i+1)
	},
	func(rng *rand.Rand, l []string) ([]string, string) {
		i := rng.IntN(len(l))
		out := append(append([]string(nil), l[:i+1]...), l[i:]...)
		return out, fmt.Sprintf("duplicated line %d", i+1)
	},
	func(rng *rand.Rand, l []string) ([]string, string) {
		if len(l) < 2 {
			return l, "nothing"
		}
		i := rng.IntN(len(l) - 1)
		out := append([]string(nil), l...)
		out[i], out[i+1] = out[i+1], out[i]
		return out, fmt.Sprintf("swapped lines %d and %d", i+1, i+2)
	},
}

// insertLine inserts text before a random line, with that line's
// indentation when indent is set.
func insertLine(rng *rand.Rand, l []string, text string, indent bool) ([]string, string) {
	i := rng.IntN(len(l) + 1)
	if indent && i < len(l) {
		line := l[i]
		text = line[:len(line)-len(strings.TrimLeft(line, " "))] + text
	}
	out := append(append(append([]string(nil), l[:i]...), text+"\n"), l[i:]...)
	return out, fmt.Sprintf("inserted %q before line %d", text, i+1)
}

// replaceIn replaces one random match of re in a random line that has one.
func replaceIn(rng *rand.Rand, l []string, re *regexp.Regexp, with func(m string) string) ([]string, string) {
	var cand []int
	for i, s := range l {
		if re.MatchString(s) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return l, "nothing"
	}
	i := pick(rng, cand)
	out := append([]string(nil), l...)
	ms := re.FindAllStringIndex(out[i], -1)
	m := pick(rng, ms)
	old := out[i][m[0]:m[1]]
	out[i] = out[i][:m[0]] + with(old) + out[i][m[1]:]
	return out, fmt.Sprintf("line %d: %q -> %q", i+1, strings.TrimSpace(l[i]), strings.TrimSpace(out[i]))
}

var (
	yamlKey   = regexp.MustCompile(`^\s*(- )?[A-Za-z_]+:`)
	yamlValue = regexp.MustCompile(`: .+$`)
	jsString  = regexp.MustCompile(`"[^"\\]*"|'[^'\\]*'` + "|`[^`\\\\$]*`")
	jsIdent   = regexp.MustCompile(`\b(parse|parse_author|parse_book|response|spider|Request|css|get|yield|export|function|const|return)\b`)

	specKeys = []string{"name", "script", "start_urls", "allowed_domains", "rules", "link_extractor", "allow", "deny",
		"restrict_css", "restrict_xpaths", "callback", "errback", "follow", "pipelines", "hooks", "settings",
		"CONCURRENT_REQUESTS", "DUPEFILTER", "SCHEDULER", "JOBDIR", "LOG_LEVEL", "sitemap_urls", "redis_key", "js_path",
		"spider_middlewares", "downloader_middlewares", "feeds", "IMPERSONATE", "DUPEFILTER_BLOOM_CAPACITY",
		"REDIS_TLS_CA_FILE", "FEEDS", "scriptt", "Name", "start_url", "callbacks", "CONCURENT_REQUESTS"}
	specValues = []string{"bloom", "redis", "disk", "-1", "0", "[]", "{}", "yes", "null", "~", `"("`, `"a::txt"`,
		`"//a["`, "1e100", "prase", "parse", "parse_author", `"\xff"`, "&x", "*x", "|", ">", "[(]", `"http://"`,
		"ftp://x", `"file:///nonexistent"`, "nope.js", "spider.yaml", "[clean]", "{a: b}", "'", `"`, "2s", "1000000000",
		"chrome", "netscape_4", "job", "[\"a::txt\"]", "INFO", "[parse]"}
	specSnippets = []string{
		"rules:\n  - link_extractor:\n      allow: [\"(\"]",
		"rules:\n  - link_extractor:\n      restrict_css: [\"a::txt\"]\n    callback: parse",
		"rules:\n  - link_extractor:\n      restrict_xpaths: [\"//a[\"]",
		"settings:\n  DUPEFILTER: bloom",
		"settings:\n  DUPEFILTER: bloom\n  SCHEDULER: redis\n  DUPEFILTER_BLOOM_CAPACITY: 1000000000",
		"settings:\n  SCHEDULER: disk",
		"pipelines: [clean]",
		"pipelines:\n  - parse",
		"hooks:\n  spider_opened: opened",
		"callback: prase",
		"errback: parse",
		"start_urls: [\"file:///nonexistent/x.html\"]",
		"allowed_domains: [\"http://example.com/\"]",
		"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
		"js_path: nope.js",
		"sitemap_urls: [\"file:///nonexistent/sitemap.xml\"]",
		"feeds:\n  out/items.jsonl: {}",
		"feeds:\n  \"s3://bucket/items.jsonl\": {}",
		"settings:\n  HTTPCACHE_ENABLED: true\n  HTTPCACHE_DIR: spider.yaml",
		"settings:\n  JOBDIR: spider.yaml/job",
		"settings:\n  FEEDS: {\"out/x.csv\": {}}",
		"name: two",
		"---",
	}
	scriptSnippets = []string{
		"foo.bar();",
		"const re = /a\xffb/;",
		"const bad = /(/;",
		"response.css(\"a::txt\");",
		"const sel = (r) => r.css(\"a::txt\").get();",
		"const x = (r) => r.xpath(\"//a[\").get();",
		"new Request({url: \"file:///nonexistent\", callback: \"prase\"});",
		"const mk = () => new Request({url: \"file:///nonexistent\", callback: \"prase\"});",
		"const mk2 = () => new Request({url: \"file:///nonexistent\", errback: \"missing\"});",
		"export const parse_book = 1;",
		"export const parse = 1;",
		"throw new Error(\"boom\");",
		"}", "{", "(", ")", "/*", "`",
		"module.exports = {};",
		"import x from \"./nope.js\";",
		"import fs from \"fs\";",
		"while (true) {}",
		"export default 1;",
		"export function start() { return 1; }",
		"await 1;",
		"let let = 1;",
		"export { nothing };",
		"spider.nope.x = 1;",
		"const a = 1; const a = 2;",
	}

	specOps = append(append([]textOp(nil), lineOps...),
		func(rng *rand.Rand, l []string) ([]string, string) {
			return replaceIn(rng, l, yamlKey, func(m string) string {
				lead := m[:len(m)-len(strings.TrimLeft(m, " -"))]
				return lead + pick(rng, specKeys) + ":"
			})
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return replaceIn(rng, l, yamlValue, func(string) string { return ": " + pick(rng, specValues) })
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return insertLine(rng, l, pick(rng, specSnippets), false)
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return insertLine(rng, l, pick(rng, []string{"DUPEFILTER: bloom", "JOBDIR: job", "SCHEDULER: redis", "REDIS_TLS_CA_FILE: ca.pem", "IMPERSONATE: mine.yaml", "FEEDS: 1", "LOG_LEVEL: LOUD", "callback: prase", "- clean"}), true)
		},
		func(rng *rand.Rand, l []string) ([]string, string) { // append at the end
			return append(append([]string(nil), l...), "\n"+pick(rng, specSnippets)+"\n"), "appended a snippet"
		},
	)
	scriptOps = append(append([]textOp(nil), lineOps...),
		func(rng *rand.Rand, l []string) ([]string, string) {
			return insertLine(rng, l, pick(rng, scriptSnippets), true)
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return replaceIn(rng, l, jsString, func(m string) string {
				q := m[:1]
				return q + pick(rng, []string{"a::txt", "//a[", "prase", "(", "", "li.next a::attr(href", "div.quote", "h1::text", "\xff"}) + q
			})
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return replaceIn(rng, l, jsIdent, func(m string) string {
				return pick(rng, []string{m + "x", "prase", "await", "yield", "undefined", m[:len(m)-1]})
			})
		},
		func(rng *rand.Rand, l []string) ([]string, string) {
			return insertLine(rng, l, pick(rng, []string{"callback: \"prase\",", "callback: \"parse\",", "errback: \"nope\","}), true)
		},
	)
)
