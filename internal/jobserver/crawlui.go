package jobserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/statsnap"
)

// CrawlUI is the dashboard of one crawl in the crawling process (`spiderrun
// run --ui-addr`): the job server's live job view — same templates, same
// figures, same credentials and cross-site checks — fed from the running
// crawl directly instead of a child's snapshot file.
type CrawlUI struct {
	opts    CrawlUIOptions
	csrfKey []byte
	started time.Time

	mu      sync.Mutex
	samples []sample
	items   []string // the latest items, newest last, as indented JSON
	stops   int      // Stop clicks
	srv     *http.Server
	done    chan struct{}
	quit    chan struct{}
}

// CrawlUIOptions configure a CrawlUI.
type CrawlUIOptions struct {
	// Spider and Args are shown in the page's title and header.
	Spider string
	Args   map[string]string
	// Snapshot returns the crawl's figures now (statsnap.Writer.Take).
	Snapshot func() *statsnap.Snapshot
	// Stop stops the crawl gracefully (the Stop button: a first Ctrl-C);
	// Abort stops it at once (a second click: a second Ctrl-C).
	Stop, Abort func()
	// LogTail returns the end of the crawl's log; nil shows none.
	LogTail func() []byte
	// Auth holds the credentials; empty means none (loopback).
	Auth Auth
	// Interval is how often the chart's history is sampled (1 s).
	Interval time.Duration
	Logger   *slog.Logger
}

// crawlJobID is the job id of the single crawl in the job view's URLs.
const crawlJobID = "crawl"

// NewCrawlUI returns the dashboard of a crawl; Listen serves it.
func NewCrawlUI(o CrawlUIOptions) (*CrawlUI, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &CrawlUI{opts: o, csrfKey: key, started: time.Now(), quit: make(chan struct{})}, nil
}

// Item records an item for the "latest items" panel (called for every
// item the crawl exports; only the last few are kept).
func (u *CrawlUI) Item(v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return
	}
	u.mu.Lock()
	u.items = append(u.items, string(b))
	if len(u.items) > 5 {
		u.items = u.items[len(u.items)-5:]
	}
	u.mu.Unlock()
}

// Handler is the dashboard's HTTP handler, behind the job server's guard.
func (u *CrawlUI) Handler() http.Handler {
	mux := http.NewServeMux()
	static := mustSub(uiFS, "ui")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", u.page)
	mux.HandleFunc("GET /ui/jobs/"+crawlJobID, u.page)
	mux.HandleFunc("GET /ui/jobs/"+crawlJobID+"/live", u.live)
	mux.HandleFunc("POST /ui/jobs/"+crawlJobID+"/cancel", u.cancel)
	mux.HandleFunc("GET /stats.json", u.statsJSON)
	mux.HandleFunc("GET /log", u.log)
	fail := func(w http.ResponseWriter, code int, err error) {
		writeJSON(w, code, map[string]any{"status": "error", "message": err.Error()})
	}
	return protect(mux, u.opts.Auth, u.opts.Logger, func(*http.Request) int64 { return 64 << 10 }, fail)
}

// Listen serves the dashboard on addr (already resolved: HOST:PORT) until
// Close, and returns the address listened on (port 0 resolved).
func (u *CrawlUI) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	u.srv = &http.Server{Handler: u.Handler(), ReadHeaderTimeout: 10 * time.Second}
	u.done = make(chan struct{})
	go func() {
		defer close(u.done)
		_ = u.srv.Serve(ln)
	}()
	go u.sample()
	return ln.Addr().String(), nil
}

// Close stops serving (requests in progress get a second) and sampling.
func (u *CrawlUI) Close() {
	close(u.quit)
	if u.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := u.srv.Shutdown(ctx); err != nil {
		_ = u.srv.Close()
	}
	<-u.done
}

