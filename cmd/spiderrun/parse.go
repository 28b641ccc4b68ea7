package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func init() { register(newParseCmd) }

func newParseCmd() *cobra.Command {
	var (
		f        runFlags
		callback string
		metaJSON string
	)
	cmd := &cobra.Command{
		Use:   "parse SPEC URL",
		Short: "Run one callback on one URL and print what it yields",
		Long: `Download URL as the spider would (through its middlewares, sessions and
impersonation), run one callback on the response (--callback, default the
spec's callback) and print the items and requests it yields — Scrapy's
parse command, the everyday debugging tool. Nothing is crawled further.

Items are printed as JSON lines under "# items", requests as
"METHOD URL callback=NAME" under "# requests", callback errors under "# errors".
Exit status 1 when the download or the callback failed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			l, err := f.load(a[0])
			if err != nil {
				return err
			}
			req := &crawl.Request{URL: a[1], Callback: callback, Start: true, SessionID: l.spec.SessionID}
			if metaJSON != "" {
				if err := json.Unmarshal([]byte(metaJSON), &req.Meta); err != nil {
					return usageErr(fmt.Errorf("--meta: invalid JSON object: %w", err))
				}
			}
			c, err := spiderrun.New(spiderrun.Options{
				Spec: l.spec, Program: l.prog, Args: l.args, NoFeeds: true,
				Log: cmd.ErrOrStderr(), Stdout: cmd.OutOrStdout(),
			})
			if err != nil {
				return usageErr(err)
			}
			var out collected
			if err := c.ParseOne(cmd.Context(), req, &out); err != nil {
				// Print what the callback yielded before failing, then the
				// error with the others.
				out.Error(err)
			}
			if err := out.print(cmd.OutOrStdout()); err != nil {
				return err
			}
			if len(out.errs) > 0 {
				return &exitError{code: exitFailed}
			}
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVarP(&callback, "callback", "c", "", "callback `NAME` (default: the spec's callback, or parse)")
	cmd.Flags().StringVarP(&metaJSON, "meta", "m", "", "request meta as a JSON object")
	return cmd
}

// collected is an engine.Output that keeps everything a callback yields.
type collected struct {
	mu    sync.Mutex
	items []*crawl.Item
	reqs  []*crawl.Request
	errs  []error
}

func (c *collected) Request(r *crawl.Request) { c.mu.Lock(); c.reqs = append(c.reqs, r); c.mu.Unlock() }
func (c *collected) Item(it *crawl.Item)      { c.mu.Lock(); c.items = append(c.items, it); c.mu.Unlock() }
func (c *collected) Error(err error)          { c.mu.Lock(); c.errs = append(c.errs, err); c.mu.Unlock() }

func (c *collected) print(w io.Writer) error {
	fmt.Fprintf(w, "# items (%d)\n", len(c.items))
	for _, it := range c.items {
		b, err := json.Marshal(it)
		if err != nil {
			return failErr(fmt.Errorf("item: %w", err))
		}
		fmt.Fprintf(w, "%s\n", b)
	}
	fmt.Fprintf(w, "# requests (%d)\n", len(c.reqs))
	for _, r := range c.reqs {
		cb := r.Callback
		if cb == "" {
			cb = "(default)"
		}
		fmt.Fprintf(w, "%s %s callback=%s\n", r.GetMethod(), r.URL, cb)
	}
	if len(c.errs) > 0 {
		fmt.Fprintf(w, "# errors (%d)\n", len(c.errs))
		for _, err := range c.errs {
			fmt.Fprintf(w, "%v\n", err)
		}
	}
	return nil
}
