package session_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// connLog is a TLS HTTP/2 server that records, for each identity (the
// "user" cookie), the client connections it came on and whether their
// TLS session was resumed.
type connLog struct {
	*httptest.Server
	mu      sync.Mutex
	conns   map[string]map[string]bool // user → remote addresses
	resumed map[string]int             // user → requests on resumed sessions
}

func newConnLog(t *testing.T) *connLog {
	l := &connLog{conns: map[string]map[string]bool{}, resumed: map[string]int{}}
	l.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := "none"
		if c, err := r.Cookie("user"); err == nil {
			user = c.Value
		}
		l.mu.Lock()
		if l.conns[user] == nil {
			l.conns[user] = map[string]bool{}
		}
		l.conns[user][r.RemoteAddr] = true
		if r.TLS != nil && r.TLS.DidResume {
			l.resumed[user]++
		}
		l.mu.Unlock()
		w.Write([]byte("ok"))
	}))
	l.EnableHTTP2 = true
	l.StartTLS()
	t.Cleanup(l.Close)
	return l
}

// TestMembersNeverShareConnections: the members of one group are
// different identities to the server: no connection carries requests of
// two members, and no member resumes a TLS session another one got — with
// Go's own client and with a browser profile (which resumes sessions, as
// browsers do). Before members had their own pool, all of a group's
// requests shared one HTTP/2 connection.
func TestMembersNeverShareConnections(t *testing.T) {
	for _, profile := range []string{"", "chrome"} {
		t.Run("profile="+profile, func(t *testing.T) {
			srv := newConnLog(t)
			opts := downloader.DefaultOptions()
			opts.Impersonate = profile
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			opts.HTTP.RootCAs = pool
			imp, err := impersonate.NewTransport(impersonate.Options{RootCAs: opts.HTTP.RootCAs})
			if err != nil {
				t.Fatal(err)
			}
			opts.TransportFor = func(string) (downloader.Transport, error) { return imp, nil }
			dl, err := downloader.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dl.Close() })
			cookies := middleware.NewCookies()
			reg := session.NewRegistry(cookies.Jars)
			chain, err := middleware.NewChain(dl, reg, cookies)
			if err != nil {
				t.Fatal(err)
			}
			sid := register(t, reg, 3)
			fetch := func(member string) {
				req := &crawl.Request{URL: srv.URL + "/", SessionID: sid, DontFilter: true}
				req.SetMeta(session.MetaMember, member)
				if _, err := chain.Download(context.Background(), req, 5); err != nil {
					t.Fatal(err)
				}
			}
			// Concurrent requests of user1 and user2, so a shared pool
			// would multiplex them.
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Add(1)
				go func() { defer wg.Done(); fetch([]string{"user1", "user2"}[i%2]) }()
			}
			wg.Wait()
			// New connections after those closed: user3 has never had a
			// TLS session, so any resumption of its would be another
			// member's; user1 resumes its own (browsers do).
			imp.CloseIdleConnections()
			for _, m := range []string{"user3", "user1"} {
				for range 10 {
					fetch(m)
				}
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			owner := map[string]string{}
			for user, addrs := range srv.conns {
				for a := range addrs {
					if prev, ok := owner[a]; ok {
						t.Errorf("connection %s carried requests of %s and %s", a, prev, user)
					}
					owner[a] = user
				}
			}
			if len(srv.conns) != 3 {
				t.Errorf("identities seen: %v, want user1..user3", srv.conns)
			}
			if n := srv.resumed["user3"]; n != 0 {
				t.Errorf("user3 resumed another member's TLS session on %d requests", n)
			}
			if profile == "chrome" && srv.resumed["user1"] == 0 {
				t.Error("user1 never resumed its own session: the test could not see a shared session cache")
			}
		})
	}
}
