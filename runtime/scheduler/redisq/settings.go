package redisq

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the Redis scheduler's options of the settings:
// REDIS_LEASE_TIMEOUT, the lease bound (3 × CONCURRENT_REQUESTS: see
// Options.MaxLeases), SCHEDULER_PERSIST, SCHEDULER_FLUSH_ON_START,
// SCHEDULER_QUEUE_KEY, SCHEDULER_DUPEFILTER_KEY, REDIS_ITEMS_KEY and the
// duplicate filter (DUPEFILTER, DUPEFILTER_BLOOM_CAPACITY,
// DUPEFILTER_BLOOM_ERROR_RATE); New expands "{name}" in the keys. The
// client (REDIS_URL, REDIS_TLS_CA_FILE: see DialWith), the spider's name,
// stats and the logger are the caller's.
func FromSettings(v *settings.Values) Options {
	return Options{
		LeaseTimeout:   v.RedisLeaseTimeout,
		MaxLeases:      3 * max(v.ConcurrentRequests, 1),
		Persist:        v.SchedulerPersist,
		FlushOnStart:   v.SchedulerFlushOnStart,
		Dupefilter:     v.Dupefilter,
		BloomCapacity:  int64(v.DupefilterBloomCapacity),
		BloomErrorRate: v.DupefilterBloomErrorRate,
		QueueKey:       v.SchedulerQueueKey,
		DupefilterKey:  v.SchedulerDupefilterKey,
		ItemsKey:       v.RedisItemsKey,
		WaitReplicas:   v.RedisWaitReplicas,
	}
}

// DialFromSettings returns the connection options of the settings:
// REDIS_SENTINELS, REDIS_MASTER_NAME, REDIS_SENTINEL_PASSWORD and
// REDIS_CLUSTER_NODES. REDIS_URL is DialWith's first argument;
// REDIS_TLS_CA_FILE is relative to the spec, so the caller resolves it.
func DialFromSettings(v *settings.Values) DialOptions {
	return DialOptions{
		Sentinels: v.RedisSentinels, MasterName: v.RedisMasterName, SentinelPassword: v.RedisSentinelPassword,
		ClusterNodes: v.RedisClusterNodes,
	}
}

// TasksFromSettings returns the task source's options of the settings:
// the start keys' type (REDIS_START_URLS_AS_ZSET, else
// REDIS_START_URLS_AS_SET, else a list), the batch size
// (REDIS_START_URLS_BATCH_SIZE, or CONCURRENT_REQUESTS when 0) and MaxIdle
// (MAX_IDLE_TIME_BEFORE_CLOSE). The keys, the spider's hooks and the inner
// start iterator are the caller's.
func TasksFromSettings(v *settings.Values) TaskOptions {
	o := TaskOptions{Kind: KindList, BatchSize: v.RedisStartURLsBatchSize, MaxIdle: v.MaxIdleTimeBeforeClose}
	switch {
	case v.RedisStartURLsAsZSet:
		o.Kind = KindZSet
	case v.RedisStartURLsAsSet:
		o.Kind = KindSet
	}
	if o.BatchSize <= 0 {
		o.BatchSize = v.ConcurrentRequests
	}
	return o
}
