package jobserver

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/health"
	"github.com/spiderrun/spiderrun/runtime/statsnap"
)

// The dashboard is server-rendered: html/template pages, one stylesheet
// and a little plain JS that reloads a job's live fragment every second.
// No build step; everything is embedded in the binary.

//go:embed ui
var uiFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"num": func(v int64) string { return groupDigits(v) },
	// head is the page header's data: the title and what serves the page
	// ("job server", or "crawl" for run --ui-addr).
	"head": func(title, label string) map[string]string { return map[string]string{"Title": title, "Label": label} },
}).ParseFS(uiFS, "ui/*.html"))

func (s *Server) routeDashboard(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFS, "ui")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.pageIndex)
	mux.HandleFunc("GET /ui/jobs/{id}", s.pageJob)
	mux.HandleFunc("GET /ui/jobs/{id}/live", s.pageLive)
	mux.HandleFunc("POST /ui/schedule", s.uiSchedule)
	mux.HandleFunc("POST /ui/jobs/{id}/cancel", s.uiCancel)
	mux.HandleFunc("POST /ui/jobs/{id}/resume", s.uiResume)
}

// jobRow is a job as the dashboard shows it.
type jobRow struct {
	*Job
	Pages, Items, Errors int64
	Duration             string
	Resumable            bool
}

func (s *Server) row(j *Job) jobRow {
	r := jobRow{Job: j, Resumable: j.State == Finished && j.JobDir != "" && j.Outcome != OutcomeFinished}
	if snap := s.snapshot(j); snap != nil {
		r.Pages, r.Items, r.Errors = snap.Progress.Pages, snap.Progress.Items, snap.Progress.Errors
	}
	if !j.Started.IsZero() {
		end := j.Ended
		if end.IsZero() {
			end = time.Now()
		}
		r.Duration = end.Sub(j.Started).Round(time.Second).String()
	}
	return r
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	renderPage(w, s.log, name, data)
}

func renderPage(w http.ResponseWriter, log *slog.Logger, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		log.Error("dashboard template", "template", name, "err", err)
		http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page's own script and style only.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	_, _ = b.WriteTo(w)
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

func (s *Server) pageIndex(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.store.jobs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Running first, then pending, then the most recent.
	rank := map[string]int{Running: 0, Pending: 1, Finished: 2}
	sort.SliceStable(jobs, func(a, b int) bool {
		if rank[jobs[a].State] != rank[jobs[b].State] {
			return rank[jobs[a].State] < rank[jobs[b].State]
		}
		return jobs[a].Created.After(jobs[b].Created)
	})
	if len(jobs) > 200 {
		jobs = jobs[:200]
	}
	var rows []jobRow
	counts := map[string]int{}
	for _, j := range jobs {
		rows = append(rows, s.row(j))
		counts[j.State]++
	}
	cat, err := s.catalog()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, "index.html", map[string]any{
		"Jobs": rows, "Spiders": cat, "Counts": counts, "Node": s.opts.NodeName,
		"Uptime": s.uptime().String(), "MaxJobs": s.opts.MaxJobs,
		"CSRF": s.csrfToken("schedule"), "Error": r.URL.Query().Get("error"),
	})
}

func (s *Server) jobOr404(w http.ResponseWriter, r *http.Request) *Job {
	j, err := s.store.get(r.PathValue("id"))
	if err != nil || j == nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return nil
	}
	return j
}

// liveData is what a job's live fragment shows.
type liveData struct {
	Row          jobRow
	Snap         *statsnap.Snapshot
	SnapTime     string
	Queued       string
	InFlight     int
	Chart        template.HTML
	PagesRate    string
	ItemsRate    string
	ErrorsByType []kv
	Domains      []domainView
	Items        []string
	Log          string
	CancelCSRF   string
	ResumeCSRF   string
	Running      bool
}

// domainView is a row of the per-domain health table: a snapshot's
// health.Row with its latency as shown.
type domainView struct {
	health.Row
	Latency string
}

func domainViews(rows []health.Row) []domainView {
	out := make([]domainView, len(rows))
	for i, r := range rows {
		out[i] = domainView{Row: r, Latency: "—"}
		if r.OK+r.Blocked > 0 {
			out[i].Latency = fmt.Sprintf("%.1f ms", r.LatencyMS)
		}
	}
	return out
}

type kv struct {
	K string
	V any
}

func (s *Server) liveView(j *Job) liveData {
	d := liveData{Row: s.row(j), Running: j.State == Running,
		CancelCSRF: s.csrfToken("cancel " + j.ID), ResumeCSRF: s.csrfToken("resume " + j.ID), Queued: "—"}
	if snap := s.snapshot(j); snap != nil {
		d.Snap = snap
		d.SnapTime = snap.Time.Format(time.RFC3339Nano)
		if snap.Progress.Queued >= 0 {
			d.Queued = groupDigits(int64(snap.Progress.Queued))
		}
		d.InFlight = snap.Progress.InFlight
		d.ErrorsByType = errorsByType(snap.Stats)
		d.Domains = domainViews(snap.Domains)
	}
	hist := s.history(j.ID)
	var pr, ir float64
	d.Chart, pr, ir = chart(hist)
	d.PagesRate, d.ItemsRate = fmt.Sprintf("%.1f", pr), fmt.Sprintf("%.1f", ir)
	if b, err := readTail(s.itemsPath(j), 64<<10); err == nil {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		for i := len(lines) - 1; i >= 0 && len(d.Items) < 5; i-- {
			if lines[i] == "" {
				continue
			}
			var v any
			if json.Unmarshal([]byte(lines[i]), &v) == nil {
				pretty, _ := json.MarshalIndent(v, "", "  ")
				d.Items = append(d.Items, string(pretty))
			}
		}
	}
	if b, err := readTail(s.logPath(j), 12<<10); err == nil {
		d.Log = string(b)
	}
	return d
}

