package spiderrun

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// backendFor builds the backend of a minimal spec with the -s settings set.
func backendFor(t *testing.T, set ...string) *backend {
	t.Helper()
	dir := t.TempDir()
	yaml := "name: backend_test\nstart_urls: [http://example.com/]\nscript: spider.js\n"
	js := "export function parse(response) {}\n"
	for f, body := range map[string]string{"spider.yaml": yaml, "spider.js": js} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := dsl.Load(filepath.Join(dir, "spider.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range set {
		if err := spec.Settings.SetFromCLI(kv); err != nil {
			t.Fatal(err)
		}
	}
	v := ResolveSettings(spec.Settings)
	prog, err := CompileScript(spec)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	sp, err := jsbridge.New(jsbridge.Options{Program: prog, Name: spec.Name, SpecDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Shutdown)
	jars := middleware.NewCookieJars()
	b, err := newBackend(backendOptions{Spec: spec, Values: &v, JS: sp, Jars: jars,
		Sessions: session.NewRegistry(jars), Logger: logger, Stats: stats.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Scheduler.Close(context.Background(), "shutdown")
		b.Close()
	})
	return b
}

// TestBackends checks what each backend decides for the crawl: New wires
// these fields and nothing else of the backend.
func TestBackends(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		b := backendFor(t, "CONCURRENT_REQUESTS=7")
		if _, ok := b.Scheduler.(*scheduler.Memory); !ok {
			t.Errorf("scheduler %T, want *scheduler.Memory", b.Scheduler)
		}
		if b.Gate != nil || len(b.Sinks) != 0 || len(b.Middlewares) != 0 {
			t.Errorf("gate %v, sinks %d, middlewares %d: want none", b.Gate, len(b.Sinks), len(b.Middlewares))
		}
		if b.IdleReason != engine.ReasonFinished || b.MaxActive != 0 || b.Durable || b.MaxLeased != 0 || b.Resumed {
			t.Errorf("idle %q, max active %d, durable %v, max leased %d, resumed %v; want finished, 0, false, 0, false",
				b.IdleReason, b.MaxActive, b.Durable, b.MaxLeased, b.Resumed)
		}
	})
	t.Run("disk", func(t *testing.T) {
		b := backendFor(t, "CONCURRENT_REQUESTS=7", "JOBDIR="+t.TempDir())
		if _, ok := b.Scheduler.(*jobState); !ok {
			t.Errorf("scheduler %T, want *jobState (the cookies and spider.state with the frontier)", b.Scheduler)
		}
		if b.Gate != nil || len(b.Sinks) != 0 || len(b.Middlewares) != 0 {
			t.Errorf("gate %v, sinks %d, middlewares %d: want none", b.Gate, len(b.Sinks), len(b.Middlewares))
		}
		if b.IdleReason != engine.ReasonFinished || b.MaxActive != 0 || !b.Durable || b.MaxLeased != 14 || b.Resumed {
			t.Errorf("idle %q, max active %d, durable %v, max leased %d, resumed %v; want finished, 0, true, 14 (2 × CONCURRENT_REQUESTS), false",
				b.IdleReason, b.MaxActive, b.Durable, b.MaxLeased, b.Resumed)
		}
	})
	t.Run("redis", func(t *testing.T) {
		rs := redistest.Start(t)
		b := backendFor(t, "CONCURRENT_REQUESTS=7", "SCHEDULER=redis", "REDIS_URL="+rs.URL(), "REDIS_ITEMS_KEY={name}:items")
		if b.Gate == nil {
			t.Error("no politeness gate: per-domain delays must hold across workers")
		}
		if len(b.Sinks) != 1 {
			t.Errorf("%d item sinks, want 1 (REDIS_ITEMS_KEY)", len(b.Sinks))
		}
		if len(b.Middlewares) != 1 {
			t.Fatalf("%d middlewares, want 1 (the task source)", len(b.Middlewares))
		}
		if _, ok := b.Middlewares[0].(*redisTasks); !ok {
			t.Errorf("middleware %T, want *redisTasks", b.Middlewares[0])
		}
		if b.IdleReason != "idle" || b.MaxActive != 28 || !b.Durable || b.MaxLeased != 14 || b.Resumed {
			t.Errorf("idle %q, max active %d, durable %v, max leased %d, resumed %v; want idle, 28, true, 14 (2 × CONCURRENT_REQUESTS), false",
				b.IdleReason, b.MaxActive, b.Durable, b.MaxLeased, b.Resumed)
		}
	})
}

// TestBackendPriorityQueue: SCHEDULER_PRIORITY_QUEUE reaches the memory
// and JOBDIR schedulers: by default (DownloaderAwarePriorityQueue) three
// requests of one host queued before another host's come out
// interleaved with it; with ScrapyPriorityQueue in FIFO order.
func TestBackendPriorityQueue(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
		want []string
	}{
		{"memory", nil, []string{"http://a.test/0", "http://b.test/0", "http://a.test/1", "http://a.test/2"}},
		{"memory/global", []string{"SCHEDULER_PRIORITY_QUEUE=scrapy.pqueues.ScrapyPriorityQueue"},
			[]string{"http://a.test/0", "http://a.test/1", "http://a.test/2", "http://b.test/0"}},
		{"disk", []string{"SCHEDULER=disk"}, []string{"http://a.test/0", "http://b.test/0", "http://a.test/1", "http://a.test/2"}},
		{"disk/global", []string{"SCHEDULER=disk", "SCHEDULER_PRIORITY_QUEUE=scrapy.pqueues.ScrapyPriorityQueue"},
			[]string{"http://a.test/0", "http://a.test/1", "http://a.test/2", "http://b.test/0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := backendFor(t, c.set...)
			ctx := t.Context()
			if err := b.Scheduler.Open(ctx); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"http://a.test/0", "http://a.test/1", "http://a.test/2", "http://b.test/0"} {
				if ok, err := b.Scheduler.Enqueue(ctx, &crawl.Request{URL: u}); !ok || err != nil {
					t.Fatalf("Enqueue %s = %v, %v", u, ok, err)
				}
			}
			var got []string
			for range c.want {
				r, err := b.Scheduler.Next(ctx)
				if err != nil || r == nil {
					t.Fatalf("Next = %v, %v", r, err)
				}
				got = append(got, r.URL)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("order %v, want %v", got, c.want)
			}
		})
	}
}
