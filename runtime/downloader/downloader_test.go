package downloader

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func TestDownloadProtocols(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    fixture.Options
		version string
		want    string
	}{
		{"http1", fixture.Options{}, "", "HTTP/1.1"},
		{"tls-http1", fixture.Options{TLS: true}, "", "HTTP/1.1"},
		{"tls-h2-alpn", fixture.Options{HTTP2: true}, "", "HTTP/2.0"},
		{"tls-h2-forced-1.1", fixture.Options{HTTP2: true}, "1.1", "HTTP/1.1"},
		{"tls-h2-forced-2", fixture.Options{HTTP2: true}, "2", "HTTP/2.0"},
		{"h2c-prior-knowledge", fixture.Options{H2C: true}, "2", "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixture.New(t, tc.opts)
			d := newDownloader(t, srv, nil)
			req := get(srv.URL + "/site/3")
			req.HTTPVersion = tc.version
			resp, err := d.Download(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Protocol != tc.want || resp.Status != 200 {
				t.Fatalf("protocol %s status %d, want %s 200", resp.Protocol, resp.Status, tc.want)
			}
			if !strings.Contains(string(resp.Body), fixture.SiteProduct(3)[2]) {
				t.Fatalf("body lacks the product sku")
			}
			if resp.Request != req || resp.URL != req.URL || resp.Timings.Latency() <= 0 {
				t.Fatalf("response metadata wrong: %+v", resp.Timings)
			}
			hits := srv.Hits("/site/3")
			if len(hits) != 1 || hits[0].Header.Get("Accept-Encoding") != "gzip, deflate, br, zstd" {
				t.Fatalf("server saw %d hits, accept-encoding %q", len(hits), hits[0].Header.Get("Accept-Encoding"))
			}
			if ua := hits[0].Header.Values("User-Agent"); len(ua) != 0 {
				t.Fatalf("Go's default User-Agent leaked: %q", ua)
			}
		})
	}
}

// K07: verification on by default; Verify false turns it off; the
// ServerName is the URL host.
func TestTLSVerification(t *testing.T) {
	srv := fixture.New(t, fixture.Options{TLS: true})
	res := &testResolver{names: map[string][]netip.Addr{"evil.test": loopback()}}
	untrusted := newDownloader(t, nil, func(o *Options) { o.HTTP.Resolver = res })
	resp, err := untrusted.Download(context.Background(), get(srv.URL+"/ok"))
	mustFail(t, resp, err, crawl.TLSError, "certificate signed by unknown authority")

	off := false
	req := get(srv.URL + "/ok")
	req.Verify = &off
	log, buf := testLogger()
	insecure := newDownloader(t, nil, func(o *Options) { o.Logger = log })
	if _, err := insecure.Download(context.Background(), req); err != nil {
		t.Fatalf("verify=false: %v", err)
	}
	if _, err := insecure.Download(context.Background(), req.Copy()); err != nil {
		t.Fatalf("verify=false: %v", err)
	}
	if n := strings.Count(buf.String(), "verification is off"); n != 1 {
		t.Fatalf("insecure warnings = %d, want 1 per host:\n%s", n, buf)
	}

	trusted := newDownloader(t, srv, func(o *Options) { o.HTTP.Resolver = res })
	resp, err = trusted.Download(context.Background(), get(srv.URLFor("evil.test", "/ok")))
	mustFail(t, resp, err, crawl.TLSError, "not evil.test")
	if srv.Count("") != 2 {
		t.Fatalf("server handled %d requests, want 2 (only the insecure ones)", srv.Count(""))
	}
}

