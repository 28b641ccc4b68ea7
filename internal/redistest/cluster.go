package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback:
// primaries, each with its replicas, created with redis-cli --cluster
// create as an operator would.
type Cluster struct {
	// Nodes are every node, primaries and replicas, in start order.
	Nodes []*Server
	t     testing.TB
}

// ClusterOptions tunes StartCluster.
type ClusterOptions struct {
	// Primaries and ReplicasPer size the cluster; defaults 3 and 1.
	Primaries, ReplicasPer int
	// NodeTimeout is cluster-node-timeout: how long a primary is
	// unreachable before its replica takes over. Default 1s (Redis's is
	// 15s), so a failover test takes seconds.
	NodeTimeout time.Duration
	// Args are extra redis-server arguments for every node.
	Args []string
}

// StartCluster starts the nodes, creates the cluster (slots spread over the
// primaries, replicas attached) and waits until every node reports
// cluster_state:ok and every replica is in sync. The nodes stop when the
// test ends. redis-server or redis-cli missing fails the test.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found in PATH (install it: apt-get install -y redis-tools): %v", err)
	}
	if o.Primaries <= 0 {
		o.Primaries = 3
	}
	if o.ReplicasPer <= 0 {
		o.ReplicasPer = 1
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	c := &Cluster{t: t}
	addrs := []string{}
	for range o.Primaries * (1 + o.ReplicasPer) {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		args := append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
			// Any replica may take over, however long its link was down:
			// the tests kill primaries on purpose.
			"--cluster-replica-validity-factor", "0",
			// fsync once a second: six nodes fsyncing every write on a
			// shared 2-core machine is the slowest part of the test, and
			// no test here restarts a node from its AOF.
			"--appendfsync", "everysec",
		}, o.Args...)
		n := Start(t, Options{Args: args})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	cmd := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", strconv.Itoa(o.ReplicasPer), "--cluster-yes")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(t, time.Minute)
	return c
}

// Addrs are the host:port of every node (seeds for a cluster client).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// node is one line of CLUSTER NODES.
type node struct {
	id, addr, master string
	flags            []string
}

