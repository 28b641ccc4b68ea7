// Package redisq is the Redis backend of the crawl frontier: a shared
// priority queue, dupefilter, request leases, item writer, politeness gate
// and RedisSpider task source, so that many spiderrun workers on many
// machines crawl as one.
//
// Unlike scrapy-redis, a request taken by a worker is leased, not popped: it
// stays in Redis (hash <name>:leases) until the worker acknowledges it after
// the request's output is committed. A lease whose worker stops renewing it
// (crash, kill -9, network partition, SIGSTOP) goes back to the queue after
// the visibility timeout; a stalled worker that comes back finds its lease
// gone and its late acknowledgement and items are rejected (fencing). Items
// tied to their request (crawl.WithRequest in the pipeline context) are
// pushed in the same atomic step as the acknowledgement, so a request that is
// delivered twice still adds its items to Redis once.
//
// Key layout (N = spider name; the first five are scrapy-redis's names, the
// content is JSON, never pickle):
//
//	N:requests          zset   pending requests; score -priority, member = 16 hex digits of sequence + request JSON (FIFO within a priority)
//	N:dupefilter        set    16-byte binary request fingerprints (DUPEFILTER exact)
//	N:dupefilter:bloom  string Bloom filter bitmap (DUPEFILTER bloom)
//	N:items             list   one JSON object per item (REDIS_ITEMS_KEY)
//	N:start_urls        list   RedisSpider tasks (redis_key; set or zset with REDIS_START_URLS_AS_SET/_AS_ZSET)
//	N:stats             hash   shared counters
//	N:leases            hash   lease id -> worker, origin key and the exact entry taken
//	N:leases:deadlines  zset   lease id -> expiry (ms, Redis clock)
//	N:leases:seq        string lease id counter (fencing token)
//	N:requests:seq      string enqueue sequence (FIFO tie-break)
//	N:workers           hash   worker id -> last heartbeat (ms)
//	N:workers:<id>:stats string worker <id>'s latest stats snapshot, JSON (runtime/statsnap), with a TTL
//	N:activity          string time of the last queue/lease change (idle close)
//	N:rejected          list   task entries that could not be used, with the reason
//	N:acked:<id>        string short-lived marker: the ack of lease <id> was committed
//	N:slot:<slot>       string politeness gate: earliest time of the next request to a slot
//	N:conn:<slot>       zset   shared concurrency places of a slot (holder -> expiry)
//	N:config            hash   shared settings the scripts read (max_deliveries)
//	N:redeliveries      hash   sha1 of an entry -> times its lease expired
//	N:dead              list   entries whose lease expired MaxDeliveries times (poison pills)
package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// ErrLocalRequest is returned by Enqueue for a request that carries
// process-local state (crawl.Request.Local: a JS closure callback, a
// ResultHolder in meta) and so cannot be shared through Redis.
var ErrLocalRequest = errors.New("request carries process-local state and cannot be queued in redis")

// ErrLeaseLost is returned by Ack when the worker no longer held the lease:
// it expired (the worker stalled longer than the lease timeout) and the
// request went back to the queue. The request's items were not written; the
// worker that processes the redelivery writes them.
var ErrLeaseLost = errors.New("lease lost")

// ErrEvictionPolicy is returned by Open when Redis may evict keys.
var ErrEvictionPolicy = errors.New("unsafe redis maxmemory-policy")

// Dupefilter kinds (the DUPEFILTER setting).
const (
	DupefilterExact = "exact"
	DupefilterBloom = "bloom"
)

