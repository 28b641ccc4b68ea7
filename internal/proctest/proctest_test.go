package proctest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartWaitOutput(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	err := p.Wait(t, time.Minute)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	if out := p.Out.String(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Fatalf("output %q, want both streams", out)
	}
	if again := p.Wait(t, time.Second); again == nil || again.Error() != err.Error() {
		t.Fatalf("second Wait = %v, want %v", again, err)
	}
}

func TestPageItems(t *testing.T) {
	items := []string{
		`{"URL":"http://s/page/0"}`, `{"URL":"http://s/page/1"}`, `{"URL":"http://s/page/1"}`,
		`{"URL":"http://s/page/1"}`, `{"URL":"http://other/page/2"}`,
	}
	missing, dups := PageItems(t, items, "http://s", 4)
	if missing != 2 || dups != 2 {
		t.Fatalf("missing %d, dups %d; want 2 (pages 2, 3) and 2 (page 1 twice more)", missing, dups)
	}
}

func TestEnvInt(t *testing.T) {
	t.Setenv("PROCTEST_N", "")
	if n := EnvInt(t, "PROCTEST_N", 7); n != 7 {
		t.Fatalf("unset: %d", n)
	}
	t.Setenv("PROCTEST_N", "42")
	if n := EnvInt(t, "PROCTEST_N", 7); n != 42 {
		t.Fatalf("set: %d", n)
	}
}

func TestTreeSite(t *testing.T) {
	site := NewTreeSite(t, 20, func(w http.ResponseWriter, i int, links []string) {
		fmt.Fprint(w, strings.Join(links, " "))
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(site.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/page/1"); code != 200 || body != "/page/6 /page/7 /page/8 /page/9 /page/10 /page/0 /page/19" {
		t.Fatalf("page 1: %d %q", code, body)
	}
	if code, body := get("/page/3"); code != 200 || body != "/page/16 /page/17 /page/18 /page/19 /page/0 /page/17" {
		t.Fatalf("page 3: %d %q", code, body)
	}
	get("/page/1")
	if code, _ := get("/page/20"); code != 404 {
		t.Fatalf("page 20: %d", code)
	}
	if site.Hits(1) != 2 || site.Hits(3) != 1 || site.Hits(0) != 0 {
		t.Fatalf("hits: %d %d %d", site.Hits(1), site.Hits(3), site.Hits(0))
	}
}

func TestPollAndWaitFor(t *testing.T) {
	t.Parallel()
	start := time.Now()
	n := 0
	if !Poll(time.Minute, func() bool { n++; return n == 5 }) || n != 5 {
		t.Fatalf("Poll stopped after %d calls", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Poll took %v for 5 calls", took)
	}
	if Poll(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll of a false condition returned true")
	}
	ready := time.Now().Add(30 * time.Millisecond)
	WaitFor(t, "the clock", 10*time.Second, func() bool { return time.Now().After(ready) })
}
