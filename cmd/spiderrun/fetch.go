package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

func init() { register(newFetchCmd) }

func newFetchCmd() *cobra.Command {
	var (
		imp         string
		httpVersion string
		headers     []string
		sets        []string
		method      string
		data        string
		noBody      bool
	)
	cmd := &cobra.Command{
		Use:   "fetch URL",
		Short: "Download one page as a spider would and print status, headers and body",
		Long: `fetch downloads URL through the same downloader and transport a spider
uses (impersonation profile, proxies, timeouts, size limits, decompression)
and prints the status line, the response headers in order, a blank line and
the body. Settings (-s) are the spider settings: IMPERSONATE, PROXIES,
TLS_VERIFY, DOWNLOAD_TIMEOUT, DOWNLOAD_MAXSIZE, USER_AGENT,
DEFAULT_REQUEST_HEADERS.

Examples:
  spiderrun fetch https://example.com/ --impersonate chrome
  spiderrun fetch https://example.com/ --impersonate firefox --http-version 1.1 -H 'Accept-Language: de'
  spiderrun fetch https://example.com/ -s PROXIES=socks5://127.0.0.1:1080 -s IMPERSONATE=safari`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings := dsl.DefaultSettings()
			for _, kv := range sets {
				if err := settings.SetFromCLI(kv); err != nil {
					return usageErr(fmt.Errorf("-s %s: %w", kv, err))
				}
			}
			v := spiderrun.ResolveSettings(settings)
			if imp == "" {
				imp = v.Impersonate
			}
			switch httpVersion {
			case "", "1.1", "2":
			default:
				return usageErr(fmt.Errorf("--http-version %q: want 1.1 or 2", httpVersion))
			}
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageErr(fmt.Errorf("%q is not an http(s) URL", args[0]))
			}
			var hs crawl.Headers
			for _, h := range headers {
				name, value, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(name) == "" {
					return usageErr(fmt.Errorf("-H %q: want 'Name: value'", h))
				}
				hs = append(hs, crawl.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
			}
			if imp != "" && imp != impersonate.Random {
				// Fail early with the list of names on a typo.
				if _, err := impersonate.LoadProfile(imp); err != nil {
					return usageErr(err)
				}
			} else if imp == "" {
				// Without a browser profile the spider's own defaults apply.
				dh := middleware.DefaultHeadersFromSettings(&v)
				hs.SetDefault("User-Agent", dh.UserAgent)
				for _, h := range dh.Headers {
					hs.SetDefault(h.Name, h.Value)
				}
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			// The same settings mapping as run (proxies, NO_PROXY, limits,
			// the private-network guard, ...).
			opts, err := downloader.FromSettings(&v, downloader.HTTPOptions{})
			if err != nil {
				return usageErr(err)
			}
			opts.Logger = log
			opts.Impersonate = imp
			// Impersonated connections dial through the guarded dialer too.
			tr, err := impersonate.NewTransport(impersonate.Options{Logger: log, DialContext: downloader.NewDialer(opts.HTTP).DialContext})
			if err != nil {
				return failErr(err)
			}
			defer tr.Close()
			opts.TransportFor = func(string) (downloader.Transport, error) { return tr, nil }
			opts.RandomizeDelay = false
			d, err := downloader.New(opts)
			if err != nil {
				return usageErr(err)
			}
			req := &crawl.Request{URL: u.String(), Method: strings.ToUpper(method), Headers: hs, HTTPVersion: httpVersion, Impersonate: imp}
			if data != "" {
				req.Body = []byte(data)
				if req.Method == "" {
					req.Method = "POST"
				}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			resp, err := d.Download(ctx, req)
			if err != nil {
				var f *crawl.Failure
				if errors.As(err, &f) {
					return failErr(f)
				}
				return failErr(err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %d %s\n", resp.Protocol, resp.Status, http.StatusText(resp.Status))
			for _, h := range resp.Headers {
				fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
			}
			fmt.Fprintln(w)
			if !noBody {
				w.Write(resp.Body)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&imp, "impersonate", "", "browser profile (chrome, firefox, safari, edge, chrome_156, random, or a profile file); default IMPERSONATE")
	f.StringVar(&httpVersion, "http-version", "", "force HTTP version 1.1 or 2 (default: negotiate by ALPN)")
	f.StringArrayVarP(&headers, "header", "H", nil, "extra request header 'Name: value' (repeatable; replaces the profile's value in place)")
	f.StringArrayVarP(&sets, "set", "s", nil, "setting KEY=VALUE (repeatable)")
	f.StringVarP(&method, "method", "X", "", "request method (default GET, or POST with --data)")
	f.StringVarP(&data, "data", "d", "", "request body")
	f.BoolVar(&noBody, "no-body", false, "print only the status line and headers")
	return cmd
}
