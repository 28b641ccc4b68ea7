package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSettingsCustomRun: through the real CLI, UPPER_CASE settings the
// table does not know (the spec's and -s's) and Scrapy's accepted-and-
// ignored ones reach the script as spider.settings.NAME with their YAML
// value, and the crawl runs.
func TestSettingsCustomRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>page</body></html>")
	}))
	defer srv.Close()
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, "name: custom\nscript: spider.js\nstart_urls: [\""+srv.URL+"/\"]\nsettings:\n"+
		"  MAX_PAGES: 3\n  CATEGORIES: [books, music]\n  BOT_NAME: shop\n  ITEM_PIPELINES: {}\n")
	writeFile(t, filepath.Join(dir, "spider.js"), `export function parse(response) {
  const s = spider.settings;
  return {max: s.MAX_PAGES, cats: s.CATEGORIES, bot: s.BOT_NAME, pipes: s.ITEM_PIPELINES,
          cli: s.FROM_CLI, text: s.CLI_TEXT, known: s.CONCURRENT_REQUESTS};
}
`)
	if code, stdout, stderr := runCLI(t, "validate", "-s", "FROM_CLI=[1, 2]", spec); code != exitOK || stderr != "" {
		t.Fatalf("validate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out.jsonl")
	code, _, stderr := runCLI(t, "run", spec, "-O", out, "-s", "FROM_CLI=[1, 2]", "-s", "CLI_TEXT=a b", "-s", "CONCURRENT_REQUESTS=4")
	if code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"max":3,"cats":["books","music"],"bot":"shop","pipes":{},"cli":[1,2],"text":"a b","known":4}` + "\n"
	if string(got) != want {
		t.Fatalf("items:\n%s\nwant:\n%s", got, want)
	}

	// A likely typo of a known setting: kept, with a warning from
	// validate (stderr) and run (the log, at WARNING).
	const warn = `-s DOWNLOAD_DELAI: unknown setting "DOWNLOAD_DELAI" kept as a custom setting (did you mean "DOWNLOAD_DELAY"?)`
	if code, _, stderr := runCLI(t, "validate", "-s", "DOWNLOAD_DELAI=1", spec); code != exitOK || stderr != "warning: "+warn+"\n" {
		t.Fatalf("validate: exit %d, stderr %q, want the warning %q", code, stderr, warn)
	}
	code, _, stderr = runCLI(t, "run", spec, "-O", out, "-s", "DOWNLOAD_DELAI=1")
	if code != exitOK || !strings.Contains(stderr, "WARNING: "+warn) {
		t.Fatalf("run: exit %d, want the warning %q logged, stderr:\n%s", code, warn, stderr)
	}
}

// TestSettingsCustomErrors: names that cannot be custom settings
// (lower-case, malformed) and Scrapy settings spiderrun refuses are errors
// in validate and run alike, at the spec's file:line:col or naming -s.
func TestSettingsCustomErrors(t *testing.T) {
	cases := []struct {
		name, settings string
		args           []string
		want           string // validate's line; run prints it after "spiderrun: "
	}{
		{name: "lower case", settings: "  download_delay: 1\n",
			want: `spider.yaml:5:3: settings.download_delay: unknown setting "download_delay" (did you mean "DOWNLOAD_DELAY"?)`},
		{name: "malformed", settings: "  my-limit: 1\n",
			want: `spider.yaml:5:3: settings["my-limit"]: unknown setting "my-limit": a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as MY_LIMIT`},
		{name: "refused", settings: "  ITEM_PIPELINES: {shop.pipelines.Clean: 300}\n",
			want: `spider.yaml:5:19: settings.ITEM_PIPELINES: Scrapy's ITEM_PIPELINES is not supported: pipelines are JavaScript functions: list them under the spec's pipelines: key.`},
		{name: "lower case from -s", args: []string{"-s", "download_delay=1"},
			want: `-s download_delay: unknown setting "download_delay" (did you mean "DOWNLOAD_DELAY"?)`},
		{name: "refused from -s", args: []string{"-s", "CONCURRENT_REQUESTS_PER_IP=2"},
			want: `-s CONCURRENT_REQUESTS_PER_IP: Scrapy's CONCURRENT_REQUESTS_PER_IP is not supported: download slots are per domain: use CONCURRENT_REQUESTS_PER_DOMAIN (0, Scrapy's default, is accepted).`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "spider.yaml")
			yaml := "name: v\nscript: spider.js\nstart_urls: [\"http://127.0.0.1:9/\"]\n"
			if c.settings != "" {
				yaml += "settings:\n" + c.settings
			}
			writeFile(t, spec, yaml)
			writeFile(t, filepath.Join(dir, "spider.js"), "export function parse(response) {}\n")
			want := c.want
			if strings.HasPrefix(want, "spider.yaml") {
				want = filepath.Join(dir, want)
			}
			code, stdout, vErr := runCLI(t, append([]string{"validate", spec}, c.args...)...)
			if code != exitUsage || stdout != "" || vErr != want+"\n" {
				t.Errorf("validate: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and:\n%s", code, stdout, vErr, want)
			}
			out := filepath.Join(dir, "out.jsonl")
			code, _, rErr := runCLI(t, append([]string{"run", spec, "-O", out}, c.args...)...)
			if code != exitUsage || rErr != "spiderrun: "+want+"\n" {
				t.Errorf("run: exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, rErr, want)
			}
		})
	}
}
