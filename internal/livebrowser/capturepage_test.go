package livebrowser_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestCapturePage opens the page of `spiderrun fingerprint capture
// --kinds` in each browser and does what it asks a user to do (click the
// link, then the form's button, as trusted clicks): every kind of request
// must then have come from the browser itself, each with its kind's marks
// (the typed navigation's sec-fetch-site none, the fetch's cors mode, the
// handshake's Upgrade, the link's and the form's user activation, the
// form's Origin), the image on a new connection; and our client, with a
// profile captured from the navigation alone, must send the link, the form
// and the fetch exactly as the browser did.
func TestCapturePage(t *testing.T) {
	t.Parallel()
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			bin := livebrowser.Require(t, b)
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			srv, err := fingerprint.Start(fingerprint.Config{Certificate: &ca.Leaf, Answer: fingerprint.CapturePage, CloseAfterResponse: true})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			first := srv.URL("localhost", "/")
			r := livebrowser.Run{URL: first, Dir: t.TempDir()}
			s := openPage(t, ctx, b, bin, ca, r)
			defer s.Close()
			if err := livebrowser.FollowCapturePage(ctx, s, strings.TrimSuffix(first, "/")); err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			kinds, err := fingerprint.WaitKinds(wctx, srv, nil)
			wcancel()
			if err != nil {
				t.Fatal(err)
			}

			nav, fetch, ws, resumed, link, form := kinds[fingerprint.PageNavigate], kinds[fingerprint.PageFetch], kinds[fingerprint.PageWebSocket],
				kinds[fingerprint.PageResumed], kinds[fingerprint.PageLink], kinds[fingerprint.PageForm]
			for _, c := range []struct {
				kind, header, want string
				got                fingerprint.Capture
			}{
				{"navigate", "sec-fetch-site", "none", nav},
				{"fetch", "sec-fetch-mode", "cors", fetch},
				{"websocket", "upgrade", "websocket", ws},
				{"link", "sec-fetch-user", "?1", link},
				{"link", "sec-fetch-site", "same-origin", link},
				{"form", "sec-fetch-user", "?1", form},
				{"form", "origin", strings.TrimSuffix(first, "/"), form},
			} {
				if v := c.got.Headers.Get(c.header); v != c.want {
					t.Errorf("%s: %s %q, want %q (%v)", c.kind, c.header, v, c.want, names(c.got.Headers))
				}
			}
			if form.Method != "POST" || fetch.Method != "POST" {
				t.Errorf("form %s, fetch %s: want POST", form.Method, fetch.Method)
			}
			if resumed.Conn == nav.Conn {
				t.Errorf("the image came on the navigation's connection (%d)", nav.Conn)
			}
			t.Logf("resumed connection: JA4 %s, pre_shared_key offered: %v", resumed.JA4, resumed.Resumed())
			if b == livebrowser.Chromium && !resumed.Resumed() {
				t.Errorf("Chromium did not resume the TLS session on the image's new connection: %s", resumed.JA4)
			}

			// Our client, with a profile captured from the navigation.
			var p impersonate.Profile
			if _, err := impersonate.UpdateFromCapture(&p, "", impersonate.CapturedFrom(nav)); err != nil {
				t.Fatal(err)
			}
			data, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "captured.yaml")
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			prof, err := impersonate.LoadProfile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				kind, method, body, ctype, parent string
				browser                           fingerprint.Capture
			}{
				{crawl.KindLink, "GET", "", "", first, link},
				{crawl.KindForm, "POST", "q=a+b", "application/x-www-form-urlencoded", srv.URL("localhost", "/k/link"), form},
				{crawl.KindFetch, "POST", "{}", "application/json", first, fetch},
			} {
				if c.browser.HTTPVersion != nav.HTTPVersion {
					t.Logf("%s came over HTTP/%s, the navigation over HTTP/%s: not compared", c.kind, c.browser.HTTPVersion, nav.HTTPVersion)
					continue
				}
				u, _ := url.Parse(srv.URL("localhost", c.browser.Path))
				req := crawl.Headers{{Name: "Referer", Value: c.parent}}
				if c.ctype != "" {
					req.Add("Content-Type", c.ctype)
				}
				info := impersonate.RequestInfo{Kind: c.kind, Method: c.method, URL: u, Initiator: c.parent, BodyLen: len(c.body)}
				ours := prof.KindHeaders(info, req, nav.HTTPVersion == "1.1")
				diffHeaders(t, c.kind, ours, unheadless(dropHost(c.browser.Headers)))
			}
		})
	}
}

func dropHost(h crawl.Headers) crawl.Headers {
	out := h.Clone()
	out.Del("Host")
	return out
}
