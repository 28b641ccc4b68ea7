package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
)

// writeHASpec writes a RedisSpider spec whose Redis settings are settings
// (YAML lines under settings:).
func writeHASpec(t *testing.T, settings string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spider.js"), []byte("export function parse(response) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := "name: tasks\nscript: spider.js\nredis_key: '{name}:start_urls'\nsettings:\n  REDIS_ITEMS_KEY: '{name}:items'\n" + settings
	p := filepath.Join(dir, "spider.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// haWorker is a worker of crawl "tasks" on rdb with two queued requests,
// one of them leased, and one item written: what status must report.
func haWorker(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	s, err := redisq.New(redisq.Options{Client: rdb, Name: "tasks", WorkerID: "w1", ItemsKey: "{name}:items", Persist: true, LeaseBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx, "shutdown") })
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
}

// push and status reach a crawl on a Redis Cluster (keys hash-tagged
// {tasks}) and on a Sentinel-managed primary, from the spec's settings.
func TestStatusOnClusterAndSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a sentinel (seconds); runs in the full suite, as in CI")
	}
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, redistest.ClusterOptions{})
		spec := writeHASpec(t, "  REDIS_URL: redis://"+c.Nodes[0].Addr+"/0\n  REDIS_CLUSTER_NODES: ["+strings.Join(c.Addrs()[:2], ", ")+"]\n")
		if code, stdout, stderr := runCLI(t, "push", spec, "http://a.test/t1", "http://a.test/t2", "http://a.test/t3"); code != exitOK || !strings.Contains(stdout, "to {tasks}:start_urls") {
			t.Fatalf("push: code %d: %s%s", code, stdout, stderr)
		}
		rdb, err := redisq.DialWith("redis://"+c.Nodes[0].Addr+"/0", redisq.DialOptions{ClusterNodes: c.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		haWorker(t, rdb)
		code, stdout, stderr := runCLI(t, "status", spec)
		if code != exitOK {
			t.Fatalf("status: code %d: %s", code, stderr)
		}
		for _, want := range []string{"queue:       1 pending requests", "tasks:       3 in {tasks}:start_urls",
			"in flight:   1 leases", "workers:     1 alive", "dupefilter:  2 fingerprints", "items:       1 in {tasks}:items"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("status output lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		// One Sentinel (quorum 1): this test reads through it and needs no
		// failover; the failover tests run three.
		st := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 1})
		spec := writeHASpec(t, "  REDIS_URL: redis://127.0.0.1:1/0\n  REDIS_SENTINELS: ["+st.Addrs()[0]+"]\n  REDIS_MASTER_NAME: "+st.MasterName+"\n")
		if code, _, stderr := runCLI(t, "push", spec, "http://a.test/t1"); code != exitOK {
			t.Fatalf("push: code %d: %s", code, stderr)
		}
		rdb, err := redisq.DialWith("redis://127.0.0.1:1/0", redisq.DialOptions{Sentinels: st.Addrs(), MasterName: st.MasterName})
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		haWorker(t, rdb)
		code, stdout, stderr := runCLI(t, "status", spec)
		if code != exitOK {
			t.Fatalf("status: code %d: %s", code, stderr)
		}
		for _, want := range []string{"queue:       1 pending requests", "tasks:       1 in tasks:start_urls", "in flight:   1 leases", "items:       1 in tasks:items"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("status output lacks %q:\n%s", want, stdout)
			}
		}
	})
}

// Contradictory or malformed Sentinel/Cluster settings are a usage error
// naming the setting, before any connection.
func TestRedisHASettingsErrors(t *testing.T) {
	spec := writeHASpec(t, "  REDIS_URL: redis://127.0.0.1:1/0\n")
	cases := []struct {
		name string
		sets []string
		want string
	}{
		{"sentinels without master", []string{"REDIS_SENTINELS=127.0.0.1:26379"}, "REDIS_MASTER_NAME is empty"},
		{"master without sentinels", []string{"REDIS_MASTER_NAME=mymaster"}, "REDIS_SENTINELS is empty"},
		{"both modes", []string{"REDIS_SENTINELS=127.0.0.1:26379", "REDIS_MASTER_NAME=m", "REDIS_CLUSTER_NODES=127.0.0.1:7000"}, "both set"},
		{"not host:port", []string{"REDIS_CLUSTER_NODES=127.0.0.1"}, `"127.0.0.1" is not host:port`},
		{"bad port", []string{"REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:99999"}, "port must be a number from 1 to 65535"},
		{"cluster database", []string{"REDIS_URL=redis://127.0.0.1:1/3", "REDIS_CLUSTER_NODES=127.0.0.1:7000"}, "a Redis Cluster has only database 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"status", spec}
			for _, s := range c.sets {
				args = append(args, "-s", s)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Fatalf("code %d, stdout %q, stderr %q; want a usage error containing %q", code, stdout, stderr, c.want)
			}
		})
	}
}
