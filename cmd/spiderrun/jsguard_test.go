package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// No single JavaScript call can take the process down (issue 12, part 6).
// Each built-in bomb runs through the real CLI, in a callback and in a
// use_execjs context, on three of four pages: every run ends with the
// bomb's error on those pages, within 2× JS_TIMEOUT of the bomb's start,
// with the child's peak RSS (VmHWM) within budget, and with the items
// yielded before the bomb and the other page's items written.

const (
	// guardJSTimeout is JS_TIMEOUT in these runs: small, and still above
	// the 1s regex match timeout.
	guardJSTimeout = 2 * time.Second
	// guardMemLimit is JS_MEMORY_LIMIT in these runs.
	guardMemLimit = 64 << 20
	// guardRSS is the peak RSS budget: an idle `spiderrun run` peaks at
	// about 30 MiB; the caps let one call allocate at most 64 MiB (a
	// buffer), and the heap watchdog lets a retaining loop reach about
	// twice JS_MEMORY_LIMIT before the GC's live-heap figure passes it.
	guardRSS = 256 << 20
)

// bombs are JavaScript statements that would each take gigabytes or hang
// without the guards (RELIABILITY.md M4–M9 and the cases).
var bombs = []struct {
	name, src string
	// want is in the error line the run logs.
	want string
}{
	{"repeat", `'x'.repeat(2 ** 30)`, "String.prototype.repeat: string length limit 16 Mi exceeded"},
	{"array-fill", `new Array(1e8).fill(0)`, "Array.prototype.fill: array length limit 4 Mi exceeded"},
	{"typed-array", `new Float64Array(2 ** 28)`, "Float64Array: buffer size limit 64MiB exceeded"},
	{"json-parse", `JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))`, "JSON.parse: nesting deeper than 1000"},
	{"regex", `/^(a+)+\1$/.test('a'.repeat(40) + '!')`, "regex match timed out after 1000ms"},
	{"retain", `const keep = []; for (;;) keep.push({ s: 'x' + Math.random(), n: [1, 2, 3] })`, "JS_MEMORY_LIMIT"},
}

func TestJSGuards(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy: builds the CLI and runs it 13 times")
	}
	bin := buildCLI(t)
	srv := fixture.New(t, fixture.Options{})
	for _, b := range bombs {
		t.Run("callback/"+b.name, func(t *testing.T) { testCallbackBomb(t, bin, srv, b.name, b.src, b.want) })
		t.Run("execjs/"+b.name, func(t *testing.T) { testExecJSBomb(t, bin, srv, b.name, b.src, b.want) })
	}
	t.Run("callback/setInterval", func(t *testing.T) { testForeverCallback(t, bin, srv) })
}

// guardSpider writes a spider over pages 0-3 whose callback yields one item,
// runs bomb (a statement) on pages 1-3 between two log lines that time it,
// and yields a second item.
func guardSpider(t *testing.T, srv *fixture.Server, bomb string, extraYAML string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var urls []string
	for i := range 4 {
		urls = append(urls, fmt.Sprintf("%s/site/%d", srv.URL, i))
	}
	yaml := fmt.Sprintf(`name: bombs
script: spider.js
start_urls: [%s]
settings:
  JS_TIMEOUT: %s
  JS_MEMORY_LIMIT: %d
  CONCURRENT_REQUESTS: 1
%s`, strings.Join(urls, ", "), guardJSTimeout, guardMemLimit, extraYAML)
	js := fmt.Sprintf(`export function* parse(response) {
  yield { url: response.url, step: "before" };
  if (!response.url.endsWith("/site/0")) {
    const t0 = Date.now();
    try {
      %s;
    } finally {
      spider.log.warn("bomb ended after " + (Date.now() - t0) + " ms");
    }
  }
  yield { url: response.url, step: "after" };
}
`, bomb)
	files["spider.js"] = js
	files["spider.yaml"] = yaml
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "spider.yaml")
}

// guardRun is one finished `spiderrun run`.
type guardRun struct {
	peak  int64
	took  time.Duration
	out   string
	exit  int
	items []map[string]any
	stats map[string]any
}

// runGuarded runs spec, sampling the child's VmHWM every 5 ms.
func runGuarded(t *testing.T, bin, spec string) guardRun {
	t.Helper()
	dir := t.TempDir()
	items, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
	cmd := exec.Command(bin, "run", spec, "-o", items, "--stats-json", statsFile, "-L", "WARNING")
	m := runMeasured(t, cmd, statsFile, 2*time.Minute)
	r := guardRun{peak: m.peak, took: m.took, out: m.out, stats: m.stats}
	var ee *exec.ExitError
	if errors.As(m.err, &ee) {
		r.exit = ee.ExitCode()
	} else if m.err != nil {
		t.Fatalf("run: %v\n%s", m.err, r.out)
	}
	lines, err := os.ReadFile(items)
	if err != nil {
		t.Fatalf("no items: %v\n%s", err, r.out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		if line == "" {
			continue
		}
		var it map[string]any
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("item %q: %v", line, err)
		}
		r.items = append(r.items, it)
	}
	return r
}

var bombEnded = regexp.MustCompile(`bomb ended after (\d+) ms`)

