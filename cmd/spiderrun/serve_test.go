package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// The job server's tests run the real binary (`spiderrun serve`) and talk
// to it over real HTTP; its jobs are real `spiderrun run` children that
// crawl a local site.

// serveSite is the jobs' site: /list links to /page/0 .. /page/N-1, each
// of which the spider turns into one item. Every page answers after delay.
type serveSite struct {
	*httptest.Server
	n     int
	delay atomic.Int64 // nanoseconds
	hits  atomic.Int64
}

func newServeSite(t *testing.T, n int, delay time.Duration) *serveSite {
	t.Helper()
	s := &serveSite{n: n}
	s.delay.Store(int64(delay))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		time.Sleep(time.Duration(s.delay.Load()))
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/list" {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, `<a href="/page/%d">%d</a>`, i, i)
			}
			fmt.Fprintf(w, "<html><body>%s</body></html>", b.String())
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/page/") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `<html><body><h1>%s</h1></body></html>`, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

// writeServeSpecs writes the server's --specs directory: the spider
// "pages" (start from -a base=URL, one item per page, the tag argument in
// every item) and, with bad, a spec that loads but does not validate.
func writeServeSpecs(t *testing.T, bad bool) string {
	t.Helper()
	dir := t.TempDir()
	sp := filepath.Join(dir, "pages")
	if err := os.MkdirAll(sp, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sp, "spider.yaml"), `name: pages
script: spider.js
settings:
  DENY_PRIVATE_NETWORKS: false
  ROBOTSTXT_OBEY: false
  CONCURRENT_REQUESTS: 2
  LOGSTATS_INTERVAL: 0
  SHUTDOWN_GRACE_PERIOD: 20s
`)
	writeFile(t, filepath.Join(sp, "spider.js"), `export async function* start() {
  const base = String(spider.args.base || "");
  if (!base) throw new Error("run with -a base=URL");
  yield new Request({ url: base + "/list", callback: parse });
}
export function* parse(response) {
  if (response.url.includes("/page/")) {
    yield { URL: response.url, tag: spider.args.tag ?? null, title: response.css("h1::text").get("") };
    return;
  }
  for (const href of response.css("a::attr(href)").getall()) yield response.follow(href, { callback: parse });
}
`)
	if bad {
		// It loads (the catalog lists it) but names a callback the script
		// does not export: validate refuses it.
		writeFile(t, filepath.Join(dir, "broken.yaml"), `name: broken
script: broken.js
start_urls: ["http://127.0.0.1:1/"]
callback: nothere
`)
		writeFile(t, filepath.Join(dir, "broken.js"), "export function* parse(response) {}\n")
	}
	return dir
}

// server is a running `spiderrun serve`.
type server struct {
	p    *proctest.Proc
	base string
	auth func(*http.Request)
}

var servingLine = regexp.MustCompile(`Serving on (http://\S+)`)

// startServe runs `spiderrun serve` on a free loopback port with the data
// and specs directories and the extra arguments, and waits for it.
func startServe(t *testing.T, data, specs string, env []string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--specs", specs, "--snapshot-interval", "200ms", "--stop-grace", "20s"}, extra...)
	cmd := exec.Command(buildCLI(t), args...)
	cmd.Env = append(os.Environ(), env...)
	p := proctest.Start(t, cmd)
	s := &server{p: p}
	proctest.WaitFor(t, "the server's address", 20*time.Second, func() bool {
		if m := servingLine.FindStringSubmatch(p.Out.String()); m != nil {
			s.base = m[1]
			return true
		}
		return p.Cmd.ProcessState != nil
	})
	if s.base == "" {
		t.Fatalf("serve exited:\n%s", p.Out.String())
	}
	return s
}

// stop sends SIGTERM and waits for the server to exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	_ = s.p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := s.p.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, s.p.Out.String())
	}
}