// Options configures the backend. Zero values take the documented default.
type Options struct {
	// Client is the connection (see Dial): one server, a Sentinel-managed
	// primary or a Redis Cluster (keys are then hash-tagged: KeyPrefix).
	// Required.
	Client redis.UniversalClient
	// Name is the spider name: the prefix of every key. Required.
	Name string
	// WorkerID names this worker in leases and status output; default
	// host-pid-random.
	WorkerID string
	// LeaseTimeout is REDIS_LEASE_TIMEOUT: how long a lease survives without
	// a heartbeat before its request returns to the queue. Default 60s; the
	// heartbeat renews leases every LeaseTimeout/3.
	LeaseTimeout time.Duration
	// Persist is SCHEDULER_PERSIST: keep the queue and dupefilter when the
	// crawl closes. When false, the last worker to close a finished crawl
	// (queue empty, no lease held) deletes them.
	Persist bool
	// FlushOnStart is SCHEDULER_FLUSH_ON_START: delete the queue, dupefilter,
	// leases, the starting list and stats on Open (items and start keys are
	// kept).
	FlushOnStart bool
	// Dupefilter is DUPEFILTER: "exact" (default) or "bloom".
	Dupefilter string
	// BloomCapacity and BloomErrorRate size the Bloom filter (defaults 100
	// million and 0.001). The bitmap is a single Redis string, so it is
	// capped at 2^32 bits (512 MiB).
	BloomCapacity  int64
	BloomErrorRate float64
	// QueueKey and DupefilterKey are SCHEDULER_QUEUE_KEY and
	// SCHEDULER_DUPEFILTER_KEY ("{name}" expanded); defaults
	// <name>:requests and <name>:dupefilter (<name>:dupefilter:bloom for the
	// Bloom filter, so switching DUPEFILTER never reads the other's key).
	QueueKey, DupefilterKey string
	// ItemsKey is REDIS_ITEMS_KEY with "{name}" expanded by New; "" = items
	// are not written to Redis.
	ItemsKey string
	// Fingerprint computes request fingerprints; every worker of a crawl must
	// use the same function. Default: scheduler.Fingerprint (Scrapy's).
	Fingerprint func(*crawl.Request) [16]byte
	// MaxDeliveries moves a request (or task entry) whose lease expired this
	// many times to N:dead instead of redelivering it again: a page that
	// crashes or hangs every worker must not cycle forever. Default 5; a
	// negative value disables it.
	MaxDeliveries int
	// Logger receives outage and lease messages; default slog.Default().
	Logger *slog.Logger
	// Stats, when set, mirrors the backend's counters locally.
	Stats stats.Collector
	// MaxBackoff caps the retry backoff during an outage; default 5s.
	MaxBackoff time.Duration
	// MaxLeases bounds the leases this worker holds at once: requests
	// returned by Next and not yet acknowledged, plus task entries the
	// task source read ahead. Every lease a killed worker holds is
	// redelivered, so this is the most a kill -9 makes the crawl fetch
	// again. While the worker holds MaxLeases, Next returns nil (nothing
	// for this worker right now: the queue stays for the others) and the
	// task source waits for a lease to end. FromSettings makes it 3 ×
	// CONCURRENT_REQUESTS: what the engine may have taken (its MaxLeased,
	// 2 × CONCURRENT_REQUESTS) plus one batch of tasks read ahead. Default
	// DefaultMaxLeases; negative: no bound.
	MaxLeases int
	// LeaseBatch is how many requests Next leases per script call, within
	// MaxLeases: the first is returned, the others wait in the worker
	// (leased, renewed by the heartbeat, returned on Close, counted by
	// Len) for the next calls. Default MaxLeases/4, at most 32; 1 leases
	// one at a time. A request this worker queues with a higher priority
	// than one waiting sends those back to their place in the queue first.
	LeaseBatch int
	// WaitReplicas is REDIS_WAIT_REPLICAS: each write that matters returns
	// only once this many replicas confirm it (WAIT), so a failover cannot
	// take back what a worker was told is done. 0 (default): asynchronous
	// replication, see durable.go for what a failover can then lose.
	WaitReplicas int
	// WaitTimeout bounds one WAIT (default 1s); while replicas do not
	// confirm, the worker logs an outage and waits again.
	WaitTimeout time.Duration
	// SeenCache is how many fingerprints this worker remembers as being in
	// the shared dupefilter: a request whose fingerprint it remembers is a
	// certain duplicate and is dropped without asking Redis (the
	// dupefilter only grows). Default DefaultSeenCache; negative: no cache.
	SeenCache int
}

// DefaultMaxLeases is Options.MaxLeases when zero.
const DefaultMaxLeases = 48 // 3 × the default CONCURRENT_REQUESTS, as FromSettings

