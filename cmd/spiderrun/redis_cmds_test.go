package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
)

// writeRedisSpec writes a RedisSpider spec (and its script) pointing at srv.
func writeRedisSpec(t *testing.T, srv *redistest.Server, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spider.js"), []byte("export function parse(response) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := "name: tasks\nscript: spider.js\nredis_key: tasks:start_urls\nsettings:\n  REDIS_URL: " + srv.URL() + "\n  REDIS_ITEMS_KEY: '{name}:items'\n" + extra
	p := filepath.Join(dir, "spider.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushCommand(t *testing.T) {
	srv := redistest.Start(t)
	spec := writeRedisSpec(t, srv, "")
	rdb, err := redisq.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()

	data := filepath.Join(t.TempDir(), "tasks.jsonl")
	os.WriteFile(data, []byte(`{"url":"http://a.test/1","meta":{"k":1}}`+"\n\n"+`{"url":"http://a.test/2","method":"POST","data":{"q":"x"}}`+"\n"), 0o644)
	long := filepath.Join(t.TempDir(), "long.jsonl")
	os.WriteFile(long, []byte("http://a.test/ok\n"+strings.Repeat("x", 2<<20)+"\n"), 0o644)

	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		wantLength int64
	}{
		{"urls", []string{"push", spec, "http://a.test/a", "http://a.test/b"}, exitOK, "pushed 2 tasks to tasks:start_urls (list)", "", 2},
		{"jsonl", []string{"push", spec, "--data", data}, exitOK, "pushed 2 tasks to tasks:start_urls (list)", "", 4},
		{"other key", []string{"push", spec, "--key", "{name}:urgent", "http://a.test/u"}, exitOK, "pushed 1 tasks to tasks:urgent (list)", "", 4},
		{"file url refused", []string{"push", spec, "file:///etc/passwd"}, exitUsage, "", `scheme "file" is not allowed`, 4},
		{"neither", []string{"push", spec}, exitUsage, "", "give task URLs or --data FILE", 4},
		{"both", []string{"push", spec, "http://a.test/", "--data", data}, exitUsage, "", "not both", 4},
		{"line too long", []string{"push", spec, "--data", long}, exitUsage, "", "long.jsonl:2: task line longer than 1048576 bytes", 4},
		{"missing spec", []string{"push", "nope.yaml", "http://a.test/"}, exitUsage, "", "nope.yaml", 4},
		{"bad setting", []string{"push", spec, "-s", "REDIS_URL=http://x", "http://a.test/"}, exitUsage, "", "REDIS_URL", 4},
		{"redis down", []string{"push", spec, "-s", "REDIS_URL=redis://:CANARY_pw_7f3a@127.0.0.1:1/0", "http://a.test/"}, exitFailed, "", "redis redis://:***@127.0.0.1:1/0", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Fatalf("code=%d stdout=%q stderr=%q; want code %d, stdout ~ %q, stderr ~ %q", code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
			if strings.Contains(stdout+stderr, "CANARY") {
				t.Fatalf("password leaked: %s %s", stdout, stderr)
			}
			if n := rdb.LLen(ctx, "tasks:start_urls").Val(); n != c.wantLength {
				t.Fatalf("start_urls length = %d, want %d", n, c.wantLength)
			}
		})
	}
	got := rdb.LRange(ctx, "tasks:start_urls", 0, -1).Val()
	want := []string{"http://a.test/a", "http://a.test/b", `{"url":"http://a.test/1","meta":{"k":1}}`, `{"url":"http://a.test/2","method":"POST","data":{"q":"x"}}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("start_urls = %q\nwant %q", got, want)
	}
}

func TestPushZSetUsesPriority(t *testing.T) {
	srv := redistest.Start(t)
	spec := writeRedisSpec(t, srv, "  REDIS_START_URLS_AS_ZSET: true\n")
	data := filepath.Join(t.TempDir(), "tasks.jsonl")
	os.WriteFile(data, []byte(`{"url":"http://a.test/low","priority":1}`+"\n"+`{"url":"http://a.test/high","priority":9}`+"\n"), 0o644)
	if code, stdout, stderr := runCLI(t, "push", spec, "--data", data); code != exitOK || !strings.Contains(stdout, "(zset)") {
		t.Fatalf("code=%d stdout=%q stderr=%q", code, stdout, stderr)
	}
	rdb, _ := redisq.Dial(srv.URL())
	defer rdb.Close()
	top := rdb.ZRevRange(context.Background(), "tasks:start_urls", 0, 0).Val()
	if len(top) != 1 || !strings.Contains(top[0], "high") {
		t.Fatalf("top of zset = %v", top)
	}
}

func TestStatusCommand(t *testing.T) {
	srv := redistest.Start(t)
	spec := writeRedisSpec(t, srv, "")
	ctx := context.Background()
	if code, _, stderr := runCLI(t, "push", spec, "http://a.test/t1", "http://a.test/t2", "http://a.test/t3"); code != exitOK {
		t.Fatalf("push: %s", stderr)
	}
	// A worker with one request in flight and one item written.
	rdb, _ := redisq.Dial(srv.URL())
	defer rdb.Close()
	// LeaseBatch 1: one lease per Next, so that exactly one is in flight.
	s, err := redisq.New(redisq.Options{Client: rdb, Name: "tasks", WorkerID: "w1", ItemsKey: "{name}:items", Persist: true, LeaseBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx, "shutdown")
	for _, u := range []string{"http://a.test/p1", "http://a.test/p2"} {
		if _, err := s.Enqueue(ctx, &crawl.Request{URL: u}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := s.Next(ctx); r == nil {
		t.Fatal("no request")
	}
	if _, err := s.Items().ProcessItem(ctx, crawl.NewItem("a", int64(1))); err != nil {
		t.Fatal(err)
	}

	rdb.RPush(ctx, "tasks:rejected", `{"reason":"x"}`)
	rdb.RPush(ctx, "tasks:dead", `{"reason":"y"}`)
	code, stdout, stderr := runCLI(t, "status", spec)
	if code != exitOK {
		t.Fatalf("status: code %d: %s", code, stderr)
	}
	for _, want := range []string{
		"spider:      tasks", "queue:       1 pending requests", "tasks:       3 in tasks:start_urls",
		"in flight:   1 leases", "  w1: 1", "workers:     1 alive", "dupefilter:  2 fingerprints", "items:       1 in tasks:items",
		"rejected:    1 task entries in tasks:rejected", "dead:        1 entries whose worker died every time, in tasks:dead",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = runCLI(t, "status", spec, "--json")
	var js struct {
		Queue      int64            `json:"queue"`
		Leases     map[string]int64 `json:"leases"`
		Dupefilter int64            `json:"dupefilter"`
		Items      int64            `json:"items"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &js) != nil || js.Queue != 1 || js.Leases["w1"] != 1 || js.Dupefilter != 2 || js.Items != 1 {
		t.Fatalf("status --json: code %d, %s", code, stdout)
	}
}
