package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

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
			stdin: "fetch(\"http://127.0.0.1:1/\")\n\"after\"\n",
			args:  []string{"-s", "RETRY_ENABLED=false"},
			want:  []string{"shell:1:1: ConnectionRefusedError", "\"after\"\n"},
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
			name:  "a 404 URL argument is bound, as in Scrapy's shell",
			args:  []string{"-s", "RETRY_ENABLED=false", srv.URL + "/status?code=404"},
			stdin: "response.status\nresponse.css(\"body::text\").get()\n",
			want:  []string{"404\n", `"status 404"` + "\n"},
		},
		{
			name:  "fetch binds any status; redirects followed unless redirect: false",
			stdin: "fetch(\"" + srv.URL + "/status?code=500\")\nresponse.status\nfetch(\"" + srv.URL + "/redirect?to=/ok\")\nfetch(\"" + srv.URL + "/redirect?to=/ok\", {redirect: false})\nresponse.headers.Location\nfetch(new Request({url: \"" + srv.URL + "/status?code=404\"}))\n",
			args:  []string{"-s", "RETRY_ENABLED=false"},
			want: []string{"<500 " + srv.URL + "/status?code=500>\n", "500\n", "<200 " + srv.URL + "/ok>\n",
				"<302 " + srv.URL + "/redirect?to=/ok>\n", `"/ok"` + "\n", "<404 " + srv.URL + "/status?code=404>\n"},
		},
		{
			name:  "console.log prints plainly to stdout, in order",
			stdin: "console.log(\"plain\", \"text\", 1, {a: \"b\"}, [1, \"x\"], null)\n\"next\"\n",
			want:  []string{"plain text 1 {\"a\":\"b\"} [1,\"x\"] null\n", "undefined\n", `"next"` + "\n"},
		},
		{
			name:     "download failure of the URL argument",
			args:     []string{"-s", "RETRY_ENABLED=false", "http://127.0.0.1:1/"},
			wantCode: exitFailed,
		},
		{
			name:     "not a URL",
			args:     []string{"example.com/x"},
			wantCode: exitUsage,
		},
		{
			name:     "bad setting",
			args:     []string{"-s", "no_such_setting=1"},
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

// ptySession drives the real binary on a pseudo-terminal.
type ptySession struct {
	t    *testing.T
	tty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen int // output consumed by expect
	done chan error
}

func startPTY(t *testing.T, env []string, args ...string) *ptySession {
	t.Helper()
	bin := buildCLI(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "TERM=xterm"), env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptySession{t: t, tty: tty, cmd: cmd, done: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			p.mu.Lock()
			p.out.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
	})
	return p
}

// expect waits for want in the output after what earlier expects consumed.
// output is what the terminal showed so far (the reader goroutine may
// still be appending to it).
func (p *ptySession) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *ptySession) expect(want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		rest := p.out.String()[p.seen:]
		if i := strings.Index(rest, want); i >= 0 {
			p.seen += i + len(want)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal output lacks %q after:\n%q", want, rest)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *ptySession) send(keys string) {
	p.t.Helper()
	if _, err := p.tty.WriteString(keys); err != nil {
		p.t.Fatal(err)
	}
}

// TestShellTerminal drives the shell on a pseudo-terminal: line editing,
// history recall with Up, Ctrl-C cancels the line being typed (also a
// continuation) and interrupts a running input while the shell goes on,
// Ctrl-D leaves with status 0.
func TestShellTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no pseudo-terminals (creack/pty) on Windows")
	}
	srv := fixture.New(t, fixture.Options{Pages: 10, Links: 2})
	hist := filepath.Join(t.TempDir(), "history")
	p := startPTY(t, []string{"SPIDERRUN_HISTORY=" + hist}, "shell", "-s", "JS_TIMEOUT=60s", srv.URL+"/site/3")
	p.expect("response: <200 " + srv.URL + "/site/3>")
	p.expect("> ")

	p.send("response.css(\"h1.name::text\").get()\r")
	p.expect("\"Product 3\"")
	p.expect("> ")

	// History: Up recalls the previous input; Up Up the one before.
	p.send("\"hist\" + \"ory\"\r")
	p.expect("\"history\"")
	p.send("40 + 2\r")
	p.expect("42")
	p.expect("> ")
	p.send("\x1b[A\x1b[A\r") // Up, Up, Enter
	p.expect("\"history\"")
	p.expect("> ")
	p.send("\x1b[A\r") // Up: the recalled input is the last one now
	p.expect("\"history\"")
	p.expect("> ")

	// Line editing: Left arrow, then insert.
	p.send("1 + 3\x1b[D\x1b[D\x1b[D\x1b[D0\r") // "10 + 3"
	p.expect("13")
	p.expect("> ")

	// Ctrl-C cancels the line being typed; nothing is evaluated.
	p.send("\"never evaluated")
	p.send("\x03")
	p.expect("^C")
	p.expect("> ")
	p.send("\"after\"\r")
	p.expect("\"after\"")
	p.expect("> ")

	// Ctrl-C in a continuation drops the whole input.
	p.send("function f() {\r")
	p.expect("... ")
	p.send("\x03")
	p.expect("> ")
	p.send("typeof f\r")
	p.expect("\"undefined\"")
	p.expect("> ")

	// Ctrl-C while an input runs interrupts it; the shell goes on.
	p.send("while (true) {}\r")
	time.Sleep(300 * time.Millisecond)
	p.send("\x03")
	p.expect("Interrupted: input interrupted")
	p.expect("> ")
	p.send("console.log(\"still\", \"here\")\r")
	p.expect("still here\r\n")
	p.expect("> ")

	// Ctrl-D on an empty line leaves with status 0.
	p.send("\x04")
	p.exitsZero()
	out := p.output()
	if strings.Contains(out, "never evaluated") && strings.Contains(out, "SyntaxError") {
		t.Errorf("the cancelled line was evaluated:\n%q", out)
	}

	// The history outlives the session (file readable by the user only).
	if st, err := os.Stat(hist); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v %v", st, err)
	}
	p = startPTY(t, []string{"SPIDERRUN_HISTORY=" + hist}, "shell")
	p.expect("> ")
	p.send("\x1b[A\r") // the last input of the previous session
	p.expect("still here\r\n")
	p.send(".exit\r")
	p.exitsZero()

	// A history that cannot be written is a note, not a failure.
	p = startPTY(t, []string{"SPIDERRUN_HISTORY=/proc/no/such/dir/history"}, "shell")
	p.expect("> ")
	p.send("1\r")
	p.expect("1")
	p.send("\x04")
	p.expect("history not saved")
	p.exitsZero()
}

// exitsZero waits for the shell to exit with status 0.
func (p *ptySession) exitsZero() {
	p.t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.t.Fatalf("shell exit: %v\n%q", err, p.output())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("the shell did not exit")
	}
}