// checkBombRun asserts what every bomb run must show.
func checkBombRun(t *testing.T, r guardRun, want string) {
	t.Helper()
	t.Logf("peak RSS %.1f MiB, run %s", float64(r.peak)/(1<<20), r.took.Round(time.Millisecond))
	if reason, _ := r.stats["finish_reason"].(string); reason != "finished" {
		t.Fatalf("finish_reason %q, want finished (the crawl goes on)\n%s", reason, r.out)
	}
	if r.exit != 1 {
		t.Errorf("exit code %d, want 1 (spider errors)", r.exit)
	}
	if n := strings.Count(r.out, want); n < 3 {
		t.Errorf("%d error lines contain %q, want one per bomb page (3):\n%s", n, want, r.out)
	}
	if n, _ := r.stats["spider_exceptions/count"].(float64); n != 3 {
		t.Errorf("spider_exceptions/count = %v, want 3", n)
	}
	ends := bombEnded.FindAllStringSubmatch(r.out, -1)
	for _, m := range ends {
		ms, _ := strconv.Atoi(m[1])
		if d := time.Duration(ms) * time.Millisecond; d > 2*guardJSTimeout {
			t.Errorf("a bomb ended after %s, want ≤ 2× JS_TIMEOUT (%s)", d, 2*guardJSTimeout)
		}
	}
	// Every page's first item, and the bomb-free page's second one.
	steps := map[string]int{}
	for _, it := range r.items {
		steps[fmt.Sprint(it["step"])]++
	}
	if steps["before"] != 4 || steps["after"] != 1 {
		t.Errorf("items by step %v, want 4 before and 1 after\n%s", steps, r.out)
	}
	if r.peak > guardRSS {
		t.Errorf("peak RSS %.1f MiB, want ≤ %d MiB", float64(r.peak)/(1<<20), guardRSS>>20)
	}
}

func testCallbackBomb(t *testing.T, bin string, srv *fixture.Server, name, src, want string) {
	spec := guardSpider(t, srv, src, "", map[string]string{})
	r := runGuarded(t, bin, spec)
	checkBombRun(t, r, want)
	if name != "retain" && len(bombEnded.FindAllString(r.out, -1)) != 3 {
		t.Errorf("want three timed bombs (the errors are catchable):\n%s", r.out)
	}
}

// testExecJSBomb runs the bomb in a use_execjs context: the same caps, and
// a call abandoned or interrupted there never piles runtimes up.
func testExecJSBomb(t *testing.T, bin string, srv *fixture.Server, name, src, want string) {
	ctx := fmt.Sprintf("function bomb() {\n  %s;\n}\n", src)
	spec := guardSpider(t, srv, `spider.use_execjs("bomb", "bomb", [])`, "js_path: [js/]\n", map[string]string{"js/bomb.js": ctx})
	r := runGuarded(t, bin, spec)
	checkBombRun(t, r, want)
	if !strings.Contains(r.out, "execjs bomb: call") || !strings.Contains(r.out, "bomb.js:2:") {
		t.Errorf("no error names the context's line:\n%s", r.out)
	}
	if len(bombEnded.FindAllString(r.out, -1)) != 3 {
		t.Errorf("want three timed bombs:\n%s", r.out)
	}
}

// testForeverCallback: a callback whose promise a setInterval keeps pending
// ends at CALLBACK_TIMEOUT with an error naming it and its source line;
// its interval is cleared, and the crawl finishes with the other items.
func testForeverCallback(t *testing.T, bin string, srv *fixture.Server) {
	const callbackTimeout = 2 * time.Second
	spec := guardSpider(t, srv, `await new Promise(() => setInterval(() => {}, 10))`,
		fmt.Sprintf("  CALLBACK_TIMEOUT: %s\n", callbackTimeout), map[string]string{})
	// await needs an async generator.
	js := filepath.Join(filepath.Dir(spec), "spider.js")
	src, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte(strings.Replace(string(src), "export function*", "export async function*", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runGuarded(t, bin, spec)
	t.Logf("peak RSS %.1f MiB, run %s", float64(r.peak)/(1<<20), r.took.Round(time.Millisecond))
	want := regexp.MustCompile(`callback parse \(\S*/spider\.js:1:\d+\) did not finish within CALLBACK_TIMEOUT 2s: it is still waiting on a promise \(1 timer cleared\)`)
	if n := len(want.FindAllString(r.out, -1)); n != 3 {
		t.Errorf("%d errors match %s, want 3 (one per page):\n%s", n, want, r.out)
	}
	if n, _ := r.stats["spider_exceptions/CALLBACK_TIMEOUT"].(float64); n != 3 {
		t.Errorf("spider_exceptions/CALLBACK_TIMEOUT = %v, want 3", n)
	}
	if reason, _ := r.stats["finish_reason"].(string); reason != "finished" || r.exit != 1 {
		t.Errorf("finish_reason %q, exit %d; want finished, 1\n%s", reason, r.exit, r.out)
	}
	steps := map[string]int{}
	for _, it := range r.items {
		steps[fmt.Sprint(it["step"])]++
	}
	if steps["before"] != 4 || steps["after"] != 1 {
		t.Errorf("items by step %v, want 4 before and 1 after", steps)
	}
}