// D01–D06: each fault maps to a typed failure with a message that says
// what happened.
func TestFaults(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	closed := fixture.New(t, fixture.Options{})
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name     string
		url      string
		typ      crawl.FailureType
		contains []string
	}{
		{"hang", srv.URL + "/hang", crawl.TimeoutError, []string{"timeout after 500ms waiting for response headers", "GET " + srv.URL + "/hang"}},
		{"hang-after-headers", srv.URL + "/hang-after-headers", crawl.TimeoutError, []string{"download deadline 500ms exceeded (10 B received)"}},
		{"drip", srv.URL + "/drip?bps=20", crawl.TimeoutError, []string{"download deadline 500ms exceeded ("}},
		{"partial", srv.URL + "/partial", crawl.ConnectionError, []string{"unexpected EOF: 16 of 1024 bytes"}},
		{"reset-before-data", srv.URL + "/reset", crawl.ConnectionReset, []string{"connection reset by peer"}},
		{"reset-mid-body", srv.URL + "/reset?mid=1", crawl.ConnectionReset, []string{"connection reset by peer after 16 B of body"}},
		{"refused", closedURL + "/ok", crawl.ConnectionRefused, []string{"connection refused"}},
		{"content-length-over-max", srv.URL + "/biglength", crawl.MaxSizeExceeded, []string{"Content-Length 10.0 GiB exceeds DOWNLOAD_MAXSIZE 1.0 MiB"}},
		{"header-block-over-1MiB", srv.URL + "/headers?n=1000&size=2048", crawl.MaxSizeExceeded, []string{"response headers exceed 1.0 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDownloader(t, srv, func(o *Options) {
				if tc.typ == crawl.TimeoutError {
					o.Timeout = 500 * time.Millisecond
				}
			})
			resp, err := d.Download(context.Background(), get(tc.url))
			mustFail(t, resp, err, tc.typ, tc.contains...)
		})
	}
}

func TestDataLossFlaggedWhenAllowed(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, func(o *Options) { o.FailOnDataLoss = false })
	resp, err := d.Download(context.Background(), get(srv.URL+"/partial"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "0123456789abcdef" || len(resp.Flags) != 1 || resp.Flags[0] != "dataloss" {
		t.Fatalf("body %q flags %v", resp.Body, resp.Flags)
	}
}

// D07: NXDOMAIN and a DNS server that does not answer.
func TestDNSFailures(t *testing.T) {
	res := &testResolver{slow: map[string]bool{"slow.test": true}}
	d := newDownloader(t, nil, func(o *Options) {
		o.HTTP.Resolver = res
		o.HTTP.DNSTimeout = 100 * time.Millisecond
	})
	resp, err := d.Download(context.Background(), get("http://nx.test/"))
	mustFail(t, resp, err, crawl.DNSLookupError, "no such host: nx.test")
	resp, err = d.Download(context.Background(), get("http://slow.test/"))
	mustFail(t, resp, err, crawl.DNSLookupError, "dns timeout resolving slow.test")
}

// Z01–Z03: bombs in every encoding stop at the limit, having decoded at
// most one read chunk past it, with bounded allocation.
func TestDecompressionBombs(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	for _, enc := range []string{"identity", "gzip", "deflate", "rawdeflate", "br", "zstd", "gzip,gzip,gzip", "br,gzip"} {
		t.Run(enc, func(t *testing.T) {
			d := newDownloader(t, srv, func(o *Options) { o.Timeout = 20 * time.Second })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, err := d.Download(context.Background(), get(srv.URL+"/bomb?size=10GiB&enc="+enc))
			runtime.ReadMemStats(&after)
			want := "decompressed body exceeded DOWNLOAD_MAXSIZE (1048576 B) after "
			if enc == "identity" {
				want = "body exceeded DOWNLOAD_MAXSIZE (1048576 B)"
			}
			f := mustFail(t, resp, err, crawl.MaxSizeExceeded, want)
			me := f.Err.(*MaxSizeError)
			if me.Read > (1<<20)+1 || float64(me.Read) > 1.1*(1<<20) {
				t.Errorf("decoded %d B before stopping, want ≤ 1.1 × 1 MiB", me.Read)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB while reading a bomb", alloc>>20)
			}
		})
	}
}

func TestDecodesEveryEncoding(t *testing.T) {
	srv := fixture.New(t, fixture.Options{HTTP2: true})
	d := newDownloader(t, srv, nil)
	for _, tc := range []struct{ enc, query string }{
		{"gzip", ""}, {"deflate", ""}, {"rawdeflate", ""}, {"br", ""}, {"zstd", ""},
		{"gzip,br,zstd", ""}, {"gzip,deflate", "&multiheader=1"},
	} {
		resp, err := d.Download(context.Background(), get(srv.URL+"/bomb?size=300000&fill=spiderrun&enc="+tc.enc+tc.query))
		if err != nil {
			t.Fatalf("%s: %v", tc.enc, err)
		}
		if len(resp.Body) != 300000 || !strings.HasPrefix(string(resp.Body), "spiderrunspiderrun") {
			t.Fatalf("%s: decoded %d B %q", tc.enc, len(resp.Body), resp.Body[:min(20, len(resp.Body))])
		}
		if resp.Headers.Has("Content-Encoding") {
			t.Fatalf("%s: Content-Encoding kept after decoding", tc.enc)
		}
	}
}

func TestUndecodableBodies(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/fake-gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		fmt.Fprint(w, "this is not gzip")
	})
	srv.Handle("/truncated-gzip", func(w http.ResponseWriter, r *http.Request) {
		b, _ := fixture.Encode([]byte(strings.Repeat("abc", 10000)), "gzip")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b[:len(b)-10])
	})
	srv.Handle("/layers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip, gzip, gzip, gzip, gzip")
		fmt.Fprint(w, "x")
	})
	srv.Handle("/unknown-encoding", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "compress")
		fmt.Fprint(w, "raw")
	})
	d := newDownloader(t, srv, nil)
	resp, err := d.Download(context.Background(), get(srv.URL+"/fake-gzip"))
	mustFail(t, resp, err, crawl.UnknownError, "undecodable body", "gzip")
	resp, err = d.Download(context.Background(), get(srv.URL+"/truncated-gzip"))
	mustFail(t, resp, err, crawl.ConnectionError, "truncated body")
	resp, err = d.Download(context.Background(), get(srv.URL+"/layers"))
	mustFail(t, resp, err, crawl.UnknownError, "5 content-encoding layers (max 4)")
	resp, err = d.Download(context.Background(), get(srv.URL+"/unknown-encoding"))
	if err != nil || string(resp.Body) != "raw" || resp.Headers.Get("Content-Encoding") != "compress" {
		t.Fatalf("unknown encoding should pass through untouched: %v %q", err, resp.Body)
	}
}

