package jobserver

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/internal/proctest"
)

// These tests run the server in-process (so the race detector sees its
// goroutines: handlers, queue, job waiters, sampler, cron) with real
// `spiderrun run` children; cmd/spiderrun's serve tests run the binary.

var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func spiderrunBin(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		if bin.dir, bin.err = os.MkdirTemp("", "jobserver-bin-"); bin.err != nil {
			return
		}
		bin.path = filepath.Join(bin.dir, "spiderrun")
		bin.out, bin.err = exec.Command("go", "build", "-o", bin.path, "../../cmd/spiderrun").CombinedOutput()
	})
	if bin.err != nil {
		t.Fatalf("go build: %v\n%s", bin.err, bin.out)
	}
	return bin.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestServer serves a spider "slow" crawling site with the real
// binary; Validate only loads the spec (cmd/spiderrun's tests check the
// validation).
func newTestServer(t *testing.T, maxJobs int, auth Auth) (*Server, *httptest.Server) {
	t.Helper()
	specs := t.TempDir()
	writeFile(t, filepath.Join(specs, "slow.yaml"), `name: slow
script: slow.js
settings:
  DENY_PRIVATE_NETWORKS: false
  ROBOTSTXT_OBEY: false
  CONCURRENT_REQUESTS: 2
  LOGSTATS_INTERVAL: 0
`)
	writeFile(t, filepath.Join(specs, "slow.js"), `export async function* start() {
  for (let i = 0; i < Number(spider.args.pages || 5); i++)
    yield new Request({ url: spider.args.base + "/p/" + i, callback: parse });
}
export function* parse(response) { yield { URL: response.url }; }
`)
	load := func(p string) (string, error) {
		s, err := dsl.Load(p)
		if err != nil {
			return "", err
		}
		return s.Name, nil
	}
	srv, err := New(Options{
		Data: t.TempDir(), Specs: specs, MaxJobs: maxJobs, Exe: spiderrunBin(t),
		Inspect: load, Validate: func(p string, _ []string, _ map[string]string) error { _, err := load(p); return err },
		Auth: auth, Env: os.Environ(), SnapshotInterval: 100 * time.Millisecond, StopGrace: 20 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NodeName: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return srv, hs
}

func readJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return m
}

// TestQueueUnderConcurrency: jobs scheduled from many goroutines at once
// while others read the dashboard and the stats; never more than MaxJobs
// run, every job ends, cancelled ones as cancelled.
func TestQueueUnderConcurrency(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		fmt.Fprint(w, "<html><body>ok</body></html>")
	}))
	defer site.Close()
	srv, hs := newTestServer(t, 2, Auth{})
	const n = 6
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.PostForm(hs.URL+"/schedule.json", url.Values{"project": {"default"}, "spider": {"slow"}, "base": {site.URL}, "pages": {"8"}})
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			ids[i], _ = m["jobid"].(string)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" {
			t.Fatalf("job %d was not scheduled", i)
		}
	}
	// Cancel the last one (pending or running by now) twice: the second
	// cancel of a running job kills it.
	for range 2 {
		resp, err := http.PostForm(hs.URL+"/cancel.json", url.Values{"project": {"default"}, "job": {ids[n-1]}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	done := make(chan struct{})
	go func() { // readers meanwhile (t.Fatal is for the test's goroutine)
		defer close(done)
		for {
			time.Sleep(20 * time.Millisecond)
			var m struct{ Pending, Running []any }
			if err := readJSON(hs.URL+"/listjobs.json", &m); err != nil {
				t.Error(err)
				return
			}
			if len(m.Running) > 2 {
				t.Errorf("%d jobs running with --max-jobs 2", len(m.Running))
			}
			for _, id := range ids {
				if err := readJSON(hs.URL+"/jobs/"+id+"/stats.json", &struct{}{}); err != nil {
					t.Error(err)
				}
			}
			if resp, err := http.Get(hs.URL + "/ui/jobs/" + ids[0] + "/live"); err == nil {
				resp.Body.Close()
			}
			if len(m.Pending)+len(m.Running) == 0 {
				return
			}
		}
	}()
	proctest.WaitFor(t, "every job to end", 120*time.Second, func() bool {
		m := getJSON(t, hs.URL+"/daemonstatus.json")
		return m["finished"] == float64(n)
	})
	<-done
	m := getJSON(t, hs.URL+"/listjobs.json")
	for _, e := range m["finished"].([]any) {
		e := e.(map[string]any)
		want := "finished"
		if e["id"] == ids[n-1] {
			want = "cancelled"
		}
		if e["outcome"] != want {
			t.Errorf("job %v: outcome %v, want %s (%v)", e["id"], e["outcome"], want, e["error"])
		}
	}
	if h := srv.history(ids[0]); len(h) == 0 {
		t.Errorf("no rate history sampled for job %s", ids[0])
	}
}

func TestAuthCheck(t *testing.T) {
	a := Auth{User: "u", Password: "p:w", Token: "tok"}
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		hdr  string
		want bool
	}{
		{"", false}, {basic("u:p:w"), true}, {basic("u:p"), false}, {basic("U:p:w"), false}, {basic("u"), false},
		{"Basic !!!", false}, {"Bearer tok", true}, {"bearer tok", true}, {"Bearer tok2", false}, {"Bearer ", false}, {"Token tok", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.hdr != "" {
			r.Header.Set("Authorization", c.hdr)
		}
		if got := a.check(r); got != c.want {
			t.Errorf("Authorization %q: %v, want %v", c.hdr, got, c.want)
		}
	}
	if (Auth{Token: "tok"}).check(func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth("", "tok")
		return r
	}()) {
		t.Error("a token sent as a basic password was accepted with basic auth off")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		site, origin string
		ok           bool
	}{
		{"", "", true}, {"same-origin", "http://h:1", true}, {"none", "", true},
		{"cross-site", "", false}, {"same-site", "", false}, {"", "http://evil:1", false}, {"", "http://h:1", true},
	} {
		r := httptest.NewRequest("POST", "http://h:1/schedule.json", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if err := sameOrigin(r); (err == nil) != c.ok {
			t.Errorf("Sec-Fetch-Site %q Origin %q: %v, want ok=%v", c.site, c.origin, err, c.ok)
		}
	}
}

func TestUnzipRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../x", "a/../../x", "/etc/x", `..\x`} {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create(name)
		w.Write([]byte("x"))
		zw.Close()
		zr, _ := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
		dir := t.TempDir()
		if err := unzip(zr, filepath.Join(dir, "in")); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%q: %v, want refused", name, err)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 999: "999", 1000: "1\u2009000", 1234567: "1\u2009234\u2009567", -4500: "-4\u2009500"} {
		if got := groupDigits(v); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", v, got, want)
		}
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestDashboardForms: the dashboard's start and stop forms work with the
// token of the page they come from and are refused without it.
func TestDashboardForms(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		fmt.Fprint(w, "<html><body>ok</body></html>")
	}))
	defer site.Close()
	_, hs := newTestServer(t, 2, Auth{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(path string) string {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := csrfField.FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("%s has no form token:\n%s", path, b)
		}
		return m[1]
	}
	post := func(path string, form url.Values) *http.Response {
		resp, err := noRedirect.PostForm(hs.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	start := url.Values{"spider": {"slow"}, "args": {"base=" + site.URL + "\npages=200"}}
	if resp := post("/ui/schedule", start); resp.StatusCode != 403 {
		t.Errorf("start without a token: %s, want 403", resp.Status)
	}
	start.Set("csrf", page("/"))
	resp := post("/ui/schedule", start)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/ui/jobs/") {
		t.Fatalf("start: %s to %q", resp.Status, loc)
	}
	id := strings.TrimPrefix(loc, "/ui/jobs/")
	proctest.WaitFor(t, "the job to run", 30*time.Second, func() bool {
		var m struct{ Currstate string }
		return readJSON(hs.URL+"/status.json?job="+id, &m) == nil && m.Currstate == "running"
	})
	token := page("/ui/jobs/" + id)
	if resp := post("/ui/jobs/"+id+"/cancel", url.Values{"csrf": {page("/")}}); resp.StatusCode != 403 {
		t.Errorf("stop with another form's token: %s, want 403", resp.Status)
	}
	if resp := post("/ui/jobs/"+id+"/cancel", url.Values{"csrf": {token}}); resp.StatusCode != 303 {
		t.Errorf("stop: %s", resp.Status)
	}
	proctest.WaitFor(t, "the job to end", 60*time.Second, func() bool {
		var m struct{ Currstate string }
		return readJSON(hs.URL+"/status.json?job="+id, &m) == nil && m.Currstate == "finished"
	})
	m := getJSON(t, hs.URL+"/listjobs.json")
	if e := m["finished"].([]any)[0].(map[string]any); e["outcome"] != "cancelled" {
		t.Errorf("stopped job: %v", e)
	}
}
