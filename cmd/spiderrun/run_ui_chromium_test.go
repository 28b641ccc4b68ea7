package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/internal/proctest"
)

// The real headless Chromium on the dashboard of `spiderrun run
// --ui-addr`: the page refreshes itself with figures that only go up and
// never pass the crawl's snapshot taken after them, shows the per-domain
// row and the latest item, and a click on Stop ends the crawl gracefully.
// A screenshot is saved for a person.
func TestRunUIAddrChromium(t *testing.T) {
	bin := livebrowser.Require(t, livebrowser.Chromium)
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	site := newServeSite(t, 400, 100*time.Millisecond)
	spec := filepath.Join(writeServeSpecs(t, false), "pages", "spider.yaml")
	statsPath := filepath.Join(t.TempDir(), "stats.json")
	p := startCLI(t, "run", spec, "-a", "base="+site.URL, "-a", "tag=chromium", "--ui-addr", "127.0.0.1:0", "--stats-json", statsPath)
	var addr string
	proctest.WaitFor(t, "the dashboard address in the log", 20*time.Second, func() bool {
		if m := uiLine.FindStringSubmatch(p.Out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	snapshot := func() map[string]any {
		resp, err := http.Get("http://" + addr + "/stats.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Snapshot map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v.Snapshot
	}
	// Chromium resolves no name but localhost (livebrowser's resolver rules).
	ui := "http://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := livebrowser.StartChromium(ctx, bin, ca, livebrowser.Run{URL: ui, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WaitLoaded(ctx, ui); err != nil {
		t.Fatal(err)
	}
	var on, prev shown
	refreshes := 0
	proctest.WaitFor(t, "the dashboard following the crawl", 60*time.Second, func() bool {
		if err := b.Eval(ctx, readShown, &on); err != nil {
			t.Fatal(err)
		}
		after := snapshot()
		pr := after["progress"].(map[string]any)
		if float64(digits(on.Pages)) > pr["pages"].(float64) || float64(digits(on.Items)) > pr["items"].(float64) {
			t.Fatalf("dashboard shows pages %s items %s, more than the snapshot taken after: %v", on.Pages, on.Items, pr)
		}
		if digits(on.Pages) < digits(prev.Pages) || digits(on.Items) < digits(prev.Items) {
			t.Fatalf("dashboard figures went down: %+v then %+v", prev, on)
		}
		if on.SnapshotTime != prev.SnapshotTime && prev.SnapshotTime != "" {
			refreshes++
		}
		prev = on
		return refreshes >= 2 && digits(on.Items) >= 10 && on.Lines == 2 && len(on.Domains) == 1 &&
			on.Domains[0].Domain == "127.0.0.1" && digits(on.Domains[0].OK) >= 10
	})
	if on.State != "running" || !strings.Contains(on.LatestItem, `"tag": "chromium"`) || !strings.Contains(on.Log, "Spider opened") {
		t.Errorf("live view: state %q, latest item %q, log %q", on.State, on.LatestItem, on.Log)
	}
	png, err := b.Screenshot(ctx, 1280)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(screenshotDir(t), "run-ui-running.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s; %d refreshes seen", shot, refreshes)
	if err := b.Click(ctx, "#stop"); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("run after Stop: %v\n%s", err, tail(p.Out.String()))
	}
	if st := readStats(t, statsPath); st["finish_reason"] != "shutdown" || statInt(st, "item_scraped_count") >= 400 {
		t.Errorf("after Stop: finish_reason %v, %d items; want a graceful stop mid-crawl", st["finish_reason"], statInt(st, "item_scraped_count"))
	}
	if !strings.Contains(p.Out.String(), "Stop clicked on the dashboard") {
		t.Errorf("the log does not say the dashboard stopped the crawl:\n%s", tail(p.Out.String()))
	}
}
