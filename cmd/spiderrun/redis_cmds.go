package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// redisTarget is what push and status need from a spec: the Redis server,
// the spider's keys and the task keys' type.
type redisTarget struct {
	spec     *dsl.Spec
	v        settings.Values
	url      string
	keys     []string // task keys, highest priority first
	kind     string
	itemsKey string
	prefix   string // what {name} expands to (redisq.PrefixFor)
}

// loadRedisTarget loads SPEC, applies -s overrides and resolves the keys.
// Spec errors (file:line:col: message) are a usage error.
func loadRedisTarget(path string, overrides []string) (*redisTarget, error) {
	spec, err := dsl.Load(path)
	if err != nil {
		return nil, usageErr(err)
	}
	set := spec.Settings
	if err := applySettings(set, overrides); err != nil {
		return nil, err
	}
	v := spiderrun.ResolveSettings(set)
	mode, err := redisq.DialFromSettings(&v).Mode()
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", path, err))
	}
	prefix := redisq.PrefixFor(mode, spec.Name)
	t := &redisTarget{prefix: prefix, spec: spec, v: v, url: v.RedisURL, kind: redisq.TasksFromSettings(&v).Kind,
		itemsKey: v.RedisItemsKey}
	for _, k := range spec.RedisKeys {
		t.keys = append(t.keys, redisq.ExpandKey(k, prefix))
	}
	if len(t.keys) == 0 {
		t.keys = []string{redisq.ExpandKey(v.RedisStartURLsKey, prefix)}
	}
	return t, nil
}

// dial connects and checks the server answers, so a wrong REDIS_URL is one
// clear error rather than a hang. The URL is shown without its password.
func (t *redisTarget) dial(ctx context.Context) (redis.UniversalClient, error) {
	rdb, err := spiderrun.DialRedis(t.spec)
	if err != nil {
		return nil, usageErr(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, failErr(fmt.Errorf("redis %s: %w", weburl.Redact(t.url), err))
	}
	return rdb, nil
}