func (n node) has(flag string) bool {
	for _, f := range n.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// view is CLUSTER NODES as seen by a live node, with the slot ranges of
// each primary.
func (c *Cluster) view() ([]node, map[string][][2]int, error) {
	var lastErr error
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		out, err := s.Do("CLUSTER", "NODES")
		if err != nil {
			lastErr = err
			continue
		}
		var nodes []node
		slots := map[string][][2]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			n := node{id: f[0], addr: addr, master: f[3], flags: strings.Split(f[2], ",")}
			nodes = append(nodes, n)
			for _, r := range f[8:] {
				if strings.HasPrefix(r, "[") {
					continue // a slot being migrated
				}
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 == nil && err2 == nil {
					slots[n.id] = append(slots[n.id], [2]int{a, b})
				}
			}
		}
		return nodes, slots, nil
	}
	return nil, nil, fmt.Errorf("no live node answered CLUSTER NODES: %v", lastErr)
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// PrimaryFor returns the node that serves key's slot now (the answer
// changes after a failover).
func (c *Cluster) PrimaryFor(key string) (*Server, error) {
	var slot int
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		out, err := s.Do("CLUSTER", "KEYSLOT", key)
		if err != nil {
			return nil, err
		}
		if slot, err = strconv.Atoi(strings.TrimPrefix(out, ":")); err != nil {
			return nil, fmt.Errorf("CLUSTER KEYSLOT %s: %q", key, out)
		}
		break
	}
	nodes, slots, err := c.view()
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if !n.has("master") || n.has("fail") {
			continue
		}
		for _, r := range slots[n.id] {
			if slot >= r[0] && slot <= r[1] {
				if s := c.byAddr(n.addr); s != nil {
					return s, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no primary serves slot %d of %s", slot, key)
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// sees no node flagged as failing among the primaries that hold slots,
// and every running replica's link to its primary is up.
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	why := ""
	for time.Now().Before(deadline) {
		why = c.unhealthy()
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redistest: cluster not healthy after %v: %s", timeout, why)
}

func (c *Cluster) unhealthy() string {
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		info, err := s.Do("CLUSTER", "INFO")
		if err != nil {
			return fmt.Sprintf("%s: CLUSTER INFO: %v", s.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return s.Addr + ": cluster_state is not ok"
		}
		repl, err := s.Do("INFO", "replication")
		if err != nil {
			return fmt.Sprintf("%s: INFO replication: %v", s.Addr, err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return s.Addr + ": replica not in sync with its primary"
		}
	}
	return ""
}

// Running reports whether the server process is up (not killed).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Sentinel is a primary, its replicas and the Sentinels that monitor them,
// all real processes on loopback.
type Sentinel struct {
	// MasterName is the name the Sentinels monitor the primary under.
	MasterName string
	// Primary is the initial primary, Replicas its replicas.
	Primary  *Server
	Replicas []*Server
	// Sentinels are the redis-server --sentinel processes.
	Sentinels []*Server
}

// SentinelOptions tunes StartSentinel.
type SentinelOptions struct {
	// Replicas and Sentinels count the processes; defaults 1 and 3.
	// Quorum is how many Sentinels must agree the primary is down;
	// default a majority.
	Replicas, Sentinels, Quorum int
	// DownAfter is down-after-milliseconds: how long the primary is
	// unreachable before it is considered down. Default 1s (Redis's is
	// 30s).
	DownAfter time.Duration
	// Args are extra redis-server arguments of the data nodes.
	Args []string
}

// StartSentinel starts a primary, replicas of it and Sentinels monitoring
// it as "mymaster", and waits until every replica is in sync and every
// Sentinel knows the replicas and the other Sentinels (so a failover can
// be voted at once).
func StartSentinel(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Sentinels <= 0 {
		o.Sentinels = 3
	}
	if o.Quorum <= 0 {
		o.Quorum = o.Sentinels/2 + 1
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	st := &Sentinel{MasterName: "mymaster"}
	st.Primary = Start(t, Options{Args: append([]string{"--appendfsync", "everysec"}, o.Args...)})
	host, port, _ := net.SplitHostPort(st.Primary.Addr)
	for range o.Replicas {
		st.Replicas = append(st.Replicas, Start(t, Options{Args: append([]string{"--appendfsync", "everysec", "--replicaof", host, port}, o.Args...)}))
	}
	waitFor(t, "replicas in sync", time.Minute, func() bool {
		for _, r := range st.Replicas {
			info, err := r.Do("INFO", "replication")
			if err != nil || !strings.Contains(info, "master_link_status:up") {
				return false
			}
		}
		return true
	})
	for range o.Sentinels {
		s := &Server{Dir: t.TempDir(), t: t}
		p, err := freePort()
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		conf := fmt.Sprintf("sentinel monitor %s %s %s %d\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			st.MasterName, host, port, o.Quorum, st.MasterName, o.DownAfter.Milliseconds(), st.MasterName, st.MasterName)
		s.sentinelConf = filepath.Join(s.Dir, "sentinel.conf")
		if err := os.WriteFile(s.sentinelConf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.start(); err != nil {
			t.Fatalf("redistest: sentinel: %v", err)
		}
		t.Cleanup(s.Stop)
		st.Sentinels = append(st.Sentinels, s)
	}
	waitFor(t, "sentinels to know the replicas and each other", time.Minute, func() bool {
		for _, s := range st.Sentinels {
			out, err := s.Do("SENTINEL", "MASTER", st.MasterName)
			if err != nil {
				return false
			}
			f := strings.Split(out, "\n")
			fields := map[string]string{}
			for i := 0; i+1 < len(f); i += 2 {
				fields[f[i]] = f[i+1]
			}
			if fields["num-slaves"] != strconv.Itoa(o.Replicas) || fields["num-other-sentinels"] != strconv.Itoa(o.Sentinels-1) {
				return false
			}
		}
		return true
	})
	return st
}

// Addrs are the Sentinels' host:port.
func (st *Sentinel) Addrs() []string {
	var out []string
	for _, s := range st.Sentinels {
		out = append(out, s.Addr)
	}
	return out
}

// CurrentPrimary asks a live Sentinel for the primary's address.
func (st *Sentinel) CurrentPrimary() (string, error) {
	var lastErr error
	for _, s := range st.Sentinels {
		if !s.Running() {
			continue
		}
		out, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.MasterName)
		if err != nil {
			lastErr = err
			continue
		}
		hp := strings.Split(out, "\n")
		if len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		lastErr = fmt.Errorf("unexpected reply %q", out)
	}
	return "", fmt.Errorf("no sentinel answered: %v", lastErr)
}

func waitFor(t testing.TB, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: timed out after %v waiting for %s", timeout, what)
}

// Pause stops the server with SIGSTOP: it keeps its connections but
// answers nothing (a replica that falls behind), until Resume.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}
