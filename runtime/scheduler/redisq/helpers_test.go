package redisq

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/redistest"
)

// logBuf collects log output so tests can assert on what a user would read.
type logBuf = proctest.Buffer

func newClient(t testing.TB, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	c, err := Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newSched builds a scheduler on srv with test-friendly defaults; it is not
// opened.
func newSched(t testing.TB, srv *redistest.Server, o Options) (*Scheduler, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	if o.Client == nil {
		o.Client = newClient(t, srv)
	}
	if o.Name == "" {
		o.Name = "spider"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(lb), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, lb
}

func openSched(t testing.TB, srv *redistest.Server, o Options) (*Scheduler, *logBuf) {
	t.Helper()
	s, lb := newSched(t, srv, o)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background(), "finished") })
	return s, lb
}

// crash simulates kill -9 of a worker: its heartbeat stops and it never
// returns its leases or acks anything again.
func (s *Scheduler) crash() {
	s.mu.Lock()
	stop, done := s.stopHB, s.hbDone
	s.closed = true
	s.held = map[string]*Lease{}
	s.ahead = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// stall stops the heartbeat only (SIGSTOP): the worker keeps its in-memory
// leases and acks later.
func (s *Scheduler) stall() {
	s.mu.Lock()
	stop, done := s.stopHB, s.hbDone
	s.mu.Unlock()
	stop()
	<-done
}

var waitFor = proctest.WaitFor

func rz(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