// D14: exactly one warning per response over DOWNLOAD_WARNSIZE, whether
// the size is declared or only seen while streaming.
func TestWarnSizeWarnsOnce(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 2, PageSize: 600 << 10})
	for _, path := range []string{"/site/1", "/bomb?enc=identity&size=600KiB", "/bomb?enc=gzip&size=600KiB"} {
		log, buf := testLogger()
		d := newDownloader(t, srv, func(o *Options) { o.Logger = log })
		resp, err := d.Download(context.Background(), get(srv.URL+path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if n := strings.Count(buf.String(), "DOWNLOAD_WARNSIZE"); n != 1 || !strings.Contains(buf.String(), srv.URL+path) {
			t.Fatalf("%s (%d B): %d warnings, want 1 naming the URL:\n%s", path, len(resp.Body), n, buf)
		}
	}
}

// D12 (scaled down): 20 hosts mapped to one server, 2 per host. The
// server-side gauge never sees more than 2 at once from any host, and
// every request completes.
func TestPerDomainConcurrencyAcrossHosts(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 50, Latency: 50 * time.Millisecond})
	res := &testResolver{names: map[string][]netip.Addr{}}
	var hosts []string
	for i := range 20 {
		h := fmt.Sprintf("h%d.test", i)
		hosts = append(hosts, h)
		res.names[h] = loopback()
	}
	d := newDownloader(t, srv, func(o *Options) {
		o.HTTP.Resolver = res
		o.ConcurrentPerDomain = 2
	})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		host := hosts[i%len(hosts)]
		wg.Go(func() {
			if _, err := d.Download(context.Background(), get(srv.URLFor(host, fmt.Sprintf("/site/%d", i%50)))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if m := srv.MaxInFlightHost(h); m > 2 || m < 1 {
			t.Errorf("host %s: max in flight %d, want 1–2", h, m)
		}
	}
	if srv.Count("/site/*") != 200 || srv.MaxInFlight() > 40 {
		t.Fatalf("hits %d, max in flight %d", srv.Count("/site/*"), srv.MaxInFlight())
	}
}

// DOWNLOAD_DELAY spaces the starts of a slot's downloads (server
// timestamps), and the gate is consulted once per download.
func TestDownloadDelayAndGate(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	gate := &recordingGate{}
	d := newDownloader(t, srv, func(o *Options) {
		o.Delay = 150 * time.Millisecond
		o.Gate = gate
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := d.Download(context.Background(), get(srv.URL+"/ok")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	hits := srv.Hits("/ok")
	if len(hits) != 4 {
		t.Fatalf("hits %d", len(hits))
	}
	for i := 1; i < len(hits); i++ {
		if gap := hits[i].Time.Sub(hits[i-1].Time); gap < 140*time.Millisecond {
			t.Errorf("gap %d = %v, want ≥ 150ms", i, gap)
		}
	}
	if got := gate.calls(); len(got) != 4 || got[0] != "127.0.0.1 150ms" {
		t.Fatalf("gate calls %v", got)
	}
}

type recordingGate struct {
	mu  sync.Mutex
	log []string
}

func (g *recordingGate) Acquire(_ context.Context, slot string, delay time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, slot+" "+delay.String())
	return nil
}

func (g *recordingGate) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.log...)
}

func TestNotBeforeMetaDelaysTheDownload(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, nil)
	start := time.Now()
	req := get(srv.URL + "/ok")
	req.SetMeta(MetaNotBefore, start.Add(300*time.Millisecond).UnixMilli())
	if _, err := d.Download(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if at := srv.Hits("/ok")[0].Time; at.Sub(start) < 290*time.Millisecond {
		t.Fatalf("fetched %v after start, want ≥ 300ms", at.Sub(start))
	}
}

func TestAutoThrottle(t *testing.T) {
	d, err := New(Options{Delay: 100 * time.Millisecond, AutoThrottle: AutoThrottle{Enabled: true, StartDelay: time.Second, MaxDelay: 10 * time.Second, TargetConcurrency: 2}})
	if err != nil {
		t.Fatal(err)
	}
	s := d.getSlot("x")
	if s.delay != time.Second {
		t.Fatalf("start delay %v", s.delay)
	}
	at := func(status int, latency time.Duration, hdr ...string) *crawl.Response {
		now := time.Now()
		r := &crawl.Response{Status: status, Timings: crawl.Timings{Start: now, Headers: now.Add(latency)}}
		if len(hdr) == 2 {
			r.Headers.Add(hdr[0], hdr[1])
		}
		return r
	}
	steps := []struct {
		resp *crawl.Response
		want time.Duration
	}{
		// target = latency / 2; new = max(target, (delay + target) / 2)
		{at(200, 400*time.Millisecond), 600 * time.Millisecond},
		{at(200, 400*time.Millisecond), 400 * time.Millisecond},
		// a non-200 response never lowers the delay
		{at(404, 10*time.Millisecond), 400 * time.Millisecond},
		// never below DOWNLOAD_DELAY
		{at(200, 2), 200 * time.Millisecond},
		{at(200, 2), 100 * time.Millisecond},
		{at(200, 2), 100 * time.Millisecond},
		// 503 and 429 double it
		{at(503, 0), 200 * time.Millisecond},
		{at(429, 0), 400 * time.Millisecond},
		// capped at MaxDelay
		{at(200, time.Minute), 10 * time.Second},
	}
	for i, st := range steps {
		d.throttle(s, st.resp)
		if s.delay != st.want {
			t.Fatalf("step %d (status %d): delay %v, want %v", i, st.resp.Status, s.delay, st.want)
		}
	}
	log, buf := testLogger()
	d.log = log
	d.opts.AutoThrottle.Debug = true
	d.throttle(s, at(429, 0, "Retry-After", "3600"))
	// Scrapy's words and layout (scrapy/extensions/throttle.py).
	if !strings.Contains(buf.String(), "slot: x | conc: 0 | delay:10000 ms (+0) | latency:    0 ms | size:     0 bytes") {
		t.Fatalf("AUTOTHROTTLE_DEBUG line missing: %s", buf)
	}
	if until := time.Until(s.pausedUntil); until < 59*time.Second || until > 61*time.Second {
		t.Fatalf("Retry-After pause %v, want capped at 60s", until)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second, true},
		{"Wed, 31 Dec 2025 00:00:00 GMT", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFileURLs(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "index.html")
	os.WriteFile(page, []byte("<html>offline</html>"), 0o600)
	d := newDownloader(t, nil, nil)
	fileURL := "file://" + filepath.ToSlash(page)
	for _, tc := range []struct {
		name  string
		req   *crawl.Request
		ok    bool
		typ   crawl.FailureType
		inMsg string
	}{
		{"start request", &crawl.Request{URL: fileURL, Start: true}, true, "", ""},
		{"link from a file page", &crawl.Request{URL: fileURL, Parent: "file:///x/index.html"}, true, "", ""},
		{"link from an http page", &crawl.Request{URL: fileURL, Parent: "http://example.com/"}, false, crawl.IgnoreRequest, "file:// request refused"},
		{"no parent, not a start request", &crawl.Request{URL: fileURL}, false, crawl.IgnoreRequest, "file:// request refused"},
		{"missing file", &crawl.Request{URL: "file://" + filepath.ToSlash(filepath.Join(dir, "nope")), Start: true}, false, crawl.UnknownError, "file not found"},
		{"directory", &crawl.Request{URL: "file://" + filepath.ToSlash(dir), Start: true}, false, crawl.UnknownError, "is a directory"},
		{"remote host", &crawl.Request{URL: "file://server/share/x", Start: true}, false, crawl.IgnoreRequest, "only local files"},
		{"ftp", &crawl.Request{URL: "ftp://example.com/x", Start: true}, false, crawl.IgnoreRequest, `unsupported URL scheme "ftp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := d.Download(context.Background(), tc.req)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if string(resp.Body) != "<html>offline</html>" || resp.Protocol != "file" || !strings.HasPrefix(resp.Headers.Get("Content-Type"), "text/html") {
					t.Fatalf("got %q %s %q", resp.Body, resp.Protocol, resp.Headers.Get("Content-Type"))
				}
				return
			}
			mustFail(t, resp, err, tc.typ, tc.inMsg)
		})
	}
}

// The transport is chosen by the impersonation profile.
func TestTransportSelection(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	var used []string
	var mu sync.Mutex
	base := NewHTTPTransport(HTTPOptions{})
	tagged := func(name string) Transport {
		return transportFunc(func(ctx context.Context, out *Outgoing) (*http.Response, error) {
			mu.Lock()
			used = append(used, name+":"+out.Impersonate)
			mu.Unlock()
			return base.RoundTrip(ctx, out)
		})
	}
	d := newDownloader(t, srv, func(o *Options) {
		o.Transport = tagged("default")
		o.Transports = map[string]Transport{"chrome": tagged("chrome")}
		o.TransportFor = func(p string) (Transport, error) {
			if p == "firefox" {
				return tagged("factory"), nil
			}
			return nil, fmt.Errorf("unknown profile %q", p)
		}
	})
	for _, p := range []string{"", "chrome", "firefox"} {
		req := get(srv.URL + "/ok")
		req.Impersonate = p
		if _, err := d.Download(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	req := get(srv.URL + "/ok")
	req.Impersonate = "netscape"
	resp, err := d.Download(context.Background(), req)
	mustFail(t, resp, err, crawl.IgnoreRequest, `unknown profile "netscape"`)
	if strings.Join(used, ",") != "default:,chrome:chrome,factory:firefox" {
		t.Fatalf("transports used: %v", used)
	}
}

type transportFunc func(ctx context.Context, out *Outgoing) (*http.Response, error)

func (f transportFunc) RoundTrip(ctx context.Context, out *Outgoing) (*http.Response, error) {
	return f(ctx, out)
}

func TestPerRequestTimeoutAndIP(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, func(o *Options) { o.Timeout = 10 * time.Second })
	for _, tc := range []struct {
		name string
		mod  func(*crawl.Request)
		want string
	}{
		{"meta seconds", func(r *crawl.Request) { r.SetMeta(MetaDownloadTimeout, 0.2) }, "timeout after 200ms"},
		{"meta duration string", func(r *crawl.Request) { r.SetMeta(MetaDownloadTimeout, "150ms") }, "timeout after 150ms"},
		{"Request.Timeout wins", func(r *crawl.Request) { r.Timeout = 100 * time.Millisecond; r.SetMeta(MetaDownloadTimeout, 5.0) }, "timeout after 100ms"},
	} {
		req := get(srv.URL + "/hang")
		tc.mod(req)
		resp, err := d.Download(context.Background(), req)
		mustFail(t, resp, err, crawl.TimeoutError, tc.want)
	}
	resp, err := d.Download(context.Background(), get(srv.URL+"/ok"))
	if err != nil || resp.IP != "127.0.0.1" {
		t.Fatalf("IP %q err %v", resp.IP, err)
	}
}

// B03's mechanism: meta download_truncate keeps the first MaxSize bytes.
func TestTruncateMeta(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 2, PageSize: 600 << 10})
	d := newDownloader(t, srv, nil)
	defer d.Close()
	for _, path := range []string{"/site/1", "/bomb?enc=gzip&size=10GiB"} {
		req := get(srv.URL + path)
		req.SetMeta(MetaMaxSize, int64(100<<10))
		req.SetMeta(MetaTruncate, true)
		resp, err := d.Download(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(resp.Body) != 100<<10 || len(resp.Flags) != 1 || resp.Flags[0] != "truncated" {
			t.Fatalf("%s: %d B, flags %v", path, len(resp.Body), resp.Flags)
		}
	}
}

// AutoThrottle against a server: a 429 with Retry-After pauses the whole
// slot, so the next request to the host waits (server timestamps).
func TestAutoThrottleHonoursRetryAfter(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, func(o *Options) {
		o.AutoThrottle = AutoThrottle{Enabled: true, StartDelay: 10 * time.Millisecond, MaxDelay: time.Second, TargetConcurrency: 1, MaxRetryAfter: 5 * time.Second}
	})
	resp, err := d.Download(context.Background(), get(srv.URL+"/status?code=429&retry_after=1"))
	if err != nil || resp.Status != 429 {
		t.Fatalf("%v %v", resp, err)
	}
	if got := d.SlotDelay("127.0.0.1"); got < 100*time.Millisecond {
		t.Fatalf("delay after 429 = %v, want raised to ≥ 100ms", got)
	}
	if _, err := d.Download(context.Background(), get(srv.URL+"/ok")); err != nil {
		t.Fatal(err)
	}
	first, second := srv.Hits("/status")[0].Time, srv.Hits("/ok")[0].Time
	if gap := second.Sub(first); gap < 990*time.Millisecond {
		t.Fatalf("next request after %v, want ≥ 1s (Retry-After)", gap)
	}
}

func TestBodylessResponses(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/not-modified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		w.WriteHeader(http.StatusNotModified)
	})
	d := newDownloader(t, srv, nil)
	head := get(srv.URL + "/site/1")
	head.Method = "HEAD"
	for _, req := range []*crawl.Request{head, get(srv.URL + "/not-modified")} {
		resp, err := d.Download(context.Background(), req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.GetMethod(), req.URL, err)
		}
		if len(resp.Body) != 0 || len(resp.Flags) != 0 {
			t.Fatalf("%s: body %d B flags %v", req.URL, len(resp.Body), resp.Flags)
		}
	}
}

func TestInFlightListing(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Download(context.Background(), get(srv.URL+"/hang"))
	}()
	var got []InFlight
	proctest.Poll(10*time.Second, func() bool { got = d.InFlight(); return len(got) == 1 })
	if len(got) != 1 || got[0].URL != srv.URL+"/hang" || got[0].Slot != "127.0.0.1" || d.Active() != 1 {
		t.Fatalf("in flight %v active %d", got, d.Active())
	}
	<-done
	if n := len(d.InFlight()); n != 0 || d.Active() != 0 {
		t.Fatalf("after the timeout: %d in flight, active %d", n, d.Active())
	}
}
