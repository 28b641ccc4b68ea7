package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

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

Helpers: fetch(url_or_request) downloads and rebinds response and request;
help() lists what is bound. A line whose value is a promise is awaited, and
await works at top level. .exit or end of input leaves (exit status 0).
console.log goes to the log (stderr).

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
			c, err := spiderrun.New(spiderrun.Options{
				Spec: l.spec, Program: l.prog, Args: l.args, NoFeeds: true,
				Log: cmd.ErrOrStderr(), Stdout: cmd.OutOrStdout(),
			})
			if err != nil {
				return usageErr(err)
			}
			defer c.Close()
			if op, ok := c.Spider.(engine.Opener); ok {
				if err := op.Open(ctx, c.Engine().Crawl()); err != nil {
					return failErr(fmt.Errorf("spider_opened: %w", err))
				}
			}
			if cl, ok := c.Spider.(engine.Closer); ok {
				defer cl.Close(ctx, "finished")
			}
			repl, err := c.JS.NewREPL(ctx)
			if err != nil {
				return failErr(err)
			}
			interactive := isTerminalReader(cmd.InOrStdin())
			if target != "" {
				req := &crawl.Request{URL: target, Start: true, DontFilter: true, SessionID: l.spec.SessionID}
				resp, err := c.Engine().Crawl().Download(ctx, req)
				if err != nil {
					return failErr(fmt.Errorf("fetch %s: %w", target, err))
				}
				if err := repl.Bind(ctx, resp); err != nil {
					return failErr(err)
				}
				if interactive {
					fmt.Fprintf(cmd.ErrOrStderr(), "response: <%d %s>\n", resp.Status, resp.URL)
				}
			}
			if interactive {
				fmt.Fprintln(cmd.ErrOrStderr(), "spiderrun shell: help() lists what is bound; .exit or Ctrl-D leaves")
			}
			return shellLoop(ctx, repl, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), interactive)
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&specPath, "spec", "", "load the spider `SPEC` (its script, settings, middlewares, sessions)")
	cmd.Flags().StringVar(&imp, "impersonate", "", "browser profile for downloads (= -s IMPERSONATE=P)")
	return cmd
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
	spec, err := dsl.Parse("shell.yaml", []byte(bareSpec))
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