// call sends a request and decodes the JSON answer.
func (s *server) call(t *testing.T, method, path string, form url.Values, hdr ...string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil && method == "POST" {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if s.auth != nil {
		s.auth(req)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %s: not JSON: %v\n%s", method, path, resp.Status, err, b)
	}
	return resp.StatusCode, m
}

func (s *server) ok(t *testing.T, method, path string, form url.Values) map[string]any {
	t.Helper()
	code, m := s.call(t, method, path, form)
	if code != 200 || m["status"] != "ok" {
		t.Fatalf("%s %s: %d %v\nserver output:\n%s", method, path, code, m, s.p.Out.String())
	}
	return m
}

// schedule schedules the pages spider and returns the job id.
func (s *server) schedule(t *testing.T, form url.Values) string {
	t.Helper()
	form.Set("project", "default")
	form.Set("spider", "pages")
	m := s.ok(t, "POST", "/schedule.json", form)
	id, _ := m["jobid"].(string)
	if id == "" {
		t.Fatalf("schedule.json: no jobid in %v", m)
	}
	return id
}

// job finds a job in listjobs.json: its state list and its entry.
func (s *server) job(t *testing.T, id string) (string, map[string]any) {
	t.Helper()
	m := s.ok(t, "GET", "/listjobs.json?project=default", nil)
	for _, state := range []string{"pending", "running", "finished"} {
		list, _ := m[state].([]any)
		for _, e := range list {
			if e := e.(map[string]any); e["id"] == id {
				return state, e
			}
		}
	}
	return "", nil
}

func (s *server) waitState(t *testing.T, id, want string, d time.Duration) map[string]any {
	t.Helper()
	var entry map[string]any
	proctest.WaitFor(t, "job "+id+" "+want, d, func() bool {
		var st string
		st, entry = s.job(t, id)
		return st == want
	})
	return entry
}

// stats is /jobs/ID/stats.json.
func (s *server) stats(t *testing.T, id string) map[string]any {
	t.Helper()
	return s.ok(t, "GET", "/jobs/"+id+"/stats.json", nil)
}

// livePages is the pages count of a job's latest snapshot (-1 if none).
func (s *server) livePages(t *testing.T, id string) int {
	snap, _ := s.stats(t, id)["snapshot"].(map[string]any)
	if snap == nil {
		return -1
	}
	return int(snap["progress"].(map[string]any)["pages"].(float64))
}

// fetch GETs a URL of the server and returns the body.
func (s *server) fetch(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	if s.auth != nil {
		s.auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// jsonLines checks that every line of a feed is one JSON object and
// returns them.
func jsonLines(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(body))
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("feed line %d is not a JSON object: %v: %q", n, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestServeScheduleToFinished(t *testing.T) {
	site := newServeSite(t, 12, 0)
	data := t.TempDir()
	srv := startServe(t, data, writeServeSpecs(t, false), nil)

	if m := srv.ok(t, "GET", "/listprojects.json", nil); fmt.Sprint(m["projects"]) != "[default]" {
		t.Errorf("listprojects.json = %v", m)
	}
	if m := srv.ok(t, "GET", "/listspiders.json?project=default", nil); fmt.Sprint(m["spiders"]) != "[pages]" {
		t.Errorf("listspiders.json = %v", m)
	}
	id := srv.schedule(t, url.Values{"base": {site.URL}, "tag": {"t1"}, "setting": {"CONCURRENT_REQUESTS=3", "LOG_LEVEL=DEBUG"}, "jobid": {"job-one"}})
	if id != "job-one" {
		t.Fatalf("jobid = %q, want the one given", id)
	}
	e := srv.waitState(t, id, "finished", 60*time.Second)
	if e["outcome"] != "finished" || e["exit_code"] != 0.0 {
		t.Fatalf("finished entry = %v\nlog:\n%s", e, srv.logOf(t, e))
	}
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`)
	for _, k := range []string{"start_time", "end_time"} {
		if s, _ := e[k].(string); !timeRE.MatchString(s) {
			t.Errorf("%s = %v, want Scrapyd's layout", k, e[k])
		}
	}
	if e["log_url"] != "/logs/default/pages/job-one.log" || e["items_url"] != "/items/default/pages/job-one.jl" {
		t.Errorf("urls = %v %v", e["log_url"], e["items_url"])
	}
	code, body := srv.fetch(t, e["items_url"].(string))
	if code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	items := jsonLines(t, body)
	if len(items) != site.n {
		t.Errorf("%d items, want %d", len(items), site.n)
	}
	for _, it := range items {
		if it["tag"] != "t1" {
			t.Errorf("item %v: the spider argument tag did not reach the spider", it)
			break
		}
	}
	// The settings reached the child: LOG_LEVEL=DEBUG shows DEBUG lines.
	if log := srv.logOf(t, e); !strings.Contains(log, "DEBUG") || !strings.Contains(log, "Spider closed (finished)") {
		t.Errorf("the log lacks DEBUG lines or the close line:\n%s", log)
	}
	st := srv.stats(t, id)
	final, _ := st["stats"].(map[string]any)
	if final["item_scraped_count"] != float64(site.n) || final["finish_reason"] != "finished" {
		t.Errorf("final stats = %v", final)
	}
	snap, _ := st["snapshot"].(map[string]any)
	if snap == nil || snap["running"] != false || snap["reason"] != "finished" ||
		snap["progress"].(map[string]any)["items"] != float64(site.n) {
		t.Errorf("last snapshot = %v", snap)
	}
	// The last STATS_SNAPSHOT_FILE holds the stats --stats-json writes.
	if got, want := fmt.Sprint(snap["stats"]), fmt.Sprint(final); got != want {
		t.Errorf("last snapshot's stats:\n%s\n--stats-json:\n%s", got, want)
	}
	if m := srv.ok(t, "GET", "/daemonstatus.json", nil); m["finished"] != 1.0 || m["running"] != 0.0 || m["pending"] != 0.0 {
		t.Errorf("daemonstatus.json = %v", m)
	}
	srv.stop(t)
}

func (s *server) logOf(t *testing.T, e map[string]any) string {
	u, _ := e["log_url"].(string)
	if u == "" {
		return "(no log_url)"
	}
	_, body := s.fetch(t, u)
	return body
}

// TestServeQueueAndCancel: with --max-jobs 1 a second job waits pending;
// cancelling it removes it from the queue; cancelling the running one stops
// it gracefully (SIGTERM): its feed is valid JSON lines, its stats say
// shutdown.
func TestServeQueueAndCancel(t *testing.T) {
	site := newServeSite(t, 400, 100*time.Millisecond)
	srv := startServe(t, t.TempDir(), writeServeSpecs(t, false), nil, "--max-jobs", "1")
	first := srv.schedule(t, url.Values{"base": {site.URL}})
	second := srv.schedule(t, url.Values{"base": {site.URL}, "priority": {"1"}})
	srv.waitState(t, first, "running", 30*time.Second)
	if st, e := srv.job(t, second); st != "pending" || e["args"].(map[string]any)["base"] != site.URL {
		t.Fatalf("second job: %s %v, want pending with its arguments (max-jobs 1)", st, e)
	}
	for id, want := range map[string]string{first: "running", second: "pending", "nosuch": "unknown"} {
		if m := srv.ok(t, "GET", "/status.json?project=default&job="+id, nil); m["currstate"] != want {
			t.Errorf("status.json for %s: %v, want %s", id, m, want)
		}
	}
	m := srv.ok(t, "POST", "/cancel.json", url.Values{"project": {"default"}, "job": {second}})
	if m["prevstate"] != "pending" {
		t.Errorf("cancel pending: %v", m)
	}
	if e := srv.waitState(t, second, "finished", 10*time.Second); e["outcome"] != "cancelled" || e["start_time"] != nil {
		t.Errorf("cancelled pending job: %v", e)
	}
	// Mid-crawl: some pages done, most not.
	proctest.WaitFor(t, "pages crawled", 60*time.Second, func() bool { return srv.livePages(t, first) >= 5 })
	m = srv.ok(t, "POST", "/cancel.json", url.Values{"project": {"default"}, "job": {first}})
	if m["prevstate"] != "running" {
		t.Errorf("cancel running: %v", m)
	}
	e := srv.waitState(t, first, "finished", 60*time.Second)
	if e["outcome"] != "cancelled" || e["exit_code"] != 0.0 {
		t.Errorf("cancelled job: %v (a graceful stop exits 0)\n%s", e, srv.logOf(t, e))
	}
	_, body := srv.fetch(t, e["items_url"].(string))
	items := jsonLines(t, body)
	final, _ := srv.stats(t, first)["stats"].(map[string]any)
	if final["finish_reason"] != "shutdown" {
		t.Errorf("finish_reason = %v, want shutdown", final["finish_reason"])
	}
	if n := len(items); n == 0 || n >= site.n || float64(n) != final["item_scraped_count"] {
		t.Errorf("%d items in the feed, stats say %v, of %d pages: want a partial, complete feed", n, final["item_scraped_count"], site.n)
	}
	if m := srv.ok(t, "GET", "/status.json?job="+first, nil); m["currstate"] != "finished" {
		t.Errorf("status.json after the cancel: %v", m)
	}
	if m := srv.ok(t, "GET", "/daemonstatus.json", nil); m["finished"] != 2.0 || m["running"] != 0.0 {
		t.Errorf("daemonstatus.json = %v", m)
	}
	srv.stop(t)
}

// TestServeRestartMidJob: the server is killed (SIGKILL) while a job with
// a JOBDIR runs. The child stops too (it gets SIGTERM when its parent
// dies); the restarted server reports the job interrupted and resumable,
// keeps working, and resume.json finishes the crawl from the JOBDIR.
func TestServeRestartMidJob(t *testing.T) {
	site := newServeSite(t, 60, 80*time.Millisecond)
	data, specs := t.TempDir(), writeServeSpecs(t, false)
	srv := startServe(t, data, specs, nil)
	id := srv.schedule(t, url.Values{"base": {site.URL}, "setting": {"JOBDIR=jobdirs/restart"}})
	e := srv.waitState(t, id, "running", 30*time.Second)
	pid := int(e["pid"].(float64))
	proctest.WaitFor(t, "pages crawled", 60*time.Second, func() bool { return srv.livePages(t, id) >= 5 })
	_ = srv.p.Cmd.Process.Kill()
	_ = srv.p.Wait(t, 10*time.Second)
	proctest.WaitFor(t, "the orphaned job to stop", 60*time.Second, func() bool {
		// Gone, or a zombie nobody reaped (a container's PID 1 may not).
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		return len(f) > 0 && f[0] == "Z"
	})

	srv = startServe(t, data, specs, nil)
	e = srv.waitState(t, id, "finished", 10*time.Second)
	if e["outcome"] != "interrupted" || e["resumable"] != true {
		t.Fatalf("job after restart: %v, want interrupted and resumable", e)
	}
	if !strings.Contains(srv.p.Out.String(), "reported as interrupted") {
		t.Errorf("the restarted server did not say so:\n%s", srv.p.Out.String())
	}
	_, body := srv.fetch(t, e["items_url"].(string))
	before := jsonLines(t, body)
	// The orphan stopped because its parent died (SIGTERM), not because
	// its crawl was done.
	if final, _ := srv.stats(t, id)["stats"].(map[string]any); final["finish_reason"] != "shutdown" || len(before) >= site.n {
		t.Errorf("orphaned job: finish_reason %v with %d of %d items, want a graceful stop mid-crawl", final["finish_reason"], len(before), site.n)
	}

	site.delay.Store(0)
	m := srv.ok(t, "POST", "/resume.json", url.Values{"job": {id}})
	next := m["jobid"].(string)
	e2 := srv.waitState(t, next, "finished", 60*time.Second)
	if e2["outcome"] != "finished" {
		t.Fatalf("resumed job: %v\n%s", e2, srv.logOf(t, e2))
	}
	_, body = srv.fetch(t, e2["items_url"].(string))
	after := jsonLines(t, body)
	seen := map[string]bool{}
	for _, it := range append(before, after...) {
		seen[it["URL"].(string)] = true
	}
	for i := range site.n {
		if u := site.URL + "/page/" + strconv.Itoa(i); !seen[u] {
			t.Errorf("page %s has no item in either job (%d before, %d after the restart)", u, len(before), len(after))
			break
		}
	}
	if len(after) >= site.n {
		t.Errorf("the resumed job scraped %d items of %d: it started over instead of resuming", len(after), site.n)
	}
	srv.stop(t)
}

// TestServeAuth: an address other than loopback without credentials is
// refused at start; with credentials configured (on loopback here) basic
// and bearer are checked, and the secrets never reach the log.
func TestServeAuth(t *testing.T) {
	bin := buildCLI(t)
	specs := writeServeSpecs(t, false)
	out, err := exec.Command(bin, "serve", "--addr", "0.0.0.0:0", "--data", t.TempDir(), "--specs", specs).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "refusing to serve without authentication") {
		t.Errorf("serve on 0.0.0.0 without credentials: %v\n%s", err, out)
	}

	basic := filepath.Join(t.TempDir(), "basic")
	writeFile(t, basic, "admin:s3cret-pass\n")
	const token = "tok-0123456789abcdef"
	srv := startServe(t, t.TempDir(), specs, []string{"SPIDERRUN_TOKEN=" + token}, "--basic-auth-file", basic)
	cases := []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("admin", "nope") }, 401},
		{"wrong user", func(r *http.Request) { r.SetBasicAuth("root", "s3cret-pass") }, 401},
		{"basic", func(r *http.Request) { r.SetBasicAuth("admin", "s3cret-pass") }, 200},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 200},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"x") }, 401},
	}
	for _, c := range cases {
		srv.auth = c.set
		code, m := srv.call(t, "GET", "/daemonstatus.json", nil)
		if code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, m, c.want)
		}
		if code == 401 && m["status"] != "error" {
			t.Errorf("%s: 401 body %v, want a Scrapyd error", c.name, m)
		}
		// The dashboard is behind the same check.
		if code, _ := srv.fetch(t, "/"); code != c.want {
			t.Errorf("%s: dashboard %d, want %d", c.name, code, c.want)
		}
	}
	// The jobs do not inherit the server's credentials.
	site := newServeSite(t, 100, 100*time.Millisecond)
	srv.auth = cases[4].set
	id := srv.schedule(t, url.Values{"base": {site.URL}})
	e := srv.waitState(t, id, "running", 30*time.Second)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", int(e["pid"].(float64))))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte(token)) || !bytes.Contains(env, []byte("SPIDERRUN_JOB_ID="+id)) {
		t.Errorf("the job's environment holds the token, or lacks its job id:\n%s", bytes.ReplaceAll(env, []byte{0}, []byte{'\n'}))
	}
	srv.ok(t, "POST", "/cancel.json", url.Values{"project": {"default"}, "job": {id}})
	srv.waitState(t, id, "finished", 60*time.Second)
	srv.stop(t)
	for _, secret := range []string{"s3cret-pass", token} {
		if strings.Contains(srv.p.Out.String(), secret) {
			t.Errorf("the server's log holds a secret:\n%s", srv.p.Out.String())
		}
	}
}

// TestServeBadRequests: a client's mistakes get Scrapyd's error object
// with a 4xx status and a message saying what is wrong.
func TestServeBadRequests(t *testing.T) {
	srv := startServe(t, t.TempDir(), writeServeSpecs(t, true), nil, "--max-body", "4096")
	m := srv.ok(t, "GET", "/listspiders.json?project=default", nil)
	if fmt.Sprint(m["spiders"]) != "[broken pages]" {
		t.Errorf("listspiders.json = %v", m)
	}
	cases := []struct {
		name, method, path string
		form               url.Values
		hdr                []string
		code               int
		msg                string
	}{
		{"unknown spider", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"nosuch"}}, nil, 400, `spider "nosuch" not found`},
		{"bad spec", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"broken"}}, nil, 400, "broken.yaml"},
		{"bad setting", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "setting": {"CONCURRENT_REQUESTS=many"}}, nil, 400, "CONCURRENT_REQUESTS"},
		{"setting without =", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "setting": {"LOUD"}}, nil, 400, "KEY=VALUE"},
		{"missing project", "POST", "/schedule.json", url.Values{"spider": {"pages"}}, nil, 400, "missing required parameter: project"},
		{"missing spider", "POST", "/schedule.json", url.Values{"project": {"default"}}, nil, 400, "missing required parameter: spider"},
		{"unknown project", "GET", "/listspiders.json?project=other", nil, nil, 400, `project "other" not found`},
		{"bad jobid", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "jobid": {"../x"}}, nil, 400, "jobid"},
		{"huge body", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "pad": {strings.Repeat("x", 8000)}}, nil, 413, "larger than 4096 bytes"},
		{"cancel unknown job", "POST", "/cancel.json", url.Values{"project": {"default"}, "job": {"nosuch"}}, nil, 404, "nosuch"},
		{"bad signal", "POST", "/cancel.json", url.Values{"project": {"default"}, "job": {"x"}, "signal": {"HUP"}}, nil, 400, "signal"},
		{"status without job", "GET", "/status.json", nil, nil, 400, "missing required parameter: job"},
		{"GET schedule", "GET", "/schedule.json", nil, nil, 405, "takes POST, not GET"},
		{"POST listjobs", "POST", "/listjobs.json", url.Values{"project": {"default"}}, nil, 405, "takes GET, not POST"},
		{"cross-site POST", "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"pages"}}, []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
		{"bad cron", "POST", "/addschedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "cron": {"every day"}}, nil, 400, "cron"},
		{"unknown stats", "GET", "/jobs/nosuch/stats.json", nil, nil, 404, "nosuch"},
	}
	for _, c := range cases {
		code, m := srv.call(t, c.method, c.path, c.form, c.hdr...)
		msg, _ := m["message"].(string)
		if code != c.code || m["status"] != "error" || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %v, want %d and a message with %q", c.name, code, m, c.code, c.msg)
		}
	}
	if code, _ := srv.fetch(t, "/logs/default/pages/..%2f..%2fjobs.db"); code != 404 {
		t.Errorf("a path outside the jobs' files: %d, want 404", code)
	}
	// None of them made a job.
	if m := srv.ok(t, "GET", "/daemonstatus.json", nil); m["pending"] != 0.0 || m["running"] != 0.0 || m["finished"] != 0.0 {
		t.Errorf("daemonstatus.json = %v", m)
	}
	srv.stop(t)
}

// zipBundle makes an addversion.json bundle from file names and contents.
func zipBundle(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload POSTs a bundle to addversion.json as Scrapyd clients do (multipart,
// the file in "egg").
func (s *server) upload(t *testing.T, version string, bundle []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("project", "default")
	_ = mw.WriteField("version", version)
	fw, _ := mw.CreateFormFile("egg", "bundle.zip")
	_, _ = fw.Write(bundle)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", s.base+"/addversion.json", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("addversion.json: %s: not JSON: %s", resp.Status, b)
	}
	return resp.StatusCode, m
}

// TestServeUpload: a spider uploaded as a zip through addversion.json is
// validated before it is accepted, then listed and run like the others;
// bad bundles get 4xx errors saying why and change nothing.
func TestServeUpload(t *testing.T) {
	site := newServeSite(t, 5, 0)
	srv := startServe(t, t.TempDir(), writeServeSpecs(t, false), nil, "--max-upload", "65536")
	specsDir := writeServeSpecs(t, false)
	js, err := os.ReadFile(filepath.Join(specsDir, "pages", "spider.js"))
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]string{
		"spider.yaml":   "name: uploaded\nscript: lib/spider.js\nsettings:\n  DENY_PRIVATE_NETWORKS: false\n  ROBOTSTXT_OBEY: false\n",
		"lib/spider.js": string(js),
	}
	bad := []struct {
		name   string
		bundle []byte
		code   int
		msg    string
	}{
		{"invalid spec", zipBundle(t, map[string]string{"spider.yaml": "name: uploaded\nscript: s.js\nstart_urls: [\"http://127.0.0.1:1/\"]\ncallback: nothere\n", "s.js": "export function* parse(r) {}\n"}), 400, "nothere"},
		{"zip slip", zipBundle(t, map[string]string{"spider.yaml": good["spider.yaml"], "../../evil.js": "x"}), 400, "outside the bundle"},
		{"no spec", zipBundle(t, map[string]string{"lib/spider.js": string(js)}), 400, "want one spider spec"},
		{"not a zip", []byte("PK? no"), 400, "not a zip"},
		{"name of a --specs spider", zipBundle(t, map[string]string{"spider.yaml": strings.Replace(good["spider.yaml"], "uploaded", "pages", 1), "lib/spider.js": string(js)}), 400, "defined in --specs"},
		{"too large", append(zipBundle(t, good), make([]byte, 70000)...), 413, "larger than 65536"},
	}
	for _, c := range bad {
		code, m := srv.upload(t, "v0", c.bundle)
		if msg, _ := m["message"].(string); code != c.code || m["status"] != "error" || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %v, want %d and a message with %q", c.name, code, m, c.code, c.msg)
		}
	}
	if m := srv.ok(t, "GET", "/listspiders.json?project=default", nil); fmt.Sprint(m["spiders"]) != "[pages]" {
		t.Fatalf("after bad uploads: listspiders.json = %v", m)
	}
	if code, m := srv.upload(t, "v1", zipBundle(t, good)); code != 200 || m["spiders"] != 1.0 || m["version"] != "v1" {
		t.Fatalf("good upload: %d %v", code, m)
	}
	if m := srv.ok(t, "GET", "/listspiders.json?project=default", nil); fmt.Sprint(m["spiders"]) != "[pages uploaded]" {
		t.Errorf("listspiders.json = %v", m)
	}
	if m := srv.ok(t, "GET", "/listversions.json?project=default", nil); fmt.Sprint(m["versions"]) != "[v1]" {
		t.Errorf("listversions.json = %v", m)
	}
	m := srv.ok(t, "POST", "/schedule.json", url.Values{"project": {"default"}, "spider": {"uploaded"}, "base": {site.URL}})
	e := srv.waitState(t, m["jobid"].(string), "finished", 60*time.Second)
	if e["outcome"] != "finished" {
		t.Fatalf("uploaded spider's job: %v\n%s", e, srv.logOf(t, e))
	}
	if _, body := srv.fetch(t, e["items_url"].(string)); len(jsonLines(t, body)) != site.n {
		t.Errorf("uploaded spider scraped %q, want %d items", body, site.n)
	}
	srv.stop(t)
}

// TestServeCronSurvivesRestart: a periodic schedule is stored; after a
// restart the server still has it and it still starts jobs, until
// delschedule.json removes it.
func TestServeCronSurvivesRestart(t *testing.T) {
	site := newServeSite(t, 3, 0)
	data, specs := t.TempDir(), writeServeSpecs(t, false)
	srv := startServe(t, data, specs, nil)
	m := srv.ok(t, "POST", "/addschedule.json", url.Values{"project": {"default"}, "spider": {"pages"}, "cron": {"@every 1s"}, "base": {site.URL}, "tag": {"cron"}})
	id := m["id"].(string)
	srv.stop(t)

	srv = startServe(t, data, specs, nil)
	restarted := time.Now()
	list, _ := srv.ok(t, "GET", "/listschedules.json", nil)["schedules"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id || list[0].(map[string]any)["cron"] != "@every 1s" {
		t.Fatalf("schedules after restart: %v", list)
	}
	var job map[string]any
	proctest.WaitFor(t, "a job from the schedule after the restart", 60*time.Second, func() bool {
		fin, _ := srv.ok(t, "GET", "/listjobs.json", nil)["finished"].([]any)
		for _, e := range fin {
			e := e.(map[string]any)
			start, _ := time.ParseInLocation(scrapydTimeLayout, fmt.Sprint(e["start_time"]), time.Local)
			if e["schedule"] == id && start.After(restarted) {
				job = e
				return true
			}
		}
		return false
	})
	if job["outcome"] != "finished" {
		t.Errorf("scheduled job: %v", job)
	}
	srv.ok(t, "POST", "/delschedule.json", url.Values{"id": {id}})
	if list, _ := srv.ok(t, "GET", "/listschedules.json", nil)["schedules"].([]any); len(list) != 0 {
		t.Errorf("after delschedule.json: %v", list)
	}
	srv.stop(t)
}

const scrapydTimeLayout = "2006-01-02 15:04:05.000000"

// TestServeStopInterruptsJobs: SIGTERM to the server stops its running
// job gracefully (the feed is complete JSON lines, the stats say shutdown)
// and records it as interrupted; a pending job stays pending and runs on
// the next start.
func TestServeStopInterruptsJobs(t *testing.T) {
	site := newServeSite(t, 200, 100*time.Millisecond)
	data, specs := t.TempDir(), writeServeSpecs(t, false)
	srv := startServe(t, data, specs, nil, "--max-jobs", "1")
	running := srv.schedule(t, url.Values{"base": {site.URL}})
	srv.waitState(t, running, "running", 30*time.Second)
	proctest.WaitFor(t, "pages crawled", 60*time.Second, func() bool { return srv.livePages(t, running) >= 3 })
	waiting := srv.schedule(t, url.Values{"base": {site.URL}})
	srv.stop(t)
	if !strings.Contains(srv.p.Out.String(), "Stopping: running jobs get SIGTERM") {
		t.Errorf("server output:\n%s", srv.p.Out.String())
	}

	site.delay.Store(0)
	srv = startServe(t, data, specs, nil, "--max-jobs", "1")
	e := srv.waitState(t, running, "finished", 10*time.Second)
	if e["outcome"] != "interrupted" || e["exit_code"] != 0.0 {
		t.Errorf("job running at SIGTERM: %v, want interrupted after a graceful stop (exit 0)", e)
	}
	final, _ := srv.stats(t, running)["stats"].(map[string]any)
	_, body := srv.fetch(t, e["items_url"].(string))
	if items := jsonLines(t, body); final["finish_reason"] != "shutdown" || float64(len(items)) != final["item_scraped_count"] {
		t.Errorf("interrupted job: finish_reason %v, %d items in the feed, item_scraped_count %v", final["finish_reason"], len(items), final["item_scraped_count"])
	}
	if e := srv.waitState(t, waiting, "finished", 60*time.Second); e["outcome"] != "finished" {
		t.Errorf("job pending at SIGTERM, after the restart: %v", e)
	}
	srv.stop(t)
}

// TestServeDataLocked: a second server on the same --data stops with an
// error saying why instead of sharing the store.
func TestServeDataLocked(t *testing.T) {
	data, specs := t.TempDir(), writeServeSpecs(t, false)
	srv := startServe(t, data, specs, nil)
	out, err := exec.Command(buildCLI(t), "serve", "--addr", "127.0.0.1:0", "--data", data, "--specs", specs).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "is another spiderrun serve using --data") {
		t.Errorf("second server on the same --data: %v\n%s", err, out)
	}
	srv.ok(t, "GET", "/daemonstatus.json", nil)
	srv.stop(t)
}