// Scheduler is the Redis-backed scheduler.Scheduler. It is safe for
// concurrent use.
type Scheduler struct {
	opts  Options
	rdb   redis.UniversalClient
	log   *slog.Logger
	retry *retryer
	keys  keys
	bloom bloomParams

	mu   sync.Mutex
	held map[string]*Lease // leases this worker holds, by id
	// reserved counts places of MaxLeases taken by leases being acquired
	// (a Next or a task batch in flight to Redis): len(held) + reserved
	// never exceeds MaxLeases.
	reserved int
	room     chan struct{} // signalled when a place frees (the task source waits on it)
	// boundSince is when Next first found the worker at MaxLeases with no
	// lease ended since (zero: not at the bound); boundWarned is set once
	// that was logged.
	boundSince  time.Time
	boundWarned bool
	// ahead holds requests leased by Next beyond the one it returned
	// (Options.LeaseBatch), handed out by the next calls; aheadStale is
	// set when this worker queued a request that must go before one of
	// them.
	ahead      []*crawl.Request
	aheadStale bool
	leaseMu    sync.Mutex // one Next script at a time
	// seen caches fingerprints known to be in the shared dupefilter;
	// filteredLocal counts the duplicates it dropped that the shared
	// dupefilter/filtered counter has not been told of yet.
	seen          *seenCache
	places        *places       // shared concurrency places kept between downloads (Gate.Hold)
	ackBatches    atomic.Uint64 // AckBatch chunks sent: their batch ids
	filteredLocal atomic.Int64
	// starting is set while this worker's own start requests are not all
	// queued: its heartbeat then keeps its entry in the starting key alive
	// (TaskSource).
	starting atomic.Bool
	open     bool
	closed   bool
	stopHB   context.CancelFunc
	hbDone   chan struct{}
}

type keys struct {
	requests, seq, dupefilter, items, stats, leases, deadlines, leaseSeq, workers, activity, rejected, starting string
	prefix                                                                                                      string
}

func newKeys(name string) keys {
	return keys{
		prefix:     name,
		requests:   name + ":requests",
		seq:        name + ":requests:seq",
		dupefilter: name + ":dupefilter",
		stats:      name + ":stats",
		leases:     name + ":leases",
		deadlines:  name + ":leases:deadlines",
		leaseSeq:   name + ":leases:seq",
		workers:    name + ":workers",
		activity:   name + ":activity",
		rejected:   name + ":rejected",
		starting:   name + ":starting",
	}
}

// ExpandKey replaces "{name}" in a key setting (REDIS_ITEMS_KEY, redis_key)
// with prefix: the spider's name, or its hash tag on a cluster (KeyPrefix).
func ExpandKey(pattern, prefix string) string { return strings.ReplaceAll(pattern, "{name}", prefix) }

// hashTag is the part of key Redis Cluster hashes to pick its slot: the
// text between the first "{" and the first "}" after it when not empty,
// else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// sameSlot checks that key (from setting) lives in the slot of the crawl's
// keys (prefix): the scripts that touch it and the crawl's other keys must
// run on one node of a cluster. "" (a key turned off) passes.
func sameSlot(setting, key, prefix string) error {
	if key == "" || hashTag(key) == hashTag(prefix+":x") {
		return nil
	}
	return fmt.Errorf("redisq: %s %q is outside the crawl's cluster slot: on a Redis Cluster every key of a crawl must carry its hash tag %s (write the key with {name}, e.g. {name}:items)", setting, key, prefix)
}

