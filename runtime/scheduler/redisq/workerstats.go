package redisq

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Each worker of a Redis crawl publishes its periodic stats snapshot
// (runtime/statsnap's JSON) under a key of its own, with a TTL, so that
// `spiderrun status` can show every worker's live figures: a key per worker
// keeps a worker's write from touching the others' (no shared hash to
// read-modify-write), and the TTL makes a killed worker's figures go away
// by themselves. The key starts with the crawl's prefix like every other
// key of the crawl, so a hash tag in the spider's name ({books}) keeps it
// in the crawl's slot.

// WorkerStatsKey is the key of worker's snapshot in the crawl whose keys
// start with prefix (KeyPrefix): N:workers:<worker>:stats.
func WorkerStatsKey(prefix, worker string) string {
	return prefix + ":workers:" + worker + ":stats"
}

// PublishStats stores this worker's snapshot b under WorkerStatsKey for
// ttl (one SET: the previous snapshot is replaced whole).
func (s *Scheduler) PublishStats(ctx context.Context, b []byte, ttl time.Duration) error {
	key := WorkerStatsKey(s.keys.prefix, s.opts.WorkerID)
	if err := s.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		return fmt.Errorf("publish worker stats to %s: %w", key, err)
	}
	return nil
}

// ReadWorkerStats returns the snapshots the crawl's workers published and
// that have not expired, by worker id. It scans for the keys (SCAN, not
// KEYS: it never blocks the server) rather than reading the live workers'
// hash, so a worker that closed recently still shows its last snapshot.
func ReadWorkerStats(ctx context.Context, rdb redis.UniversalClient, name string) (map[string]json.RawMessage, error) {
	prefix, suffix := KeyPrefix(rdb, name)+":workers:", ":stats"
	var keys []string
	// SCAN walks one node: on a cluster, the primary of the crawl's slot,
	// where all its keys are.
	var scanner redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("scan %s*%s: find the crawl's node: %w", prefix, suffix, err)
		}
		scanner = node
	}
	iter := scanner.Scan(ctx, 0, globEscape(prefix)+"*"+suffix, 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan %s*%s: %w", prefix, suffix, err)
	}
	out := map[string]json.RawMessage{}
	for len(keys) > 0 {
		part := keys[:min(len(keys), 500)]
		keys = keys[len(part):]
		vals, err := rdb.MGet(ctx, part...).Result()
		if err != nil {
			return nil, fmt.Errorf("read worker stats: %w", err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok || !json.Valid([]byte(str)) {
				continue // expired between SCAN and MGET, or not ours
			}
			worker := strings.TrimSuffix(strings.TrimPrefix(part[i], prefix), suffix)
			out[worker] = json.RawMessage(str)
		}
	}
	return out, nil
}

// globEscape quotes the characters SCAN's MATCH pattern treats specially,
// so a spider's name is matched literally.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
