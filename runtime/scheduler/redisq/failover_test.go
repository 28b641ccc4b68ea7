package redisq

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/redistest"
)

// target is where test workers find Redis: one server, Sentinels or a
// cluster, as REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES give it.
type target struct {
	url       string
	cluster   []string
	sentinels []string
	master    string
}

func (tg target) dialOptions() DialOptions {
	return DialOptions{ClusterNodes: tg.cluster, Sentinels: tg.sentinels, MasterName: tg.master}
}

func (tg target) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c, err := DialWith(tg.url, tg.dialOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startWorkerOn starts a worker process on tg; wait is its
// Options.WaitReplicas.
func startWorkerOn(t *testing.T, tg target, site, name, id string, lease time.Duration, wait int) *proctest.Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REDISQ_TEST_WORKER=1", "REDISQ_URL="+tg.url, "REDISQ_SITE="+site,
		"REDISQ_NAME="+name, "REDISQ_ID="+id, "REDISQ_LEASE_MS="+strconv.Itoa(int(lease.Milliseconds())),
		"REDISQ_CLUSTER="+strings.Join(tg.cluster, ","), "REDISQ_SENTINELS="+strings.Join(tg.sentinels, ","),
		"REDISQ_MASTER="+tg.master, "REDISQ_WAIT="+strconv.Itoa(wait))
	return proctest.Start(t, cmd)
}

// items reads the crawl's items list through a client of tg, waiting
// through a failover.
func itemsOf(t *testing.T, c redis.UniversalClient, name string) []string {
	t.Helper()
	var items []string
	waitFor(t, "the items list", time.Minute, func() bool {
		v, err := c.LRange(context.Background(), KeyPrefix(c, name)+":items", 0, -1).Result()
		items = v
		return err == nil
	})
	return items
}

func checkItemsOn(t *testing.T, c redis.UniversalClient, name, site string, n int) {
	t.Helper()
	items := itemsOf(t, c, name)
	missing, dups := proctest.PageItems(t, items, site, n)
	if missing > 0 || dups > 0 || len(items) != n {
		t.Fatalf("items in redis: %d for %d pages; %d pages missing, %d extra copies", len(items), n, missing, dups)
	}
}

func waitWorkers(t *testing.T, ws []*proctest.Proc) {
	t.Helper()
	for i, w := range ws {
		if err := w.Wait(t, 5*time.Minute); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, w.Out)
		}
	}
}

// refetches checks every page was fetched and returns how many fetches
// were repeats.
func refetches(t *testing.T, site *proctest.TreeSite, n int) int {
	t.Helper()
	re := 0
	for i := range n {
		h := site.Hits(i)
		if h == 0 {
			t.Fatalf("page %d never fetched", i)
		}
		re += h - 1
	}
	return re
}

// waitItems waits until the crawl has at least min items, through c.
func waitItems(t *testing.T, c redis.UniversalClient, name string, min int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d items", min), 3*time.Minute, func() bool {
		return c.LLen(context.Background(), KeyPrefix(c, name)+":items").Val() >= int64(min)
	})
}

// 3 workers crawl a site through a Redis Cluster of 3 primaries and 3
// replicas: every page is fetched exactly once and has exactly one item,
// and every key of the crawl lives on the primary of the crawl's slot
// (hash tag {clu}): the other primaries hold none.
func TestClusterCrawlExactlyOnce(t *testing.T) {
	n := proctest.EnvInt(t, "REDISQ_TEST_PAGES", 1000)
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	site := newTestSite(t, n)
	tg := target{url: "redis://" + c.Nodes[0].Addr + "/0", cluster: c.Addrs()}
	var ws []*proctest.Proc
	for i := range 3 {
		ws = append(ws, startWorkerOn(t, tg, site.URL, "clu", fmt.Sprintf("w%d", i), 5*time.Second, 0))
	}
	waitWorkers(t, ws)
	for i := range n {
		if h := site.Hits(i); h != 1 {
			t.Fatalf("page %d fetched %d times, want exactly 1", i, h)
		}
	}
	checkItemsOn(t, tg.client(t), "clu", site.URL, n)
	home, err := c.PrimaryFor("{clu}:items")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := home.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"{clu}:items", "{clu}:dupefilter", "{clu}:stats", "{clu}:leases:seq"} {
		if !strings.Contains("\n"+keys+"\n", "\n"+want+"\n") {
			t.Fatalf("the slot's primary %s lacks %s; it has:\n%s", home.Addr, want, keys)
		}
	}
	if mem, err := home.Do("MEMORY", "USAGE", "{clu}:dupefilter", "SAMPLES", "0"); err == nil {
		var b int
		fmt.Sscanf(mem, ":%d", &b)
		t.Logf("cluster: exact dupefilter %.0f B per URL at %d URLs (small sets are listpacks/hashtables sized in powers of 2)", float64(b)/float64(n), n)
	}
	for _, node := range c.Nodes {
		if node == home {
			continue
		}
		if role, _ := node.Do("ROLE"); !strings.HasPrefix(role, "master") {
			continue
		}
		if other, _ := node.Do("KEYS", "*"); other != "" {
			t.Fatalf("primary %s (not the crawl's slot) holds keys: %q", node.Addr, other)
		}
	}
}

