package redisq

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously: a primary answers a write before its
// replicas have it, so when the primary dies and a replica is promoted
// (Sentinel or Cluster failover) the writes of the last moments before the
// crash can be gone although the workers were told they succeeded. For the
// frontier that means: a request queued by a worker that then acknowledges
// the page that found it on the new primary is lost for good.
//
// With Options.WaitReplicas (REDIS_WAIT_REPLICAS) the writes that matter —
// enqueue, lease, acknowledge (with its items), task pops, lease returns —
// are followed by WAIT on the same connection: the call returns only once
// that many replicas hold the write. Sentinel and Cluster promote the
// replica with the most data, so a write confirmed this way survives the
// failover of its primary. While fewer replicas answer, the worker pauses
// and retries the WAIT (logged as an outage), it never goes on unconfirmed.
// If the connection breaks before the confirmation, the whole operation is
// retried; each is safe to repeat (the dupefilter makes a repeated enqueue a
// duplicate, an ack's marker makes a repeated ack a success, a repeated
// lease leaves the first batch leased to nobody until its lease times out).

// errNotReplicated is a write the primary holds but fewer than
// WaitReplicas replicas have confirmed yet.
type errNotReplicated struct{ got, want int64 }

func (e errNotReplicated) Error() string {
	return fmt.Sprintf("NOREPLICAS write confirmed by %d of %d replicas (REDIS_WAIT_REPLICAS)", e.got, e.want)
}

// run runs a write script: plainly, or with WaitReplicas, on one
// connection followed by WAIT.
func (s *Scheduler) run(ctx context.Context, script *redis.Script, keys []string, args ...any) (res *redis.Cmd) {
	if s.opts.WaitReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	fail := func(err error) *redis.Cmd {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	// WAIT confirms the writes of its own connection, so the script and
	// the WAIT share one: on a cluster, one of the primary of the keys'
	// slot (all the crawl's keys share it).
	var conn *redis.Conn
	switch c := s.rdb.(type) {
	case *redis.Client:
		conn = c.Conn()
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, keys[0])
		if err != nil {
			return fail(err)
		}
		conn = node.Conn()
		defer func() {
			// The node went away or no longer serves the slot (failover,
			// resharding): learn the new primary before the retry.
			if err := res.Err(); err != nil && err != redis.Nil {
				c.ReloadState(ctx)
			}
		}()
	default:
		return fail(fmt.Errorf("REDIS_WAIT_REPLICAS needs a redis.Client or redis.ClusterClient, not %T", s.rdb))
	}
	defer conn.Close()
	cmd := script.Run(ctx, conn, keys, args...)
	if cmd.Err() != nil && cmd.Err() != redis.Nil {
		return cmd
	}
	timeout := s.opts.WaitTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	for {
		got, err := conn.Wait(ctx, s.opts.WaitReplicas, timeout).Result()
		if err != nil {
			return fail(err)
		}
		if got >= int64(s.opts.WaitReplicas) {
			return cmd
		}
		// Reported as an outage by retry(): the primary holds the write,
		// the replicas have not confirmed it. Go on waiting here rather
		// than re-running the script.
		s.retry.down("replicate", errNotReplicated{got, int64(s.opts.WaitReplicas)})
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
