package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/internal/proctest"
)

// screenshotDir is where the dashboard test leaves its screenshots for a
// person to look at: $SPIDERRUN_SCREENSHOT_DIR, or a new directory under
// the system's temporary directory (t.TempDir would be deleted).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SPIDERRUN_SCREENSHOT_DIR")
	if dir == "" {
		d, err := os.MkdirTemp("", "spiderrun-dashboard-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shown is what the job page displays, read from its DOM.
type shown struct {
	SnapshotTime string        `json:"snap"`
	State        string        `json:"state"`
	Pages        string        `json:"pages"`
	Items        string        `json:"items"`
	Errors       string        `json:"errors"`
	Queued       string        `json:"queued"`
	InFlight     string        `json:"inflight"`
	Lines        int           `json:"lines"` // polylines in the chart
	LatestItem   string        `json:"item"`
	Log          string        `json:"log"`
	Domains      []shownDomain `json:"domains"`
}

// shownDomain is a row of the per-domain health table.
type shownDomain struct {
	Domain                            string
	Requests, OK, Blocked, Failed, MS string
	Health                            string
}

const readShown = `(() => {
  const q = (s) => document.querySelector(s);
  return {
    snap: q("#figures")?.dataset.snapshotTime ?? "",
    state: q("#state")?.textContent.trim() ?? "",
    pages: q("#pages")?.textContent ?? "", items: q("#items")?.textContent ?? "",
    errors: q("#errors")?.textContent ?? "", queued: q("#queued")?.textContent ?? "",
    inflight: q("#inflight")?.textContent ?? "",
    lines: document.querySelectorAll("svg.chart polyline").length,
    item: q("#latest-items pre.item")?.textContent ?? "",
    log: q("#log")?.textContent ?? "",
    domains: [...document.querySelectorAll("#domains tr[data-domain]")].map((r) => ({
      Domain: r.dataset.domain, Requests: r.cells[1].textContent, OK: r.cells[2].textContent,
      Blocked: r.cells[3].textContent, Failed: r.cells[4].textContent, MS: r.cells[5].dataset.ms,
      Health: r.cells[6].textContent.trim(),
    })),
  };
})()`

// digits reads a figure the dashboard groups with thin spaces.
func digits(s string) int {
	n, err := strconv.Atoi(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, s))
	if err != nil {
		return -999
	}
	return n
}

// TestServeDashboardChromium drives the real headless Chromium to the
// dashboard during a live crawl: the job list shows the job, the job page's
// figures match the job's stats snapshot (and follow it as the page
// refreshes itself), a click on Stop ends the job gracefully, and the final
// figures match the child's final stats. Screenshots are saved for a person.
func TestServeDashboardChromium(t *testing.T) {
	bin := livebrowser.Require(t, livebrowser.Chromium)
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	site := newServeSite(t, 400, 120*time.Millisecond)
	srv := startServe(t, t.TempDir(), writeServeSpecs(t, false), nil)
	id := srv.schedule(t, url.Values{"base": {site.URL}, "tag": {"dashboard"}})
	srv.waitState(t, id, "running", 30*time.Second)

	// Chromium resolves no name but localhost (livebrowser's resolver
	// rules), and the server listens on 127.0.0.1.
	ui := strings.Replace(srv.base, "127.0.0.1", "localhost", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := livebrowser.StartChromium(ctx, bin, ca, livebrowser.Run{URL: ui + "/", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WaitLoaded(ctx, ui+"/"); err != nil {
		t.Fatal(err)
	}
	dir := screenshotDir(t)
	var row struct{ State, Spider string }
	if err := b.Eval(ctx, fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-job=%q]'); return r ? {state: r.dataset.state, spider: r.cells[0].textContent} : {}; })()`, id), &row); err != nil {
		t.Fatal(err)
	}
	if row.State != "running" || row.Spider != "pages" {
		t.Fatalf("job list row: %+v, want the running pages job", row)
	}
	shot := func(name string) {
		png, err := b.Screenshot(ctx, 1280)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}
	shot("dashboard-jobs.png")
	// To the job's page as a person goes: a click on its link.
	if err := b.Click(ctx, fmt.Sprintf(`a[href="/ui/jobs/%s"]`, id)); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitLoaded(ctx, ui+"/ui/jobs/"+id); err != nil {
		t.Fatal(err)
	}
	var first shown
	if err := b.Eval(ctx, readShown, &first); err != nil {
		t.Fatal(err)
	}

	// The figures on screen against the snapshot they were drawn from: the
	// page names its snapshot's time, and the test reads the same snapshot
	// through the API until both are the same one (the crawl moves on).
	var on shown
	matched := 0
	proctest.WaitFor(t, "the dashboard showing the job's live stats", 60*time.Second, func() bool {
		if err := b.Eval(ctx, readShown, &on); err != nil {
			t.Fatal(err)
		}
		snap, _ := srv.stats(t, id)["snapshot"].(map[string]any)
		if snap == nil || snap["time"] != on.SnapshotTime {
			return false
		}
		p := snap["progress"].(map[string]any)
		for _, c := range []struct {
			name, got string
			want      any
		}{{"pages", on.Pages, p["pages"]}, {"items", on.Items, p["items"]}, {"errors", on.Errors, p["errors"]},
			{"queued", on.Queued, p["queued"]}, {"in flight", on.InFlight, p["in_flight"]}} {
			if float64(digits(c.got)) != c.want {
				t.Fatalf("dashboard %s = %q, the snapshot of %s says %v", c.name, c.got, on.SnapshotTime, c.want)
			}
		}
		// The per-domain health table against the snapshot's rows, in order.
		doms, _ := snap["domains"].([]any)
		if len(on.Domains) != len(doms) {
			t.Fatalf("dashboard shows %d domain rows, the snapshot of %s has %d: %+v", len(on.Domains), on.SnapshotTime, len(doms), on.Domains)
		}
		for i, d := range doms {
			want, got := d.(map[string]any), on.Domains[i]
			health := map[bool]string{false: "ok", true: "degraded"}[want["degraded"] == true]
			ms, _ := strconv.ParseFloat(got.MS, 64)
			if got.Domain != want["domain"] || float64(digits(got.Requests)) != want["requests"] || float64(digits(got.OK)) != want["ok"] ||
				float64(digits(got.Blocked)) != want["blocked"] || float64(digits(got.Failed)) != want["failed"] ||
				ms != want["avg_latency_ms"] || got.Health != health {
				t.Fatalf("dashboard domain row %d %+v, the snapshot of %s says %v", i, got, on.SnapshotTime, want)
			}
		}
		matched++
		// Enough of the crawl for a chart and figures that moved.
		return digits(on.Items) >= 10 && on.Lines == 2 && on.SnapshotTime != first.SnapshotTime &&
			len(on.Domains) == 1 && on.Domains[0].Domain == "127.0.0.1" && digits(on.Domains[0].OK) >= 10
	})
	if on.State != "running" || !strings.Contains(on.Log, "Spider opened") || !strings.Contains(on.LatestItem, `"tag": "dashboard"`) {
		t.Errorf("live view: state %q, latest item %q, log %q", on.State, on.LatestItem, on.Log)
	}
	shot("dashboard-running.png")

	if err := b.Click(ctx, "#stop"); err != nil {
		t.Fatal(err)
	}
	e := srv.waitState(t, id, "finished", 60*time.Second)
	if e["outcome"] != "cancelled" {
		t.Fatalf("after Stop: %v", e)
	}
	proctest.WaitFor(t, "the dashboard showing the end", 30*time.Second, func() bool {
		if err := b.Eval(ctx, readShown, &on); err != nil {
			t.Fatal(err)
		}
		return on.State == "cancelled"
	})
	st := srv.stats(t, id)
	final, _ := st["stats"].(map[string]any)
	if final["finish_reason"] != "shutdown" {
		t.Errorf("final stats: finish_reason %v, want shutdown (a graceful stop)", final["finish_reason"])
	}
	if float64(digits(on.Items)) != final["item_scraped_count"] || float64(digits(on.Pages)) != final["response_received_count"] {
		t.Errorf("final dashboard: pages %q items %q; final stats: response_received_count %v item_scraped_count %v",
			on.Pages, on.Items, final["response_received_count"], final["item_scraped_count"])
	}
	// The latest item shown is the feed's last line.
	_, feed := srv.fetch(t, e["items_url"].(string))
	lines := jsonLines(t, feed)
	var shownItem map[string]any
	if err := json.Unmarshal([]byte(on.LatestItem), &shownItem); err != nil || fmt.Sprint(shownItem) != fmt.Sprint(lines[len(lines)-1]) {
		t.Errorf("latest item shown %q, the feed ends with %v (%v)", on.LatestItem, lines[len(lines)-1], err)
	}
	if n, _ := srv.ok(t, "GET", "/daemonstatus.json", nil)["running"].(float64); n != 0 {
		t.Errorf("%v jobs still running", n)
	}
	shot("dashboard-stopped.png")
	t.Logf("%d matching looks at the live figures; %d items when stopped", matched, len(lines))
	srv.stop(t)
}