// failoverWait is the test workers' REDIS_WAIT_REPLICAS in the failover
// tests: 1 by default; REDISQ_TEST_WAIT=0 runs them with asynchronous
// replication, to see what a failover then loses.
func failoverWait(t *testing.T) int {
	return proctest.EnvInt(t, "REDISQ_TEST_WAIT", 1)
}

// Sentinel: a primary, two replicas, three Sentinels (quorum 2) and three
// workers; the primary is killed with SIGKILL mid-crawl. The Sentinels
// promote a replica, the workers follow it and finish: every page is
// scraped, every item is in Redis exactly once, and the pages fetched twice
// are at most what the workers had leased (3 × MaxLeases). Two replicas,
// not one, so that the promoted primary still has a replica to confirm
// REDIS_WAIT_REPLICAS=1 without the dead node coming back.
func TestSentinelFailoverCrawl(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (tens of seconds); runs in the full suite, as in CI")
	}
	n := proctest.EnvInt(t, "REDISQ_TEST_PAGES", 1000)
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 2})
	site := newTestSite(t, n)
	tg := target{url: st.Primary.URL(), sentinels: st.Addrs(), master: st.MasterName}
	wait := failoverWait(t)
	var ws []*proctest.Proc
	for i := range 3 {
		ws = append(ws, startWorkerOn(t, tg, site.URL, "sen", fmt.Sprintf("w%d", i), 4*time.Second, wait))
	}
	c := tg.client(t)
	waitItems(t, c, "sen", n/3)
	killed := time.Now()
	st.Primary.Kill()
	waitFor(t, "the Sentinels to promote a replica", 2*time.Minute, func() bool {
		a, err := st.CurrentPrimary()
		return err == nil && a != st.Primary.Addr
	})
	t.Logf("failover took %v", time.Since(killed).Round(time.Millisecond))
	waitWorkers(t, ws)
	re := refetches(t, site, n)
	t.Logf("%d pages, %d refetched (bound %d), REDIS_WAIT_REPLICAS=%d", n, re, 3*workerMaxLeases, wait)
	if re > 3*workerMaxLeases {
		t.Fatalf("%d pages refetched, more than the %d the workers can hold leased", re, 3*workerMaxLeases)
	}
	checkItemsOn(t, c, "sen", site.URL, n)
	followed := false
	for _, w := range ws {
		followed = followed || strings.Contains(w.Out.String(), "redis unavailable; pausing and retrying with backoff")
	}
	if !followed {
		t.Fatalf("no worker noticed the primary's death")
	}
}

// Cluster: during a crawl by three workers, the primary of the crawl's slot
// is killed (SIGKILL) and so is one worker (kill -9) while the cluster
// fails over; a new worker starts, and the dead node is restarted (it
// rejoins as a replica, so the promoted primary has one to confirm
// REDIS_WAIT_REPLICAS=1). Every page is scraped, every item is in Redis
// exactly once, and refetches are bounded by the leases the workers held.
func TestClusterFailoverKill9Worker(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (tens of seconds); runs in the full suite, as in CI")
	}
	n := proctest.EnvInt(t, "REDISQ_TEST_PAGES", 1000)
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	site := newTestSite(t, n)
	tg := target{url: "redis://" + c.Nodes[0].Addr + "/0", cluster: c.Addrs()}
	wait := failoverWait(t)
	var ws []*proctest.Proc
	for i := range 3 {
		ws = append(ws, startWorkerOn(t, tg, site.URL, "kc", fmt.Sprintf("w%d", i), 4*time.Second, wait))
	}
	cl := tg.client(t)
	waitItems(t, cl, "kc", n/3)
	primary, err := c.PrimaryFor("{kc}:requests")
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	primary.Kill()
	if err := ws[0].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = ws[0].Wait(t, time.Minute)
	ws = append(ws[1:], startWorkerOn(t, tg, site.URL, "kc", "w3", 4*time.Second, wait))
	waitFor(t, "a replica to take over the crawl's slot", 2*time.Minute, func() bool {
		p, err := c.PrimaryFor("{kc}:requests")
		return err == nil && p != primary
	})
	t.Logf("failover took %v", time.Since(killed).Round(time.Millisecond))
	primary.Restart()
	waitWorkers(t, ws)
	re := refetches(t, site, n)
	t.Logf("%d pages, %d refetched (bound %d), REDIS_WAIT_REPLICAS=%d", n, re, 3*workerMaxLeases, wait)
	if re > 3*workerMaxLeases {
		t.Fatalf("%d pages refetched, more than the %d the workers can hold leased", re, 3*workerMaxLeases)
	}
	checkItemsOn(t, cl, "kc", site.URL, n)
}
