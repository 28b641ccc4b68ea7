package redisq

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is a snapshot of a crawl's Redis state (spiderrun status).
type Status struct {
	Name string `json:"name"`
	// Queue is the number of pending requests.
	Queue int64 `json:"queue"`
	// StartKeys maps each redis_key to its number of entries.
	StartKeys map[string]int64 `json:"start_keys"`
	// Leases maps worker id to the number of leases it holds.
	Leases map[string]int64 `json:"leases"`
	// Workers maps live worker ids (seen by heartbeat) to how long ago.
	Workers map[string]time.Duration `json:"workers"`
	// Starting lists the workers still queuing their own start requests
	// (N:starting, entries not expired): the crawl is not idle while any is.
	Starting []string `json:"starting"`
	// DupefilterKind is "exact" or "bloom" ("" when neither key exists).
	DupefilterKind string `json:"dupefilter_kind"`
	// Dupefilter is the number of fingerprints (estimated for Bloom).
	Dupefilter int64 `json:"dupefilter"`
	// ItemsKey and Items: the items list and its length.
	ItemsKey string `json:"items_key,omitempty"`
	Items    int64  `json:"items"`
	// Rejected is the number of rejected task entries.
	Rejected int64 `json:"rejected"`
	// Dead is the number of entries given up after MaxDeliveries expired
	// leases (N:dead).
	Dead int64 `json:"dead"`
	// Stats is the shared stats hash.
	Stats map[string]string `json:"stats"`
	// WorkerStats are the workers' latest stats snapshots (runtime/statsnap
	// JSON, N:workers:<id>:stats), by worker id: the live ones and those
	// that closed within their key's TTL.
	WorkerStats map[string]json.RawMessage `json:"worker_stats"`
}

// StatusOptions selects what ReadStatus looks at.
type StatusOptions struct {
	Name      string
	StartKeys []string
	Kind      string // of the start keys; default list
	ItemsKey  string // "{name}" expanded; "" = skip
	// QueueKey and DupefilterKey override the default key names, as in
	// Options.
	QueueKey, DupefilterKey string
}

