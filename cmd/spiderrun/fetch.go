package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

func init() { register(newFetchCmd) }

// fetchOptions are fetch's own flags (settings come through runFlags).
type fetchOptions struct {
	specPath    string
	imp         string
	httpVersion string
	headers     []string
	method      string
	data        string
	showHeaders bool
	noRedirect  bool
	noBody      bool // deprecated spelling of --headers
}

func newFetchCmd() *cobra.Command {
	var (
		f  runFlags
		fo fetchOptions
	)
	cmd := &cobra.Command{
		Use:   "fetch URL",
		Short: "Download one page as a spider would and print its body (scrapy fetch)",
		Long: `fetch downloads URL as a spider would — through the downloader middlewares
(redirects, retries, cookies, robots.txt when ROBOTSTXT_OBEY is set, HTTP
cache), the impersonation profile, proxies, timeouts and size limits — and
prints the response body to stdout, byte for byte (scrapy fetch adds a
newline after it; fetch does not, so  fetch URL > page.html  keeps the
file exact).

Like scrapy fetch:
  - redirects are followed and the final page is printed; --no-redirect
    prints the 3xx response itself;
  - a non-2xx response (404, 500, ...) is printed like any other, exit
    status 0 (retries for RETRY_HTTP_CODES happen first);
  - --headers prints the request's headers ("> Name: value"), a line ">",
    then the response's headers ("< Name: value") instead of the body. With
    redirects followed these are the final request and response. The
    request headers are those sent: the middlewares' (User-Agent,
    DEFAULT_REQUEST_HEADERS, Cookie, -H) or, when impersonating, the
    browser profile's merged with -H. Headers the transport adds itself
    (Host, Content-Length, the HTTP/2 pseudo-headers and, without a
    profile, Accept-Encoding) are not listed.

The status line (status, final URL, protocol) goes to stderr. Exit status 1
when the download fails (connection refused, TLS error, timeout, blocked
address), 2 for a usage error.

Settings: the defaults, then --spec's settings (and its middlewares,
sessions and impersonation), then -s. IMPERSONATE, PROXIES, TLS_VERIFY,
DOWNLOAD_TIMEOUT, DOWNLOAD_MAXSIZE, USER_AGENT, DEFAULT_REQUEST_HEADERS,
RETRY_ENABLED, ... apply as in a crawl.

Examples:
  spiderrun fetch https://example.com/
  spiderrun fetch --headers https://example.com/old-page
  spiderrun fetch --no-redirect --headers https://example.com/old-page
  spiderrun fetch https://example.com/ --impersonate chrome
  spiderrun fetch https://example.com/ --impersonate firefox --http-version 1.1 -H 'Accept-Language: de'
  spiderrun fetch https://example.com/ --impersonate chrome --http-version 3
  spiderrun fetch https://example.com/ -s PROXIES=socks5://127.0.0.1:1080 -s IMPERSONATE=safari
  spiderrun fetch https://example.com/api -X POST -d '{"q": 1}' -H 'Content-Type: application/json'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFetch(cmd, &f, &fo, args[0])
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&fo.specPath, "spec", "", "use the spider `SPEC`'s settings, middlewares and sessions (scrapy fetch --spider)")
	fl.StringVar(&fo.imp, "impersonate", "", "browser profile (chrome, firefox, safari, edge, chrome_156, random, or a profile file) (= -s IMPERSONATE=P)")
	fl.StringVar(&fo.httpVersion, "http-version", "", "HTTP version 1.1, 2, 3 (HTTP/3 over QUIC) or auto (TCP, then HTTP/3 after Alt-Svc) (default: negotiate by ALPN)")
	fl.StringArrayVarP(&fo.headers, "header", "H", nil, "extra request header 'Name: value' (repeatable; replaces the profile's value in place)")
	fl.StringVarP(&fo.method, "method", "X", "", "request method (default GET, or POST with --data)")
	fl.StringVarP(&fo.data, "data", "d", "", "request body")
	fl.BoolVar(&fo.showHeaders, "headers", false, "print the request and response headers instead of the body")
	fl.BoolVar(&fo.noRedirect, "no-redirect", false, "do not follow redirects: print the 3xx response")
	fl.BoolVar(&fo.noBody, "no-body", false, "same as --headers")
	_ = fl.MarkHidden("no-body") // cobra's deprecation notice would go to stdout
	return cmd
}

// fetchStatuses is handle_httpstatus_list for a fetch that follows
// redirects: every status but 3xx reaches the printer (scrapy fetch's
// SequenceExclude(range(300, 400))).
func fetchStatuses() []int {
	var l []int
	for s := 100; s < 1000; s++ {
		if s < 300 || s >= 400 {
			l = append(l, s)
		}
	}
	return l
}

func runFetch(cmd *cobra.Command, f *runFlags, fo *fetchOptions, rawURL string) error {
	switch fo.httpVersion {
	case "", "1.1", "2", "3", "auto":
	default:
		return usageErr(fmt.Errorf("--http-version %q: want 1.1, 2, 3 or auto", fo.httpVersion))
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr(fmt.Errorf("%q is not an http(s) URL", rawURL))
	}
	var hs crawl.Headers
	for _, h := range fo.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return usageErr(fmt.Errorf("-H %q: want 'Name: value'", h))
		}
		hs = append(hs, crawl.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	l, err := f.loadShell(fo.specPath, fo.imp)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
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
	req := &crawl.Request{
		URL: u.String(), Method: strings.ToUpper(fo.method), Headers: hs, HTTPVersion: fo.httpVersion,
		Start: true, DontFilter: true, SessionID: l.spec.SessionID, Meta: map[string]any{},
	}
	if fo.data != "" {
		req.Body = []byte(fo.data)
		if req.Method == "" {
			req.Method = "POST"
		}
	}
	if fo.noRedirect {
		req.Meta["handle_httpstatus_all"] = true
	} else {
		req.Meta["handle_httpstatus_list"] = fetchStatuses()
	}
	resp, err := c.Engine().Crawl().Download(ctx, req)
	if err != nil {
		return failErr(err)
	}
	status := fmt.Sprintf("%d %s %s (%s)", resp.Status, http.StatusText(resp.Status), resp.URL, resp.Protocol)
	if r := resp.Request; r != nil && len(r.RedirectURLs) > 0 {
		status += "; redirected from " + r.RedirectURLs[0]
	}
	fmt.Fprintln(cmd.ErrOrStderr(), status)
	w := cmd.OutOrStdout()
	if fo.noBody {
		fmt.Fprintln(cmd.ErrOrStderr(), "spiderrun: --no-body is deprecated: use --headers")
	}
	if fo.showHeaders || fo.noBody {
		sent := resp.Request
		if sent == nil {
			sent = req
		}
		printFetchHeaders(w, sentHeaders(sent, resp, c.Spec.Settings.String("IMPERSONATE")), resp.Headers)
		return nil
	}
	_, err = w.Write(resp.Body)
	return err
}

// sentHeaders is the header list the request went out with: its own
// headers, or, when impersonating a named profile, the profile's headers
// for the request's kind and the protocol used, with them (what the
// transport sends).
func sentHeaders(r *crawl.Request, resp *crawl.Response, setting string) crawl.Headers {
	name := r.Impersonate
	if name == "" {
		name = setting
	}
	if name == "" || name == impersonate.Random {
		return r.Headers
	}
	p, err := impersonate.LoadProfile(name)
	if err != nil {
		return r.Headers
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return r.Headers
	}
	// The transport's own rule (runtime/impersonate/transport.go): the
	// profile's headers for the request's kind and protocol.
	info := impersonate.InfoOf(r, r.GetMethod(), u, len(r.Body))
	return p.KindHeaders(info, r.Headers, resp.Protocol != "HTTP/2.0")
}

// printFetchHeaders prints headers as scrapy fetch --headers does:
// "> " request headers, a line ">", "< " response headers.
func printFetchHeaders(w io.Writer, req, resp crawl.Headers) {
	for _, h := range req {
		fmt.Fprintf(w, "> %s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintln(w, ">")
	for _, h := range resp {
		fmt.Fprintf(w, "< %s: %s\n", h.Name, h.Value)
	}
}