// New builds the backend without touching Redis; Open connects and checks.
func New(opts Options) (*Scheduler, error) {
	if opts.Client == nil {
		return nil, errors.New("redisq: options.Client is required")
	}
	if opts.Name == "" || strings.ContainsAny(opts.Name, " \n\r\t") {
		return nil, fmt.Errorf("redisq: invalid spider name %q", opts.Name)
	}
	if opts.LeaseTimeout <= 0 {
		opts.LeaseTimeout = 60 * time.Second
	}
	if opts.LeaseTimeout < 300*time.Millisecond {
		return nil, fmt.Errorf("redisq: lease timeout %v is too short (minimum 300ms)", opts.LeaseTimeout)
	}
	if opts.WorkerID == "" {
		opts.WorkerID = defaultWorkerID()
	}
	// The worker id is a field of the newline-separated lease record.
	opts.WorkerID = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return '_'
		}
		return r
	}, opts.WorkerID)
	if opts.Fingerprint == nil {
		opts.Fingerprint = scheduler.Fingerprint
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxDeliveries == 0 {
		opts.MaxDeliveries = 5
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.MaxLeases == 0 {
		opts.MaxLeases = DefaultMaxLeases
	}
	if opts.LeaseBatch <= 0 {
		opts.LeaseBatch = 16
		if opts.MaxLeases > 0 {
			opts.LeaseBatch = min(max(opts.MaxLeases/4, 1), 32)
		}
	}
	if opts.SeenCache == 0 {
		opts.SeenCache = DefaultSeenCache
	}
	prefix := KeyPrefix(opts.Client, opts.Name)
	opts.ItemsKey = ExpandKey(opts.ItemsKey, prefix)
	s := &Scheduler{
		opts: opts,
		rdb:  opts.Client,
		log:  opts.Logger.With("component", "redisq", "spider", opts.Name, "worker", opts.WorkerID),
		keys: newKeys(prefix),
		held: map[string]*Lease{},
		room: make(chan struct{}, 1),
		seen: newSeenCache(opts.SeenCache),
	}
	s.places = newPlaces(s)
	s.keys.items = opts.ItemsKey
	if opts.QueueKey != "" {
		s.keys.requests = ExpandKey(opts.QueueKey, prefix)
	}
	if opts.DupefilterKey != "" {
		s.keys.dupefilter = ExpandKey(opts.DupefilterKey, prefix)
	}
	if IsCluster(opts.Client) {
		for _, k := range []struct{ setting, key string }{
			{"SCHEDULER_QUEUE_KEY", s.keys.requests}, {"SCHEDULER_DUPEFILTER_KEY", s.keys.dupefilter}, {"REDIS_ITEMS_KEY", s.keys.items},
		} {
			if err := sameSlot(k.setting, k.key, prefix); err != nil {
				return nil, err
			}
		}
	}
	s.retry = &retryer{log: s.log, maxBackoff: opts.MaxBackoff}
	switch opts.Dupefilter {
	case "", DupefilterExact:
		s.opts.Dupefilter = DupefilterExact
	case DupefilterBloom:
		bp, err := newBloomParams(opts.BloomCapacity, opts.BloomErrorRate)
		if err != nil {
			return nil, err
		}
		s.bloom = bp
		if s.keys.dupefilter == prefix+":dupefilter" {
			s.keys.dupefilter += ":bloom"
		}
	default:
		return nil, fmt.Errorf("redisq: unknown dupefilter %q (want exact or bloom)", opts.Dupefilter)
	}
	return s, nil
}

func defaultWorkerID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "worker"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// WorkerID is this worker's id in leases and status.
func (s *Scheduler) WorkerID() string { return s.opts.WorkerID }

// Client is the Redis connection.
func (s *Scheduler) Client() redis.UniversalClient { return s.rdb }

// Open checks the server (eviction policy), flushes when FlushOnStart, records
// the worker and starts the lease heartbeat. It waits through an outage.
func (s *Scheduler) Open(ctx context.Context) error {
	s.mu.Lock()
	if s.open {
		s.mu.Unlock()
		return errors.New("redisq: scheduler already open")
	}
	s.mu.Unlock()
	if err := s.checkEviction(ctx); err != nil {
		return err
	}
	if s.opts.FlushOnStart {
		err := s.retry.do(ctx, "flush on start", func(ctx context.Context) error {
			return s.rdb.Del(ctx, s.keys.requests, s.keys.seq, s.keys.dupefilter, s.keys.leases,
				s.keys.deadlines, s.keys.stats, s.keys.activity, s.keys.starting, s.keys.prefix+":redeliveries").Err()
		})
		if err != nil {
			return err
		}
		s.log.Info("flushed queue, dupefilter, leases and stats (SCHEDULER_FLUSH_ON_START)")
	}
	if err := s.retry.do(ctx, "record config", func(ctx context.Context) error {
		return s.rdb.HSet(ctx, s.keys.prefix+":config", "max_deliveries", max(s.opts.MaxDeliveries, 0)).Err()
	}); err != nil {
		return err
	}
	if s.opts.Dupefilter == DupefilterBloom {
		err := s.retry.do(ctx, "record bloom parameters", func(ctx context.Context) error {
			return s.rdb.HSet(ctx, s.keys.stats,
				"dupefilter/bloom_capacity", s.bloom.capacity,
				"dupefilter/bloom_error_rate", strconv.FormatFloat(s.bloom.rate, 'g', -1, 64),
				"dupefilter/bloom_bits", s.bloom.m,
				"dupefilter/bloom_hashes", s.bloom.k).Err()
		})
		if err != nil {
			return err
		}
		if st := s.opts.Stats; st != nil {
			st.Set("dupefilter/bloom_capacity", s.bloom.capacity)
			st.Set("dupefilter/bloom_error_rate", s.bloom.rate)
			st.Set("dupefilter/bloom_bits", int64(s.bloom.m))
			st.Set("dupefilter/bloom_hashes", int64(s.bloom.k))
		}
	}
	if _, err := s.heartbeat(ctx); err != nil {
		return err
	}
	if s.opts.MaxLeases > 0 {
		s.log.Info("lease bound: a kill -9 of this worker makes the crawl fetch again at most this many requests", "max_leases", s.opts.MaxLeases)
		if st := s.opts.Stats; st != nil {
			st.Set("redis/max_leases", int64(s.opts.MaxLeases))
		}
	}
	hbctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.open = true
	s.stopHB = cancel
	s.hbDone = make(chan struct{})
	s.mu.Unlock()
	go s.heartbeatLoop(hbctx)
	return nil
}

// checkEviction refuses a server that may evict keys: an evicted queue or
// dupefilter loses work silently. volatile-* policies only evict keys with a
// TTL, and the backend's durable keys have none.
func (s *Scheduler) checkEviction(ctx context.Context) error {
	var info string
	err := s.retry.do(ctx, "check maxmemory-policy", func(ctx context.Context) error {
		// On a cluster, the node that holds the crawl's slot is the one
		// that must not evict.
		var node redis.Cmdable = s.rdb
		if cc, ok := s.rdb.(*redis.ClusterClient); ok {
			n, err := cc.MasterForKey(ctx, s.keys.requests)
			if err != nil {
				return err
			}
			node = n
		}
		var err error
		info, err = node.Info(ctx, "memory").Result()
		return err
	})
	if err != nil {
		return err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			if strings.HasPrefix(v, "allkeys-") {
				return fmt.Errorf("%w: redis maxmemory-policy %s may evict queue/dupefilter keys; set noeviction", ErrEvictionPolicy, v)
			}
		}
	}
	return nil
}