// errorsByType picks the stats that count errors: log_count/ERROR,
// spider_exceptions/*, downloader/exception_type_count/* and 4xx/5xx
// responses.
func errorsByType(st map[string]any) []kv {
	var out []kv
	for k, v := range st {
		switch {
		case k == "log_count/ERROR", k == "log_count/CRITICAL",
			strings.HasPrefix(k, "spider_exceptions/"),
			strings.HasPrefix(k, "downloader/exception_type_count/"),
			strings.HasPrefix(k, "downloader/response_status_count/4"),
			strings.HasPrefix(k, "downloader/response_status_count/5"),
			strings.HasPrefix(k, "retry/reason_count/"):
			out = append(out, kv{k, v})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].K < out[b].K })
	return out
}

func (s *Server) pageJob(w http.ResponseWriter, r *http.Request) {
	j := s.jobOr404(w, r)
	if j == nil {
		return
	}
	logURL, itemsURL := s.urls(j)
	s.render(w, "job.html", map[string]any{"Live": s.liveView(j), "Job": j, "LogURL": logURL, "ItemsURL": itemsURL,
		"StatsURL": "/jobs/" + j.ID + "/stats.json", "Node": s.opts.NodeName, "Label": "job server"})
}

func (s *Server) pageLive(w http.ResponseWriter, r *http.Request) {
	j := s.jobOr404(w, r)
	if j == nil {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, "live", s.liveView(j))
}

// back redirects to a dashboard page, with an error to show when err is
// not nil.
func back(w http.ResponseWriter, r *http.Request, to string, err error) {
	if err != nil {
		to += "?error=" + url.QueryEscape(err.Error())
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) uiSchedule(w http.ResponseWriter, r *http.Request) {
	if err := form(r); err != nil {
		back(w, r, "/", err)
		return
	}
	if err := s.checkCSRF(r, "schedule"); err != nil {
		s.fail(w, http.StatusForbidden, err)
		return
	}
	j := &Job{Spider: r.PostFormValue("spider"), Args: map[string]string{}}
	for _, line := range strings.Split(r.PostFormValue("args"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			back(w, r, "/", fmt.Errorf("argument %q: want NAME=VALUE", line))
			return
		}
		j.Args[strings.TrimSpace(k)] = v
	}
	for _, line := range strings.Split(r.PostFormValue("settings"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			j.Settings = append(j.Settings, line)
		}
	}
	if err := s.submit(j); err != nil {
		back(w, r, "/", err)
		return
	}
	back(w, r, "/ui/jobs/"+j.ID, nil)
}

func (s *Server) uiCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.checkCSRF(r, "cancel "+id); err != nil {
		s.fail(w, http.StatusForbidden, err)
		return
	}
	_, err := s.cancel(id, false)
	back(w, r, "/ui/jobs/"+id, err)
}

func (s *Server) uiResume(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.checkCSRF(r, "resume "+id); err != nil {
		s.fail(w, http.StatusForbidden, err)
		return
	}
	nj, err := s.resume(id)
	if err != nil {
		back(w, r, "/ui/jobs/"+id, err)
		return
	}
	back(w, r, "/ui/jobs/"+nj.ID, nil)
}

// chart draws pages/s and items/s from a job's history as an inline SVG
// and returns the latest rates.
func chart(h []sample) (template.HTML, float64, float64) {
	const W, H, pad = 640.0, 170.0, 28.0
	type pt struct{ t, p, i float64 }
	var pts []pt
	// Each rate is taken over the last few samples (about two seconds at
	// the default interval): per-sample rates of a 200 ms snapshot jitter.
	const window = 5
	for k := 1; k < len(h); k++ {
		j := max(0, k-window)
		dt := h[k].T.Sub(h[j].T).Seconds()
		if dt <= 0 {
			continue
		}
		pts = append(pts, pt{h[k].T.Sub(h[0].T).Seconds(), float64(h[k].Pages-h[j].Pages) / dt, float64(h[k].Items-h[j].Items) / dt})
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="pages and items per second">`, W, H)
	if len(pts) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="muted" text-anchor="middle">waiting for figures…</text></svg>`, W/2, H/2)
		return template.HTML(b.String()), 0, 0
	}
	maxV, maxT := 1.0, pts[len(pts)-1].t
	for _, p := range pts {
		maxV = max(maxV, p.p, p.i)
	}
	if maxT <= 0 {
		maxT = 1
	}
	x := func(t float64) float64 { return pad + (W-2*pad)*t/maxT }
	y := func(v float64) float64 { return H - pad - (H-2*pad)*v/maxV }
	for _, f := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/><text x="4" y="%.1f" class="axis">%.1f</text>`,
			pad, W-pad, y(maxV*f), y(maxV*f), y(maxV*f)+4, maxV*f)
	}
	line := func(cls string, v func(pt) float64) {
		fmt.Fprintf(&b, `<polyline class="%s" points="`, cls)
		for _, p := range pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.t), y(v(p)))
		}
		b.WriteString(`"/>`)
	}
	line("pages", func(p pt) float64 { return p.p })
	line("items", func(p pt) float64 { return p.i })
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis" text-anchor="end">%.0f s</text></svg>`, W-pad, H-8, maxT)
	last := pts[len(pts)-1]
	return template.HTML(b.String()), last.p, last.i
}

// groupDigits writes 1234567 as "1 234 567" (thin spaces group digits in
// the dashboard; the tests read the digits back).
func groupDigits(v int64) string {
	s := fmt.Sprint(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u2009')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
