package redisq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// primaryWithReplica starts a primary and a replica of it, in sync.
func primaryWithReplica(t *testing.T) (primary, replica *redistest.Server) {
	t.Helper()
	primary = redistest.Start(t, redistest.Options{Args: []string{"--appendfsync", "everysec"}})
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica = redistest.Start(t, redistest.Options{Args: []string{"--appendfsync", "everysec", "--replicaof", host, port}})
	waitFor(t, "the replica in sync", time.Minute, func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return primary, replica
}

// lag makes the replica fall behind for real: stopped (SIGSTOP), and the
// primary's replication stream filled past what the kernel's socket
// buffers hold, so that the writes that follow stay in the primary's own
// memory, where a crash loses them.
func lag(t *testing.T, s *Scheduler, replica *redistest.Server) {
	t.Helper()
	replica.Pause()
	if err := s.Client().Set(context.Background(), "filler", strings.Repeat("x", 48<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// promote kills the primary and makes the replica a primary, as a
// failover does, and returns the number of requests queued on it.
func promote(t *testing.T, s *Scheduler, primary, replica *redistest.Server, name string) int {
	t.Helper()
	s.crash() // the worker goes with its primary: no Close retrying against a dead server
	primary.Kill()
	replica.Resume()
	if _, err := replica.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	n, err := replica.Do("ZCARD", name+":requests")
	if err != nil {
		t.Fatal(err)
	}
	var got int
	fmt.Sscanf(n, ":%d", &got)
	return got
}

// What asynchronous replication loses, and what REDIS_WAIT_REPLICAS
// keeps: with the replica lagging, an enqueue the primary acknowledged is
// gone after the failover; with WaitReplicas 1 the
// enqueue does not return until the replica holds it, and then survives.
func TestWaitReplicas(t *testing.T) {
	ctx := context.Background()
	t.Run("async loses the acknowledged enqueue", func(t *testing.T) {
		primary, replica := primaryWithReplica(t)
		s, _ := openSched(t, primary, Options{Name: "async", Persist: true, MaxBackoff: 100 * time.Millisecond})
		lag(t, s, replica)
		added, err := s.Enqueue(ctx, &crawl.Request{URL: "https://example.com/a"})
		if err != nil || !added {
			t.Fatalf("Enqueue = %v, %v", added, err)
		}
		if got := promote(t, s, primary, replica, "async"); got != 0 {
			t.Fatalf("the promoted replica has %d requests; the lagging replica was expected to lack the enqueue", got)
		}
	})
	t.Run("WaitReplicas keeps it", func(t *testing.T) {
		primary, replica := primaryWithReplica(t)
		s, lb := openSched(t, primary, Options{Name: "sync", Persist: true, WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		lag(t, s, replica)
		short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
		_, err := s.Enqueue(short, &crawl.Request{URL: "https://example.com/a"})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Enqueue with the replica stopped = %v; want it to wait for the replica (context deadline)", err)
		}
		if !strings.Contains(lb.String(), "write confirmed by 0 of 1 replicas") {
			t.Fatalf("the wait for the replica was not logged:\n%s", lb.String())
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Enqueue(ctx, &crawl.Request{URL: "https://example.com/b"})
			done <- err
		}()
		time.Sleep(200 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Enqueue returned (%v) while the replica was stopped", err)
		default:
		}
		replica.Resume()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		lag(t, s, replica) // what follows the wait is not what is checked
		if got := promote(t, s, primary, replica, "sync"); got != 2 {
			t.Fatalf("the promoted replica has %d requests, want the 2 enqueued (the first was written before its wait was cancelled)", got)
		}
	})
}

// The cost of REDIS_WAIT_REPLICAS on loopback: one enqueue, lease and ack
// per operation, with and without WAIT for one replica.
func BenchmarkWaitReplicas(b *testing.B) {
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", wait), func(b *testing.B) {
			primary := redistest.Start(b, redistest.Options{Args: []string{"--appendfsync", "everysec"}})
			host, port, _ := net.SplitHostPort(primary.Addr)
			replica := redistest.Start(b, redistest.Options{Args: []string{"--appendfsync", "everysec", "--replicaof", host, port}})
			for {
				info, _ := replica.Do("INFO", "replication")
				if strings.Contains(info, "master_link_status:up") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			s, _ := openSched(b, primary, Options{Name: "bench", Persist: true, WaitReplicas: wait, LeaseBatch: 1, SeenCache: -1})
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Enqueue(ctx, &crawl.Request{URL: fmt.Sprintf("https://example.com/%d", i)}); err != nil {
					b.Fatal(err)
				}
				r, err := s.Next(ctx)
				if err != nil || r == nil {
					b.Fatal(r, err)
				}
				if err := s.Ack(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