// Enqueue adds r to the shared queue unless the shared dupefilter has seen
// it. The dupefilter test-and-set and the queue write are one atomic step,
// so when several workers discover the same URL exactly one enqueues it.
func (s *Scheduler) Enqueue(ctx context.Context, r *crawl.Request) (bool, error) {
	if r.Local != nil {
		return false, fmt.Errorf("redisq: enqueue %s: %w (a callback must be an exported function named by string and meta must hold JSON values, not a ResultHolder)", r.URL, ErrLocalRequest)
	}
	l, _ := r.Lease.(*Lease)
	startLease := l != nil && l.s == s && l.start
	var fp [16]byte
	if !r.DontFilter {
		fp = s.opts.Fingerprint(r)
		// A start request's lease ends with its enqueue, duplicate or
		// not: that needs the script.
		if !startLease && s.seen.has(fp) {
			s.cachedDuplicate()
			return false, nil
		}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("redisq: enqueue %s: request is not serializable to JSON: %w", r.URL, err)
	}
	var leaseID, release string
	if startLease {
		leaseID = l.id
		if l.releaseOne() {
			release = "1"
		}
	}
	args := []any{boolArg(r.DontFilter), strconv.Itoa(-r.Priority), body, leaseID, s.opts.WorkerID, release}
	script := scriptEnqueueExact
	if !r.DontFilter {
		if s.opts.Dupefilter == DupefilterBloom {
			script = scriptEnqueueBloom
			for _, off := range s.bloom.offsets(fp) {
				args = append(args, off)
			}
		} else {
			args = append(args, fp[:])
		}
	}
	var added int64
	err = s.retry.do(ctx, "enqueue", func(ctx context.Context) error {
		var err error
		added, err = s.run(ctx, script, []string{s.keys.requests, s.keys.seq, s.keys.stats, s.keys.activity,
			s.keys.dupefilter, s.keys.leases, s.keys.deadlines}, args...).Int64()
		return err
	})
	if err != nil {
		return false, err
	}
	if release == "1" {
		s.forget(l)
	}
	if !r.DontFilter {
		s.seen.add(fp)
	}
	if added == 1 {
		s.noteEnqueued(r)
	}
	if st := s.opts.Stats; st != nil {
		// Scrapy's names: the total and the backend's own counter.
		if added == 1 {
			st.Inc(stats.SchedulerEnqueued, 1)
			st.Inc("scheduler/enqueued/redis", 1)
		} else {
			st.Inc(stats.DupefilterFiltered, 1)
		}
	}
	return added == 1, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Next leases the highest-priority request (FIFO within a priority) to this
// worker, or returns nil, nil when the queue is empty or the worker already
// holds Options.MaxLeases leases (the queue is then left to other workers
// until one of this worker's leases ends). The returned request carries its
// lease in Request.Lease; pass it back to Ack. One script call leases up to
// Options.LeaseBatch requests; the next calls hand out the others.
func (s *Scheduler) Next(ctx context.Context) (*crawl.Request, error) {
	if r := s.popAhead(); r != nil {
		s.countDequeued()
		return r, nil
	}
	// One lease script at a time: concurrent callers wait for its batch
	// rather than each leasing one (which would hold up to MaxLeases
	// requests nobody fetches, and find the bound reached meanwhile).
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	for {
		if r := s.popAhead(); r != nil {
			s.countDequeued()
			return r, nil
		}
		// Leases sent back (a request of higher priority was queued
		// meanwhile) free their places at once: the script returns them
		// before it leases new ones.
		stale := s.takeStale()
		for _, id := range stale {
			s.mu.Lock()
			delete(s.held, id.(string))
			s.mu.Unlock()
		}
		n := s.reserveLeases(s.opts.LeaseBatch)
		if n == 0 && len(stale) == 0 {
			if st := s.opts.Stats; st != nil {
				st.Inc("redis/lease_bound_reached", 1)
			}
			s.stuckAtBound()
			return nil, nil
		}
		var res []string
		err := s.retry.do(ctx, "lease next request", func(ctx context.Context) error {
			args := append([]any{s.opts.WorkerID, s.opts.LeaseTimeout.Milliseconds(), n}, stale...)
			v, err := s.run(ctx, scriptNext, []string{s.keys.requests, s.keys.leases, s.keys.deadlines,
				s.keys.leaseSeq, s.keys.stats, s.keys.activity}, args...).StringSlice()
			res = v
			return err
		})
		if len(stale) > 0 {
			s.freed()
		}
		if err == nil && len(res)%2 != 0 {
			err = fmt.Errorf("redisq: next: unexpected script reply %v", res)
		}
		if err != nil {
			s.unreserve(n)
			if errors.Is(err, redis.Nil) {
				return nil, nil
			}
			return nil, err
		}
		got := len(res) / 2
		s.unreserve(n - got)
		if got == 0 {
			if n == 0 {
				continue // only sent leases back: try again with their places
			}
			return nil, nil
		}
		var leased []*crawl.Request
		for i := 0; i < len(res); i += 2 {
			l := s.hold(res[i], false, 1)
			r, err := decodeMember(res[i+1])
			if err != nil {
				// Someone wrote garbage into the queue: keep it for
				// inspection in the rejected list and go on with the next
				// request.
				s.log.Error("dropping malformed queue entry", "error", err)
				s.reject(ctx, l, s.keys.requests, res[i+1], err.Error())
				continue
			}
			r.Lease = l
			leased = append(leased, r)
		}
		if len(leased) == 0 {
			continue
		}
		if len(leased) > 1 {
			s.mu.Lock()
			s.ahead = append(s.ahead, leased[1:]...)
			s.mu.Unlock()
		}
		s.countDequeued()
		return leased[0], nil
	}
}

// countPlace counts a shared concurrency place taken or reused (Gate.Hold).
func (s *Scheduler) countPlace(name string) {
	if st := s.opts.Stats; st != nil {
		st.Inc(name, 1)
	}
}

func (s *Scheduler) countDequeued() {
	if st := s.opts.Stats; st != nil {
		st.Inc(stats.SchedulerDequeued, 1)
		st.Inc("scheduler/dequeued/redis", 1)
	}
}

func decodeMember(member string) (*crawl.Request, error) {
	if len(member) < 16 {
		return nil, fmt.Errorf("queue member of %d bytes is too short", len(member))
	}
	var r crawl.Request
	if err := json.Unmarshal([]byte(member[16:]), &r); err != nil {
		return nil, fmt.Errorf("queue member is not a request: %w", err)
	}
	if r.URL == "" {
		return nil, errors.New("queue member has no url")
	}
	return &r, nil
}

// Ack commits a request returned by Next (or a start request from the task
// source): it writes the items buffered for it (see Items) and releases the
// lease, atomically, provided this worker still holds the lease. When the
// lease was lost (the worker stalled past the lease timeout) it returns an
// error wrapping ErrLeaseLost and nothing is written: the redelivered copy's
// worker writes the items. A request without a Redis lease is a no-op.
func (s *Scheduler) Ack(ctx context.Context, r *crawl.Request) error {
	l, _ := r.Lease.(*Lease)
	if l == nil || l.s != s {
		return nil
	}
	release := l.releaseOne()
	items := l.takeItems()
	if !release && len(items) == 0 {
		return nil
	}
	err := s.commit(ctx, l, release, items)
	if release {
		s.forget(l)
	}
	if err != nil {
		return fmt.Errorf("redisq: ack %s: %w", r.URL, err)
	}
	return nil
}

func (s *Scheduler) commit(ctx context.Context, l *Lease, release bool, items [][]byte) error {
	if l.isLost() {
		return fmt.Errorf("%w: lease %s expired before the ack (the request was redelivered; %d items not written)", ErrLeaseLost, l.id, len(items))
	}
	itemsKey := s.keys.items
	if itemsKey == "" {
		itemsKey, items = s.keys.prefix+":items", nil
	}
	args := make([]any, 0, 3+len(items))
	args = append(args, l.id, s.opts.WorkerID, boolArg(release))
	for _, it := range items {
		args = append(args, it)
	}
	var res int64
	err := s.retry.do(ctx, "ack", func(ctx context.Context) error {
		var err error
		res, err = s.run(ctx, scriptAck, []string{s.keys.leases, s.keys.deadlines, itemsKey, s.keys.stats,
			s.keys.activity, s.keys.prefix + ":acked:" + l.id}, args...).Int64()
		return err
	})
	if err != nil {
		return err
	}
	if res == 0 {
		s.log.Warn("late ack rejected: the lease expired and the request was redelivered", "lease", l.id, "items_discarded", len(items))
		if st := s.opts.Stats; st != nil {
			st.Inc("redis/leases_fenced", 1)
		}
		return fmt.Errorf("%w: lease %s was reclaimed (%d items not written)", ErrLeaseLost, l.id, len(items))
	}
	if st := s.opts.Stats; st != nil && len(items) > 0 {
		st.Inc("redis/items_pushed", int64(len(items)))
	}
	return nil
}

// Len is the number of pending requests in the shared queue (leased ones
// not counted).
func (s *Scheduler) Len(ctx context.Context) (int, error) {
	var n int64
	err := s.retry.do(ctx, "queue length", func(ctx context.Context) error {
		var err error
		n, err = s.rdb.ZCard(ctx, s.keys.requests).Result()
		return err
	})
	// Requests leased ahead are pending for this worker's engine.
	s.mu.Lock()
	n += int64(len(s.ahead))
	s.mu.Unlock()
	return int(n), err
}

// Close stops the heartbeat and returns every lease this worker still holds
// to its queue at once (a request that was not acknowledged was not
// processed; other workers need not wait for the lease timeout). Without
// Persist, the last worker of a finished crawl deletes the queue and
// dupefilter.
func (s *Scheduler) Close(ctx context.Context, reason string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.ahead, s.aheadStale = nil, false
	stop, done := s.stopHB, s.hbDone
	ids := make([]any, 0, len(s.held))
	for id := range s.held {
		ids = append(ids, id)
	}
	s.held = map[string]*Lease{}
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	s.places.close(ctx)
	var errs []error
	if len(ids) > 0 {
		var n int64
		err := s.retry.do(ctx, "return leases", func(ctx context.Context) error {
			var err error
			n, err = s.run(ctx, scriptRelease, []string{s.keys.leases, s.keys.deadlines, s.keys.stats, s.keys.activity},
				append([]any{s.opts.WorkerID}, ids...)...).Int64()
			return err
		})
		if err != nil {
			errs = append(errs, err)
		} else {
			s.log.Info("returned leases to the queue", "count", n, "reason", reason)
		}
	}
	if n := s.filteredLocal.Swap(0); n > 0 {
		if err := s.retry.do(ctx, "count filtered duplicates", func(ctx context.Context) error {
			return s.rdb.HIncrBy(ctx, s.keys.stats, "dupefilter/filtered", n).Err()
		}); err != nil {
			errs = append(errs, err)
		}
	}
	s.starting.Store(false)
	if err := s.retry.do(ctx, "unregister worker", func(ctx context.Context) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.HDel(ctx, s.keys.workers, s.opts.WorkerID)
			p.ZRem(ctx, s.keys.starting, s.opts.WorkerID)
			return nil
		})
		return err
	}); err != nil {
		errs = append(errs, err)
	}
	if !s.opts.Persist && (reason == "finished" || reason == "idle") {
		if err := s.flushIfDone(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flushIfDone deletes the queue and dupefilter when nothing is pending or
// leased anywhere; with work left another worker is still crawling.
func (s *Scheduler) flushIfDone(ctx context.Context) error {
	return s.retry.do(ctx, "flush on close", func(ctx context.Context) error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			q, err := tx.ZCard(ctx, s.keys.requests).Result()
			if err != nil {
				return err
			}
			l, err := tx.HLen(ctx, s.keys.leases).Result()
			if err != nil {
				return err
			}
			st, err := tx.ZCard(ctx, s.keys.starting).Result()
			if err != nil {
				return err
			}
			if q > 0 || l > 0 || st > 0 {
				s.log.Info("not flushing: other workers still have work", "queue", q, "leases", l, "starting", st)
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, s.keys.requests, s.keys.seq, s.keys.dupefilter, s.keys.leases, s.keys.deadlines, s.keys.prefix+":redeliveries")
				return nil
			})
			return err
		}, s.keys.requests, s.keys.leases, s.keys.starting)
	})
}

