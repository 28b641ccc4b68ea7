package jsbridge

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/testenv"
)

// lookTsc returns the path of TypeScript's tsc (a failure under CI).
func lookTsc(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "tsc", "npm install -g typescript")
}

// strictTSConfig is the tsconfig.json of a TypeScript spider (the one
// `spiderrun new --template ts` writes, cmd/spiderrun/types.go): --strict,
// the runtime's globals only.
const strictTSConfig = `{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2020", "module": "esnext",
    "moduleResolution": "bundler", "lib": ["es2020"], "types": [],
    "isolatedModules": true, "allowJs": true, "resolveJsonModule": true
  },
  "files": [FILES]
}
`

// tscStrict type-checks files (name → source) with spiderrun.d.ts under
// strictTSConfig and fails the test with tsc's diagnostics.
func tscStrict(t *testing.T, files map[string]string) {
	t.Helper()
	tsc := lookTsc(t)
	dir := t.TempDir()
	dts, err := os.ReadFile("spiderrun.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	files["spiderrun.d.ts"] = string(dts)
	var names []string
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, `"`+name+`"`)
	}
	config := strings.Replace(strictTSConfig, "FILES", strings.Join(names, ", "), 1)
	if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tsc, "-p", ".", "--pretty", "false")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc --strict: %v\n%s", err, out)
	}
}

// dtsUsage is a TypeScript spider written the way the declarations promise
// it can be, checked under --strict. A line after `// @ts-expect-error`
// must be rejected (tsc reports an unused directive otherwise), so the
// file also proves that the declarations are not loose enough to accept
// anything.
const dtsUsage = `import { Request as Req, spider as sp } from "spiderrun";
import type {} from "spiderrun";

// The user's item types: plain interfaces (no index signature).
interface Quote {
  text: string;
  author: string | null;
  tags: string[];
}
interface Author {
  name: string;
}
class Page {
  constructor(public url: string) {}
}

export function* parse(response: Response): Generator<Quote | Request> {
  for (const q of response.css("div.quote")) {
    yield {
      // A default makes get() a string.
      text: q.css("span.text::text").get(""),
      author: q.css("small.author::text").get(),
      tags: q.css("a.tag::text").getall(),
    };
  }
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse, cb_kwargs: { page: 2 } });
}

export async function* parse_async(response: Response): AsyncGenerator<Author | Request> {
  const r = await spider.download(new Request(response.urljoin("/x")));
  yield { name: r.css("h3::text").get("").trim() };
  yield new Req({ url: response.url, callback: parse_paged, cb_kwargs: { page: 3 } });
}

// A callback may type its cb_kwargs.
export async function parse_paged(response: Response, kw: { page: number }): Promise<Author> {
  return { name: response.url + kw.page };
}

export function parse_list(response: Response): (Quote | Page)[] {
  return [new Page(response.url)];
}

export function parse_map(response: Response): Map<string, unknown> {
  return new Map([["url", response.url]]);
}

export function errback(failure: Failure): Author | null {
  return failure.response ? { name: String(failure.response.status) } : null;
}

export function* start(): Generator<Request> {
  const base: string = sp.args.base || "https://quotes.toscrape.com";
  yield new Request(base + "/", { callback: parse, errback });
  yield new Request({ url: base + "/a", callback: parse_async });
  yield new FormRequest(base + "/login", { formdata: { user: "u" }, callback: parse_list });
  yield new Request(base + "/m", { callback: parse_map });
  yield new Request(base + "/n", { callback: "parse" });
  const title: string | null = new Request(base).headers ? null : "x";
  spider.log.info(title);
}

export function wrong(response: Response): void {
  // @ts-expect-error get() without a default may be null
  const s: string = response.css("title::text").get();
  // @ts-expect-error a callback returns items and requests, not a number
  new Request("https://example.com/", { callback: (r: Response) => 1 });
  // @ts-expect-error nor a string
  new Request("https://example.com/", { callback: (r: Response) => r.url });
  // @ts-expect-error an unknown option
  new Request("https://example.com/", { callbak: parse });
  // @ts-expect-error a member that does not exist
  response.cssSelect("a");
  // @ts-expect-error no DOM: document is not a global of the runtime
  document.title;
  void s;
}
`

// TestDtsStrict type-checks spiderrun.d.ts under tsc --strict: alone, with
// a spider that uses it as the declarations promise (the user's own item
// interfaces accepted by the callback types; what must be rejected is),
// and the TypeScript example examples/ts with its own tsconfig.json. The
// template of `spiderrun new --template ts` is checked in cmd/spiderrun
// (TestNewTSTemplate).
func TestDtsStrict(t *testing.T) {
	t.Parallel()
	t.Run("declarations", func(t *testing.T) {
		t.Parallel()
		tscStrict(t, map[string]string{})
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		tscStrict(t, map[string]string{"usage.ts": dtsUsage})
	})
	t.Run("examples/ts", func(t *testing.T) {
		t.Parallel()
		tsc := lookTsc(t)
		data, err := os.ReadFile("../examples/ts/tsconfig.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"strict": true`, `"../../jsbridge/spiderrun.d.ts"`} {
			if !strings.Contains(string(data), want) {
				t.Errorf("examples/ts/tsconfig.json lacks %s", want)
			}
		}
		cmd := exec.Command(tsc, "-p", ".", "--pretty", "false")
		cmd.Dir = "../examples/ts"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tsc -p examples/ts: %v\n%s", err, out)
		}
	})
}