// sample records the crawl's pages and items every Interval: the history
// the pages/s and items/s chart is drawn from.
func (u *CrawlUI) sample() {
	t := time.NewTicker(u.opts.Interval)
	defer t.Stop()
	for {
		snap := u.opts.Snapshot()
		u.mu.Lock()
		u.samples = append(u.samples, sample{T: snap.Time, Pages: snap.Progress.Pages, Items: snap.Progress.Items})
		if len(u.samples) > maxSamples {
			u.samples = u.samples[len(u.samples)-maxSamples:]
		}
		u.mu.Unlock()
		select {
		case <-u.quit:
			return
		case <-t.C:
		}
	}
}

// view is the live fragment's data: the job server's liveData for a job
// that is this crawl.
func (u *CrawlUI) view(snap *statsnap.Snapshot) liveData {
	u.mu.Lock()
	hist := append([]sample(nil), u.samples...)
	items := make([]string, 0, len(u.items))
	for i := len(u.items) - 1; i >= 0; i-- {
		items = append(items, u.items[i])
	}
	stops := u.stops
	u.mu.Unlock()
	j := &Job{ID: crawlJobID, Project: DefaultProject, Spider: u.opts.Spider, Args: u.opts.Args,
		State: Running, Started: u.started, PID: snap.PID, Cancels: stops}
	d := liveData{Row: jobRow{Job: j, Pages: snap.Progress.Pages, Items: snap.Progress.Items, Errors: snap.Progress.Errors,
		Duration: time.Since(u.started).Round(time.Second).String()},
		Snap: snap, SnapTime: snap.Time.Format(time.RFC3339Nano), Queued: "—", InFlight: snap.Progress.InFlight,
		ErrorsByType: errorsByType(snap.Stats), Domains: domainViews(snap.Domains), Items: items, Running: true,
		CancelCSRF: csrfToken(u.csrfKey, "cancel "+crawlJobID)}
	if snap.Progress.Queued >= 0 {
		d.Queued = groupDigits(int64(snap.Progress.Queued))
	}
	var pr, ir float64
	d.Chart, pr, ir = chart(hist)
	d.PagesRate, d.ItemsRate = fmt.Sprintf("%.1f", pr), fmt.Sprintf("%.1f", ir)
	if u.opts.LogTail != nil {
		d.Log = string(u.opts.LogTail())
	}
	return d
}

func (u *CrawlUI) page(w http.ResponseWriter, r *http.Request) {
	d := u.view(u.opts.Snapshot())
	renderPage(w, u.opts.Logger, "job.html", map[string]any{"Live": d, "Job": d.Row.Job, "LogURL": "/log",
		"StatsURL": "/stats.json", "Node": "", "Label": "crawl"})
}

func (u *CrawlUI) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	renderPage(w, u.opts.Logger, "live", u.view(u.opts.Snapshot()))
}

// statsJSON is the snapshot the page shows, as /jobs/ID/stats.json of the
// job server has it.
func (u *CrawlUI) statsJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "snapshot": u.opts.Snapshot()})
}

func (u *CrawlUI) log(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if u.opts.LogTail != nil {
		_, _ = w.Write(u.opts.LogTail())
	}
}

// cancel is the Stop button: the first click stops the crawl gracefully,
// a second one aborts it, as Ctrl-C does.
func (u *CrawlUI) cancel(w http.ResponseWriter, r *http.Request) {
	if err := checkCSRF(u.csrfKey, r, "cancel "+crawlJobID); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]any{"status": "error", "message": err.Error()})
		return
	}
	u.mu.Lock()
	u.stops++
	n := u.stops
	u.mu.Unlock()
	if n == 1 && u.opts.Stop != nil {
		u.opts.Logger.Info("Stop clicked on the dashboard: stopping gracefully")
		u.opts.Stop()
	} else if n > 1 && u.opts.Abort != nil {
		u.opts.Logger.Warn("Stop clicked again on the dashboard: aborting")
		u.opts.Abort()
	}
	http.Redirect(w, r, "/ui/jobs/"+crawlJobID, http.StatusSeeOther)
}
