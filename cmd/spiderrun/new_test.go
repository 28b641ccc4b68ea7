package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/spiderrun/spiderrun/jsbridge"
)

// TestNewTemplatesValidate: every template writes a spider that passes
// validate (structure, settings, script compilation, exported callbacks).
func TestNewTemplatesValidate(t *testing.T) {
	for _, tmpl := range []string{"basic", "crawl", "redis"} {
		t.Run(tmpl, func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := runCLI(t, "new", "my_spider", "https://books.example.com/", "--template", tmpl, "--dir", dir)
			if code != exitOK {
				t.Fatalf("new: exit %d: %s", code, stderr)
			}
			spec := filepath.Join(dir, "my_spider", "spider.yaml")
			if !strings.Contains(stdout, spec) {
				t.Errorf("stdout %q does not name %s", stdout, spec)
			}
			data, err := os.ReadFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=") || !strings.Contains(string(data), "books.example.com") {
				t.Errorf("spec:\n%s", data)
			}
			if _, err := os.Stat(filepath.Join(dir, "my_spider", "my_spider.js")); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = runCLI(t, "validate", spec)
			if code != exitOK || stdout != "ok: "+spec+" (my_spider)\n" {
				t.Fatalf("validate: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			// A second run must not overwrite the user's work.
			code, _, stderr = runCLI(t, "new", "my_spider", "books.example.com", "--template", tmpl, "--dir", dir)
			if code != exitFailed || !strings.Contains(stderr, "already exists") {
				t.Fatalf("second new: exit %d stderr %q", code, stderr)
			}
		})
	}
}

// TestNewKeepsTheURL: the start URL is written as given (scheme, port,
// path, query); without a scheme https:// is put in front (scrapy
// genspider since 2.10); allowed_domains is the host without port.
func TestNewKeepsTheURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		arg         string
		wantStart   string
		wantDomains []string
	}{
		{"http://127.0.0.1:36371/", "http://127.0.0.1:36371/", []string{"127.0.0.1"}},
		{"https://127.0.0.1/", "https://127.0.0.1/", []string{"127.0.0.1"}},
		{"http://example.com", "http://example.com/", []string{"example.com"}},
		{"https://shop.example.com:8443/catalogue/page-1.html", "https://shop.example.com:8443/catalogue/page-1.html", []string{"shop.example.com"}},
		{"https://example.com/search?q=a+b&page=2", "https://example.com/search?q=a+b&page=2", []string{"example.com"}},
		{"https://example.com?q=1", "https://example.com?q=1", []string{"example.com"}},
		{"HTTPS://Example.COM/Path/", "HTTPS://Example.COM/Path/", []string{"example.com"}},
		{"https://bücher.example/straße", "https://bücher.example/straße", []string{"bücher.example", "xn--bcher-kva.example"}},
		{"https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/", []string{"xn--bcher-kva.example"}},
		{"http://[::1]:8080/x", "http://[::1]:8080/x", []string{"::1"}},
		{"https://example.com/a#top", "https://example.com/a#top", []string{"example.com"}},
		{"example.com", "https://example.com/", []string{"example.com"}},
		{"example.com/path/x", "https://example.com/path/x", []string{"example.com"}},
		{"127.0.0.1:8000", "https://127.0.0.1:8000/", []string{"127.0.0.1"}},
		{"localhost:8080/x?y=1", "https://localhost:8080/x?y=1", []string{"localhost"}},
		{"  books.example.com  ", "https://books.example.com/", []string{"books.example.com"}},
		{"www.example.com.", "https://www.example.com./", []string{"www.example.com"}},
	}
	for i, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			name := fmt.Sprintf("s%d", i)
			code, stdout, stderr := runCLI(t, "new", name, tt.arg, "--dir", dir)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "start URL "+tt.wantStart+")") {
				t.Errorf("stdout %q does not show the start URL %s", stdout, tt.wantStart)
			}
			spec := filepath.Join(dir, name, "spider.yaml")
			var got struct {
				StartURLs      []string `yaml:"start_urls"`
				AllowedDomains []string `yaml:"allowed_domains"`
			}
			data, err := os.ReadFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(data, &got); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if len(got.StartURLs) != 1 || got.StartURLs[0] != tt.wantStart {
				t.Errorf("start_urls = %q, want [%q]", got.StartURLs, tt.wantStart)
			}
			if strings.Join(got.AllowedDomains, " ") != strings.Join(tt.wantDomains, " ") {
				t.Errorf("allowed_domains = %q, want %q", got.AllowedDomains, tt.wantDomains)
			}
			if code, out, errOut := runCLI(t, "validate", spec); code != exitOK {
				t.Errorf("validate: exit %d %s%s\n%s", code, out, errOut, data)
			}
		})
	}
}

func TestNewBadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"new", "bad name", "example.com"}, `spider name "bad name": use letters, digits, _ and - only`},
		{[]string{"new", "ok", "example.com", "--template", "fancy"}, `unknown template "fancy" (basic, crawl, redis, ts)`},
		{[]string{"new", "only-name"}, "accepts 2 arg(s), received 1"},
		{[]string{"new", "ok", ""}, "URL is empty: write a start URL such as https://example.com/"},
		{[]string{"new", "ok", "ftp://example.com/"}, `URL "ftp://example.com/": scheme "ftp" is not supported (use http or https)`},
		{[]string{"new", "ok", "file:///tmp/x.html"}, `URL "file:///tmp/x.html": scheme "file" is not supported`},
		{[]string{"new", "ok", "http://"}, `URL "http://" has no host`},
		{[]string{"new", "ok", "http://:8080/"}, `URL "http://:8080/" has no host`},
		{[]string{"new", "ok", "http://example.com:99999/"}, `port "99999" is not a number from 1 to 65535`},
		{[]string{"new", "ok", "http://example.com:0/"}, `port "0" is not a number from 1 to 65535`},
		{[]string{"new", "ok", "https://exa mple.com/"}, `URL "https://exa mple.com/": invalid character " " in host name`},
		{[]string{"new", "ok", "https://bad_host.example/"}, `host "bad_host.example" is not a valid host name`},
		{[]string{"new", "ok", "http://[::1/"}, `URL "http://[::1/": missing ']' in host`},
	} {
		code, _, stderr := runCLI(t, append(tt.args, "--dir", dir)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%q: exit %d stderr %q, want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad arguments created files: %v", entries)
	}
	// A --dir that cannot hold NAME/ is a failure naming the path.
	file := filepath.Join(dir, "a-file")
	write(t, file, "x")
	code, _, stderr := runCLI(t, "new", "ok", "example.com", "--dir", file)
	if code != exitFailed || !strings.Contains(stderr, "create "+filepath.Join(file, "ok")) || !strings.Contains(stderr, "not a directory") {
		t.Errorf("--dir a file: exit %d stderr %q", code, stderr)
	}
}