// ReadStatus reads a crawl's state without changing it.
func ReadStatus(ctx context.Context, rdb redis.UniversalClient, o StatusOptions) (*Status, error) {
	prefix := KeyPrefix(rdb, o.Name)
	k := newKeys(prefix)
	if o.QueueKey != "" {
		k.requests = ExpandKey(o.QueueKey, prefix)
	}
	bloomKey := k.prefix + ":dupefilter:bloom"
	if o.DupefilterKey != "" && ExpandKey(o.DupefilterKey, prefix) != k.dupefilter {
		k.dupefilter = ExpandKey(o.DupefilterKey, prefix)
		bloomKey = k.dupefilter
	}
	st := &Status{Name: o.Name, StartKeys: map[string]int64{}, Leases: map[string]int64{}, Workers: map[string]time.Duration{}}
	var err error
	wrap := func(what string, e error) error { return fmt.Errorf("redis status %s: %w", what, e) }
	if st.Queue, err = rdb.ZCard(ctx, k.requests).Result(); err != nil {
		return nil, wrap("queue", err)
	}
	for _, key := range o.StartKeys {
		var n int64
		switch o.Kind {
		case KindSet:
			n, err = rdb.SCard(ctx, key).Result()
		case KindZSet:
			n, err = rdb.ZCard(ctx, key).Result()
		default:
			n, err = rdb.LLen(ctx, key).Result()
		}
		if err != nil {
			return nil, wrap(key, err)
		}
		st.StartKeys[key] = n
	}
	// HSCAN, not HGETALL: the leases hash holds whole entries.
	iter := rdb.HScan(ctx, k.leases, 0, "", 500).Iterator()
	for i := 0; iter.Next(ctx); i++ {
		if i%2 == 1 {
			worker, _, _ := strings.Cut(iter.Val(), "\n")
			st.Leases[worker]++
		}
	}
	if err := iter.Err(); err != nil {
		return nil, wrap("leases", err)
	}
	tm, err := rdb.Time(ctx).Result()
	if err != nil {
		return nil, wrap("time", err)
	}
	workers, err := rdb.HGetAll(ctx, k.workers).Result()
	if err != nil {
		return nil, wrap("workers", err)
	}
	for w, ms := range workers {
		n, _ := strconv.ParseInt(ms, 10, 64)
		st.Workers[w] = tm.Sub(time.UnixMilli(n)).Round(time.Millisecond)
	}
	st.Starting, err = rdb.ZRangeByScore(ctx, k.starting, &redis.ZRangeBy{Min: "(" + strconv.FormatInt(tm.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, wrap("starting", err)
	}
	if st.Stats, err = rdb.HGetAll(ctx, k.stats).Result(); err != nil {
		return nil, wrap("stats", err)
	}
	if st.WorkerStats, err = ReadWorkerStats(ctx, rdb, o.Name); err != nil {
		return nil, wrap("worker stats", err)
	}
	typ, err := rdb.Type(ctx, k.dupefilter).Result()
	if err != nil {
		return nil, wrap("dupefilter", err)
	}
	if typ == "set" {
		if st.Dupefilter, err = rdb.SCard(ctx, k.dupefilter).Result(); err != nil {
			return nil, wrap("dupefilter", err)
		}
		st.DupefilterKind = DupefilterExact
	} else if bits, err := rdb.BitCount(ctx, bloomKey, nil).Result(); err == nil && bits > 0 {
		st.DupefilterKind = DupefilterBloom
		m, _ := strconv.ParseFloat(st.Stats["dupefilter/bloom_bits"], 64)
		kk, _ := strconv.ParseFloat(st.Stats["dupefilter/bloom_hashes"], 64)
		if m > 0 && kk > 0 && float64(bits) < m {
			// Swamidass & Baldi: n ≈ -(m/k) ln(1 - X/m) for X set bits.
			st.Dupefilter = int64(math.Round(-m / kk * math.Log(1-float64(bits)/m)))
		}
	}
	if o.ItemsKey != "" {
		st.ItemsKey = ExpandKey(o.ItemsKey, prefix)
		if st.Items, err = rdb.LLen(ctx, st.ItemsKey).Result(); err != nil {
			return nil, wrap("items", err)
		}
	}
	if st.Rejected, err = rdb.LLen(ctx, k.rejected).Result(); err != nil {
		return nil, wrap("rejected", err)
	}
	if st.Dead, err = rdb.LLen(ctx, k.prefix+":dead").Result(); err != nil {
		return nil, wrap("dead letters", err)
	}
	return st, nil
}

// Text renders the status for a terminal.
func (st *Status) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spider:      %s\n", st.Name)
	fmt.Fprintf(&b, "queue:       %d pending requests\n", st.Queue)
	for _, key := range sortedKeys(st.StartKeys) {
		fmt.Fprintf(&b, "tasks:       %d in %s\n", st.StartKeys[key], key)
	}
	var total int64
	for _, n := range st.Leases {
		total += n
	}
	fmt.Fprintf(&b, "in flight:   %d leases\n", total)
	for _, w := range sortedKeys(st.Leases) {
		fmt.Fprintf(&b, "  %s: %d\n", w, st.Leases[w])
	}
	fmt.Fprintf(&b, "workers:     %d alive\n", len(st.Workers))
	for _, w := range sortedKeys(st.Workers) {
		note := ""
		if slices.Contains(st.Starting, w) {
			note = " (queuing its start requests)"
		}
		fmt.Fprintf(&b, "  %s: last heartbeat %s ago%s\n", w, st.Workers[w], note)
	}
	switch st.DupefilterKind {
	case DupefilterBloom:
		fmt.Fprintf(&b, "dupefilter:  ~%d fingerprints (bloom, capacity %s, error rate %s)\n", st.Dupefilter,
			st.Stats["dupefilter/bloom_capacity"], st.Stats["dupefilter/bloom_error_rate"])
	default:
		fmt.Fprintf(&b, "dupefilter:  %d fingerprints\n", st.Dupefilter)
	}
	if st.ItemsKey != "" {
		fmt.Fprintf(&b, "items:       %d in %s\n", st.Items, st.ItemsKey)
	}
	if st.Rejected > 0 {
		fmt.Fprintf(&b, "rejected:    %d task entries in %s:rejected\n", st.Rejected, st.Name)
	}
	if st.Dead > 0 {
		fmt.Fprintf(&b, "dead:        %d entries whose worker died every time, in %s:dead\n", st.Dead, st.Name)
	}
	return b.String()
}

// JSON renders the status as one JSON object (durations in seconds).
func (st *Status) JSON() ([]byte, error) {
	w := map[string]float64{}
	for k, v := range st.Workers {
		w[k] = v.Seconds()
	}
	type alias Status
	return json.Marshal(struct {
		*alias
		Workers map[string]float64 `json:"workers"`
	}{(*alias)(st), w})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Push adds task entries to a start key of the given kind. A list gets them
// at the tail (tasks are taken from the head: FIFO); a zset scores each
// entry by its JSON "priority" (0 for plain URLs). It returns how many were
// added (a set or zset ignores an entry it already has).
func Push(ctx context.Context, rdb redis.UniversalClient, key, kind string, entries [][]byte) (int64, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	var n int64
	const chunk = 1000
	for i := 0; i < len(entries); i += chunk {
		part := entries[i:min(i+chunk, len(entries))]
		var added int64
		var err error
		switch kind {
		case KindSet:
			vals := make([]any, len(part))
			for j, e := range part {
				vals[j] = e
			}
			added, err = rdb.SAdd(ctx, key, vals...).Result()
		case KindZSet:
			zs := make([]redis.Z, len(part))
			for j, e := range part {
				zs[j] = redis.Z{Score: float64(entryPriority(e)), Member: e}
			}
			added, err = rdb.ZAdd(ctx, key, zs...).Result()
		case KindList, "":
			vals := make([]any, len(part))
			for j, e := range part {
				vals[j] = e
			}
			if _, err = rdb.RPush(ctx, key, vals...).Result(); err == nil {
				added = int64(len(part))
			}
		default:
			return n, fmt.Errorf("unknown start key kind %q", kind)
		}
		if err != nil {
			return n, fmt.Errorf("push to %s: %w", key, err)
		}
		n += added
	}
	return n, nil
}

func entryPriority(e []byte) int {
	var v struct {
		Priority int `json:"priority"`
	}
	if len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &v) == nil {
		return v.Priority
	}
	return 0
}
