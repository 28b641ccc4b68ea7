package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// runShell runs the real CLI entry point with stdin, mapping errors to exit
// codes as run does.
func runShell(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append([]string{"shell"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	code = exitOK
	if err := root.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			if ee.err != nil {
				errb.WriteString("spiderrun: " + ee.err.Error() + "\n")
			}
		} else {
			code = exitUsage
			errb.WriteString("spiderrun: " + err.Error() + "\n")
		}
	}
	return code, out.String(), errb.String()
}

func TestShellCommand(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 10, Links: 2})
	tlsSrv := fixture.New(t, fixture.Options{Pages: 10, Links: 2, TLS: true})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: shellspec
start_urls: [`+srv.URL+`/site/0]
script: spider.js
downloader_middlewares:
  - process_request: tag
settings: {RETRY_ENABLED: false}
`)
	write(t, filepath.Join(dir, "spider.js"), `
export function parse(response) {
  return { name: response.css("h1.name::text").get(), sku: response.css(".sku::text").get() };
}
export function tag(request) {
  request.headers["X-Shell"] = "from-spec";
}
export function fails() {
  return undefined_thing;
}
`)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     []string // stdout, in this order
		notWant  []string
	}{
		{
			name:  "selector on the fetched URL",
			args:  []string{srv.URL + "/site/3"},
			stdin: "response.css(\"h1.name::text\").get()\n",
			want:  []string{`"Product 3"` + "\n"},
		},
		{
			name: "bound values print in their shell form",
			args: []string{srv.URL + "/site/3"},
			stdin: "response\nrequest\nresponse.status\nresponse.css(\"ul.links a::attr(href)\")\n" +
				"({n: 1, r: response})\n",
			want: []string{"<200 " + srv.URL + "/site/3>\n", "<GET " + srv.URL + "/site/3>\n", "200\n",
				`["/site/4","/site/7"]` + "\n", `{"n":1,"r":"<200 ` + srv.URL + `/site/3>"}` + "\n"},
		},
		{
			name:  "an error is positioned and the session goes on",
			args:  []string{srv.URL + "/site/3"},
			stdin: "1 + 1\nresponse.nope()\nresponse.css(\".sku::text\").get()\n",
			want:  []string{"2\n", "shell:2:", "TypeError", "\"SKU-000003\"\n"},
		},
		{
			name:  "syntax error",
			stdin: "1 +* 2\n\"still here\"\n",
			want:  []string{"shell:1:4: SyntaxError: Unexpected token *\n", "\"still here\"\n"},
		},
		{
			name:  "fetch rebinds response",
			args:  []string{srv.URL + "/site/1"},
			stdin: "response.css(\"h1.name::text\").get()\nfetch(\"" + srv.URL + "/site/7\")\nresponse.css(\"h1.name::text\").get()\nrequest.url\n",
			want: []string{`"Product 1"` + "\n", "<200 " + srv.URL + "/site/7>\n", `"Product 7"` + "\n",
				`"` + srv.URL + `/site/7"` + "\n"},
		},
		{
			name:  "fetch with a Request and top-level await",
			stdin: "const r = await spider.download(new Request({url: \"" + srv.URL + "/site/2\"}))\nr.css(\"h1.name::text\").get()\nfetch(new Request({url: \"" + srv.URL + "/site/5\"}))\n",
			want:  []string{"undefined\n", `"Product 2"` + "\n", "<200 " + srv.URL + "/site/5>\n"},
		},
		{
			name:  "fetch failure is an error, not the end",
			stdin: "fetch(\"" + srv.URL + "/status?code=500\")\n\"after\"\n",
			args:  []string{"-s", "RETRY_ENABLED=false"},
			want:  []string{"HttpError", "\"after\"\n"},
		},
		{
			name:  "multi-line function definition",
			stdin: "function twice(s) {\n  return s + s;\n}\ntwice(\"ab\")\n",
			want:  []string{"undefined\n", `"abab"` + "\n"},
		},
		{
			name:  "spec: exported functions, settings and middlewares apply",
			args:  []string{"--spec", spec, srv.URL + "/site/4"},
			stdin: "parse(response)\nspider.name\nspider.settings.RETRY_ENABLED\nfetch(\"" + srv.URL + "/echo\")\nresponse.json().headers.find(h => h.name === \"X-Shell\").value\nfails()\n",
			want: []string{`{"name":"Product 4","sku":"SKU-000004"}` + "\n", `"shellspec"` + "\n", "false\n",
				"<200 " + srv.URL + "/echo>\n", `"from-spec"` + "\n", "ReferenceError: undefined_thing is not defined", "spider.js:9:"},
		},
		{
			name:  "https URL, impersonated",
			args:  []string{"--impersonate", "chrome", "-s", "TLS_VERIFY=false", tlsSrv.URL + "/site/6"},
			stdin: "response.css(\"h1.name::text\").get()\nspider.settings.IMPERSONATE\nfetch(\"" + tlsSrv.URL + "/echo\")\n/Chrome/.test(response.json().headers.find(h => h.name === \"User-Agent\").value)\n",
			want:  []string{`"Product 6"` + "\n", `"chrome"` + "\n", "<200 " + tlsSrv.URL + "/echo>\n", "true\n"},
		},
		{
			name:  "help lists the bound names",
			args:  []string{"--spec", spec},
			stdin: "help()\n",
			want:  []string{"Bound in this shell:", "fetch(url_or_request)", "Exported by the script: fails, parse, tag"},
		},
		{
			name:    ".exit stops reading",
			stdin:   "1\n.exit\n2\n",
			want:    []string{"1\n"},
			notWant: []string{"2\n"},
		},
		{
			name:  "input without a final newline, and an unfinished one at EOF",
			stdin: "[1,\n2]\nfunction open() {",
			want:  []string{"[1,2]\n", "shell:3:1: SyntaxError: unexpected end of input\n"},
		},
		{
			name:     "download failure of the URL argument",
			args:     []string{"-s", "RETRY_ENABLED=false", srv.URL + "/status?code=404"},
			wantCode: exitFailed,
		},
		{
			name:     "not a URL",
			args:     []string{"example.com/x"},
			wantCode: exitUsage,
		},
		{
			name:     "bad setting",
			args:     []string{"-s", "NO_SUCH_SETTING_X=1"},
			wantCode: exitUsage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runShell(t, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			rest := stdout
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\nstdout:\n%s\nstderr:\n%s", w, stdout, stderr)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q\nstdout:\n%s", w, stdout)
				}
			}
		})
	}
}