// TestNewSpiderRuns: the spider new writes for a local site's URL (with a
// port and a path) runs as written and yields the site's items; the crawl
// template's rules follow listing and item pages under that URL.
func TestNewSpiderRuns(t *testing.T) {
	mux := http.NewServeMux()
	page := func(title, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<html><head><title>%s</title></head><body><h1>%s</h1>%s</body></html>", title, title, body)
		}
	}
	mux.HandleFunc("/shop/", page("Shop", `<a rel="next" href="/shop/page/2/">next</a> <a href="/shop/item/1">one</a>`))
	mux.HandleFunc("/shop/page/2/", page("Shop 2", `<a href="/shop/item/2">two</a>`))
	mux.HandleFunc("/shop/item/1", page("Item 1", ""))
	mux.HandleFunc("/shop/item/2", page("Item 2", ""))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		template string
		want     []string // titles (basic) or h1s (crawl), sorted
	}{
		{"basic", []string{"Shop", "Shop 2"}},
		{"crawl", []string{"Item 1", "Item 2"}},
		{"ts", []string{"Shop", "Shop 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			dir := t.TempDir()
			if code, _, stderr := runCLI(t, "new", "local", srv.URL+"/shop/", "--template", tt.template, "--dir", dir); code != exitOK {
				t.Fatalf("new: exit %d %s", code, stderr)
			}
			out := filepath.Join(dir, "items.jsonl")
			code, stdout, stderr := runCLI(t, "run", filepath.Join(dir, "local", "spider.yaml"), "-o", out, "-s", "DOWNLOAD_DELAY=0")
			if code != exitOK {
				t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var it struct{ URL, Title string }
				if err := json.Unmarshal([]byte(l), &it); err != nil {
					t.Fatalf("item %q: %v", l, err)
				}
				if !strings.HasPrefix(it.URL, srv.URL+"/shop/") {
					t.Errorf("item url %q", it.URL)
				}
				got = append(got, it.Title)
			}
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("items %q, want %q\n%s", got, tt.want, data)
			}
		})
	}
}

// TestNewTSTemplate: --template ts writes a TypeScript spider, NAME.ts
// with a typed item, beside the declarations of this binary and a strict
// tsconfig.json that lists both; it passes validate (which runs tsc when
// it is on the PATH) and tsc -p on its own. TestNewSpiderRuns runs it.
func TestNewTSTemplate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "new", "typed", "https://books.example.com/", "--template", "ts", "--dir", dir)
	if code != exitOK {
		t.Fatalf("new: exit %d: %s", code, stderr)
	}
	target := filepath.Join(dir, "typed")
	if !strings.Contains(stdout, "tsc -p "+target) {
		t.Errorf("stdout %q does not say how to check the types", stdout)
	}
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if spec := read("spider.yaml"); !strings.Contains(spec, "\nscript: typed.ts\n") {
		t.Errorf("spider.yaml:\n%s", spec)
	}
	if script := read("typed.ts"); !strings.Contains(script, "interface Page {") || !strings.Contains(script, "Generator<Page | Request>") {
		t.Errorf("typed.ts:\n%s", script)
	}
	if dts, want := read("spiderrun.d.ts"), string(jsbridge.Declarations()); dts != want {
		t.Errorf("spiderrun.d.ts is not the binary's declarations")
	}
	for _, want := range []string{`"strict": true`, `"files": ["typed.ts", "spiderrun.d.ts"]`, `"lib": ["es2020"]`} {
		if cfg := read("tsconfig.json"); !strings.Contains(cfg, want) {
			t.Errorf("tsconfig.json lacks %s:\n%s", want, cfg)
		}
	}
	spec := filepath.Join(target, "spider.yaml")
	code, stdout, stderr = runCLI(t, "validate", spec)
	if code != exitOK || !strings.HasPrefix(stdout, "ok: "+spec+" (typed)\n") || stderr != "" {
		t.Fatalf("validate: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// A second run must not overwrite the user's work, nor a tsconfig.json
	// already there.
	code, _, stderr = runCLI(t, "new", "typed", "books.example.com", "--template", "ts", "--dir", dir)
	if code != exitFailed || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second new: exit %d stderr %q", code, stderr)
	}
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, "typed"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(other, "typed", "tsconfig.json"), "{}")
	code, _, stderr = runCLI(t, "new", "typed", "books.example.com", "--template", "ts", "--dir", other)
	if code != exitFailed || !strings.Contains(stderr, filepath.Join(other, "typed", "tsconfig.json")+" already exists") {
		t.Fatalf("new over a tsconfig.json: exit %d stderr %q", code, stderr)
	}
	// tsc --strict, as a user runs it in the spider's directory.
	tsc := lookTsc(t)
	cmd := exec.Command(tsc, "-p", ".", "--pretty", "false")
	cmd.Dir = target
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc -p %s: %v\n%s", target, err, out)
	}
}
