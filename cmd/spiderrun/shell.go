package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"github.com/peterh/liner"
	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

func init() { register(newShellCmd) }

// bareSpec is the spider of a shell started without --spec: default
// settings and a script that exports nothing callable (a script of only a
// comment has an empty source map, which the compiler rejects).
const bareSpec = "name: shell\nscript: |\n  export const shell = true;\n"

func newShellCmd() *cobra.Command {
	var (
		f        runFlags
		specPath string
		imp      string
	)
	cmd := &cobra.Command{
		Use:   "shell [URL]",
		Short: "JavaScript REPL with the downloaded response bound (Scrapy's shell)",
		Long: `shell reads JavaScript line by line and prints the value of each input,
with response bound to URL's page when URL is given: try selectors before
writing a callback. Without --spec a bare spider (default settings, an empty
script) is used; with --spec the spec's script is loaded, so its exported
functions are callable and its settings, sessions, downloader middlewares
and impersonation apply to every download.

Values print as JSON (strings quoted), a SelectorList as its getall(), a
Response as <200 URL>, a Request as <GET URL>. Errors print as
shell:LINE:COL: Type: message and the session goes on. An input left open
(a trailing {, an unfinished expression) continues on the next line.

As in Scrapy's shell, a page of any status is bound (redirects are
followed): a 404 or 500 page becomes response, with a note on stderr.
fetch(url, {redirect: false}) shows a 3xx itself.

On a terminal the line can be edited (arrows, Home/End, Ctrl-A/E/K/U/W,
Ctrl-R searches), Up and Down recall earlier inputs, Ctrl-C cancels the
line being typed (or stops the input running) and the shell goes on,
Ctrl-D on an empty line leaves. The history is kept across sessions in
$SPIDERRUN_HISTORY, else $XDG_STATE_HOME/spiderrun/shell_history (default
~/.local/state/spiderrun/shell_history); SPIDERRUN_HISTORY=off keeps none.

Helpers: fetch(url_or_request) downloads and rebinds response and request;
help() lists what is bound. A line whose value is a promise is awaited, and
await works at top level. .exit or end of input leaves (exit status 0).
console.log prints its arguments to stdout as Node does (strings plain);
console.warn and console.error to stderr.

Examples:
  spiderrun shell https://quotes.toscrape.com/
  spiderrun shell --spec spiders/quotes.yaml https://quotes.toscrape.com/page/2/
  echo 'response.css("title::text").get()' | spiderrun shell https://example.com/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			var target string
			if len(a) == 1 {
				u, err := url.Parse(a[0])
				if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || u.Host == "" && u.Scheme != "file" {
					return usageErr(fmt.Errorf("%q is not an http(s) or file URL", a[0]))
				}
				target = u.String()
			}
			l, err := f.loadShell(specPath, imp)
			if err != nil {
				return err
			}
			c, err := newOneOffCrawler(cmd, l)
			if err != nil {
				return usageErr(err)
			}
			defer c.Close()
			closeSpider, err := openSpider(ctx, c)
			if err != nil {
				return failErr(err)
			}
			defer closeSpider()
			repl, err := c.JS.NewREPL(ctx)
			if err != nil {
				return failErr(err)
			}
			out, errOut := &syncWriter{w: cmd.OutOrStdout()}, &syncWriter{w: cmd.ErrOrStderr()}
			if err := repl.SetConsole(ctx, out, errOut); err != nil {
				return failErr(err)
			}
			interactive := isTerminalReader(cmd.InOrStdin())
			if target != "" {
				req := &crawl.Request{URL: target, Start: true, DontFilter: true, SessionID: l.spec.SessionID,
					Meta: map[string]any{"handle_httpstatus_list": fetchStatuses()}}
				resp, err := c.Engine().Crawl().Download(ctx, req)
				if err != nil {
					return failErr(fmt.Errorf("fetch %s: %w", target, err))
				}
				if err := repl.Bind(ctx, resp); err != nil {
					return failErr(err)
				}
				if resp.Status < 200 || resp.Status >= 300 {
					fmt.Fprintf(errOut, "note: %s answered %d %s; that page is bound as response (response.status is %d)\n",
						resp.URL, resp.Status, http.StatusText(resp.Status), resp.Status)
				}
				if interactive {
					fmt.Fprintf(errOut, "response: <%d %s>\n", resp.Status, resp.URL)
				}
			}
			if interactive {
				fmt.Fprintln(errOut, "spiderrun shell: help() lists what is bound; .exit or Ctrl-D leaves")
			}
			if interactive && isTerminalWriter(cmd.OutOrStdout()) && liner.TerminalSupported() {
				return lineEditLoop(ctx, repl, out, errOut)
			}
			return shellLoop(ctx, repl, cmd.InOrStdin(), out, errOut, interactive)
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&specPath, "spec", "", "load the spider `SPEC` (its script, settings, middlewares, sessions)")
	cmd.Flags().StringVar(&imp, "impersonate", "", "browser profile for downloads (= -s IMPERSONATE=P)")
	return cmd
}

// newOneOffCrawler builds the crawler of a one-off command (shell, fetch,
// parse): the loaded spider without feeds, logging to stderr.
func newOneOffCrawler(cmd *cobra.Command, l *loaded) (*spiderrun.Crawler, error) {
	return spiderrun.New(spiderrun.Options{
		Spec: l.spec, Program: l.prog, Args: l.args, NoFeeds: true,
		Log: cmd.ErrOrStderr(), Stdout: cmd.OutOrStdout(),
	})
}

// openSpider runs the spider's spider_opened hooks as a crawl would; the
// returned func runs its close hooks (reason finished).
func openSpider(ctx context.Context, c *spiderrun.Crawler) (func(), error) {
	if op, ok := c.Spider.(engine.Opener); ok {
		if err := op.Open(ctx, c.Engine().Crawl()); err != nil {
			return nil, fmt.Errorf("spider_opened: %w", err)
		}
	}
	if cl, ok := c.Spider.(engine.Closer); ok {
		return func() { cl.Close(ctx, "finished") }, nil
	}
	return func() {}, nil
}

// loadShell loads the spec (or the bare spider), applying -s, -L and
// --impersonate on top of it.
func (f *runFlags) loadShell(specPath, imp string) (*loaded, error) {
	sets := f.settings
	if imp != "" {
		sets = append(append([]string(nil), sets...), "IMPERSONATE="+imp)
	}
	g := *f
	g.settings = sets
	if specPath != "" {
		return g.load(specPath)
	}
	spec, err := dsl.Parse("command line", []byte(bareSpec))
	if err != nil {
		return nil, failErr(fmt.Errorf("bare spider: %w", err))
	}
	// The bare spider has nothing to crawl: skip the spec checks.
	return g.prepare(spec, false)
}

// shellLoop reads inputs until end of input or .exit. Values and errors
// both go to stdout so a piped session reads as one transcript in order.
func shellLoop(ctx context.Context, repl *jsbridge.REPL, in io.Reader, out, prompt io.Writer, interactive bool) error {
	rd := bufio.NewReader(in)
	var buf strings.Builder
	for {
		if interactive {
			if buf.Len() == 0 {
				fmt.Fprint(prompt, "> ")
			} else {
				fmt.Fprint(prompt, "... ")
			}
		}
		line, rerr := rd.ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return failErr(fmt.Errorf("read input: %w", rerr))
		}
		eof := errors.Is(rerr, io.EOF)
		if eof && line == "" && buf.Len() == 0 {
			if interactive {
				fmt.Fprintln(prompt)
			}
			return nil
		}
		line = strings.TrimRight(line, "\r\n")
		if buf.Len() == 0 && strings.TrimSpace(line) == ".exit" {
			return nil
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(line)
		res, err := repl.Eval(ctx, buf.String())
		if errors.Is(err, jsbridge.ErrIncomplete) {
			if !eof {
				continue
			}
			fmt.Fprintf(out, "%s:%d:1: SyntaxError: unexpected end of input\n", jsbridge.ReplFile, repl.Line()+1)
			return nil
		}
		buf.Reset()
		switch {
		case err != nil && ctx.Err() != nil:
			return failErr(err)
		case err != nil:
			fmt.Fprintln(out, err)
		case res != "":
			fmt.Fprintln(out, res)
		}
		if eof {
			return nil
		}
	}
}

// syncWriter serializes writes: console.log runs on the JS loop while the
// shell prints values from its own goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// evalInterruptible evaluates src; SIGINT (Ctrl-C while the input runs)
// interrupts it and the shell goes on.
func evalInterruptible(ctx context.Context, repl *jsbridge.REPL, src string, sigs <-chan os.Signal) (string, error) {
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
		}
	}()
	return repl.Eval(ectx, src)
}

// lineEditLoop is the shell on a terminal: line editing and history
// (github.com/peterh/liner), Ctrl-C cancels the line being typed or
// interrupts the running input, Ctrl-D on an empty line leaves. The
// history is loaded from and saved to historyPath.
func lineEditLoop(ctx context.Context, repl *jsbridge.REPL, out, errOut io.Writer) error {
	// Ctrl-C while an input runs raises SIGINT (liner turns the terminal's
	// ISIG off only while it reads a line); it must not end the process:
	// catch SIGINT for the whole session.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	ln := liner.NewLiner()
	defer ln.Close()
	ln.SetCtrlCAborts(true)
	ln.SetMultiLineMode(true)
	hist := historyPath()
	if hist != "" {
		if f, err := os.Open(hist); err == nil {
			_, _ = ln.ReadHistory(f)
			f.Close()
		}
		defer saveHistory(ln, hist, errOut)
	}
	var buf strings.Builder
	for {
		prompt := "> "
		if buf.Len() > 0 {
			prompt = "... "
		}
		// A SIGINT that arrived between inputs is stale.
		select {
		case <-sigs:
		default:
		}
		line, err := ln.Prompt(prompt)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			buf.Reset() // liner printed ^C
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(out)
			if buf.Len() > 0 {
				fmt.Fprintf(out, "%s:%d:1: SyntaxError: unexpected end of input\n", jsbridge.ReplFile, repl.Line()+1)
			}
			return nil
		case err != nil:
			return failErr(fmt.Errorf("read input: %w", err))
		}
		if strings.TrimSpace(line) != "" {
			ln.AppendHistory(line)
		}
		if buf.Len() == 0 && strings.TrimSpace(line) == ".exit" {
			return nil
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(line)
		res, err := evalInterruptible(ctx, repl, buf.String(), sigs)
		if errors.Is(err, jsbridge.ErrIncomplete) {
			continue
		}
		buf.Reset()
		switch {
		case err != nil && ctx.Err() != nil:
			return failErr(err)
		case err != nil:
			fmt.Fprintln(out, err)
		case res != "":
			fmt.Fprintln(out, res)
		}
	}
}

// historyPath is the terminal shell's history file: $SPIDERRUN_HISTORY
// ("off" keeps none), else $XDG_STATE_HOME/spiderrun/shell_history, else
// ~/.local/state/spiderrun/shell_history; "" when there is no home.
func historyPath() string {
	switch p := os.Getenv("SPIDERRUN_HISTORY"); p {
	case "off":
		return ""
	case "":
	default:
		return p
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "spiderrun", "shell_history")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "spiderrun", "shell_history")
}

// saveHistory writes the session's history (liner keeps the last 1000
// inputs) to path, readable by the user only: inputs may hold tokens.
func saveHistory(ln *liner.State, path string, errOut io.Writer) {
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			_, err = ln.WriteHistory(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "spiderrun shell: history not saved: %v (SPIDERRUN_HISTORY=off keeps none)\n", err)
	}
}

// isTerminalWriter reports whether w is a terminal (line editing needs
// one on both sides).
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// isTerminalReader reports whether r is a terminal (prompts and the banner
// are shown only then, so piped sessions print values only).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
