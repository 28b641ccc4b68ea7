package redistest

import (
	"strings"
	"testing"
	"time"
)

// The cluster is created and healthy, a key is served by the primary
// PrimaryFor names (other nodes redirect), and killing that primary
// promotes its replica: PrimaryFor then names the replica, which has the
// key.
func TestClusterFailover(t *testing.T) {
	c := StartCluster(t, ClusterOptions{})
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 3 primaries + 3 replicas", len(c.Nodes))
	}
	p, err := c.PrimaryFor("{crawl}:requests")
	if err != nil {
		t.Fatal(err)
	}
	// The write and its WAIT on one connection: WAIT counts the replicas
	// that have this connection's writes (on a fresh one it counts them
	// all at once, and the replica promoted below could lack the value).
	if got, err := p.DoOn([]string{"SET", "{crawl}:requests", "v"}, []string{"WAIT", "1", "10000"}); err != nil || got[0] != "+OK" || got[1] != ":1" {
		t.Fatalf("SET and WAIT on the slot's primary = %q, %v; want +OK and one replica", got, err)
	}
	for _, n := range c.Nodes {
		if n == p {
			continue
		}
		// A replica of the slot answers MOVED too (no READONLY).
		if _, err := n.Do("GET", "{crawl}:requests"); err == nil || !strings.HasPrefix(err.Error(), "MOVED ") {
			t.Fatalf("node %s answered GET of another node's slot with %v, want MOVED", n.Addr, err)
		}
	}
	p.Kill()
	waitFor(t, "a replica to take over the slot", time.Minute, func() bool {
		np, err := c.PrimaryFor("{crawl}:requests")
		return err == nil && np != p
	})
	c.WaitHealthy(t, time.Minute)
	np, _ := c.PrimaryFor("{crawl}:requests")
	if got, err := np.Do("GET", "{crawl}:requests"); err != nil || got != "v" {
		t.Fatalf("GET on the new primary = %q, %v; want the replicated value", got, err)
	}
}

// Three Sentinels fail over to the replica when the primary is killed.
func TestSentinelFailover(t *testing.T) {
	st := StartSentinel(t, SentinelOptions{})
	if a, err := st.CurrentPrimary(); err != nil || a != st.Primary.Addr {
		t.Fatalf("sentinel names %q (%v) as primary, want %s", a, err, st.Primary.Addr)
	}
	st.Primary.Kill()
	waitFor(t, "the sentinels to promote the replica", time.Minute, func() bool {
		a, err := st.CurrentPrimary()
		return err == nil && a == st.Replicas[0].Addr
	})
	waitFor(t, "the promoted replica to accept writes", time.Minute, func() bool {
		got, err := st.Replicas[0].Do("SET", "k", "v")
		return err == nil && got == "+OK"
	})
}