// reject moves an unusable entry to the rejected list and ends its lease.
func (s *Scheduler) reject(ctx context.Context, l *Lease, key, entry, reason string) {
	if len(entry) > 1024 {
		entry = entry[:1024]
	}
	rec, _ := json.Marshal(map[string]any{"key": key, "reason": reason, "entry": entry, "time": time.Now().UnixMilli(), "worker": s.opts.WorkerID})
	err := s.retry.do(ctx, "reject entry", func(ctx context.Context) error {
		return s.run(ctx, scriptReject, []string{s.keys.leases, s.keys.deadlines, s.keys.rejected, s.keys.stats},
			l.id, s.opts.WorkerID, rec).Err()
	})
	if err != nil {
		s.log.Error("could not record rejected entry", "error", err)
	}
	s.forget(l)
	if st := s.opts.Stats; st != nil {
		st.Inc("redis_tasks/rejected", 1)
	}
}

// bloomParams sizes a Bloom filter: m bits and k hash functions for n
// elements at false-positive rate p (m = -n ln p / ln²2, k = m/n ln 2).
type bloomParams struct {
	capacity int64
	rate     float64
	m        uint64
	k        int
}

func newBloomParams(n int64, p float64) (bloomParams, error) {
	if n <= 0 {
		n = 100_000_000
	}
	if p <= 0 {
		p = 0.001
	}
	if p >= 1 {
		return bloomParams{}, fmt.Errorf("redisq: bloom error rate %v must be below 1", p)
	}
	m := math.Ceil(-float64(n) * math.Log(p) / (math.Ln2 * math.Ln2))
	if m > 1<<32 {
		return bloomParams{}, fmt.Errorf("redisq: a bloom filter for %d entries at error rate %v needs %.0f bits; one redis string holds at most 2^32 bits", n, p, m)
	}
	k := int(math.Round(m / float64(n) * math.Ln2))
	k = max(k, 1)
	return bloomParams{capacity: n, rate: p, m: uint64(m), k: k}, nil
}

// offsets derives k bit positions from the 16-byte fingerprint by double
// hashing (Kirsch-Mitzenmacher): the fingerprint is already a uniform hash,
// so its two halves are two independent hashes.
func (b bloomParams) offsets(fp [16]byte) []any {
	var h1, h2 uint64
	for i := 0; i < 8; i++ {
		h1 = h1<<8 | uint64(fp[i])
		h2 = h2<<8 | uint64(fp[8+i])
	}
	h2 |= 1 // odd, so the k positions differ
	out := make([]any, b.k)
	for i := range out {
		out[i] = strconv.FormatUint((h1+uint64(i)*h2)%b.m, 10)
	}
	return out
}
