package redisq

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every state change that must be atomic across workers is one Lua script:
// Redis runs a script without interleaving other commands, so "pop and
// lease", "dupefilter check and enqueue" and "check lease, push items and
// release" cannot be split by a crash or a concurrent worker. Scripts read
// the clock with TIME (one clock for all workers: no skew between machines);
// Redis 7 replicates script effects, so TIME before writes is allowed.
//
// A lease record (hash <name>:leases, field = lease id) is
//
//	worker \n kind \n key \n score \n payload
//
// where kind is "q" (a request from <name>:requests) or the type of a start
// key ("list", "set", "zset") and payload is the exact member or entry, so an
// expired or returned lease puts back precisely what was taken.
const prelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function parse_lease(rec)
  local f, p = {}, 1
  for i = 1, 4 do
    local j = string.find(rec, '\n', p, true)
    if not j then return nil end
    f[i] = string.sub(rec, p, j - 1)
    p = j + 1
  end
  f[5] = string.sub(rec, p)
  return f
end
local function return_entry(f)
  local kind, key, score, payload = f[2], f[3], f[4], f[5]
  if kind == 'q' or kind == 'zset' then
    redis.call('ZADD', key, score, payload)
  elseif kind == 'list' then
    redis.call('LPUSH', key, payload)
  elseif kind == 'set' then
    redis.call('SADD', key, payload)
  end
end
-- reclaim returns expired leases (their worker died or stalled) to where
-- they came from. Bounded per call so one script never runs long. An entry
-- whose lease expired max_deliveries times (N:config) is a poison pill that
-- kills or hangs every worker taking it: it goes to N:dead instead of
-- cycling forever.
local function reclaim(leases, deadlines, stats, now)
  local ids = redis.call('ZRANGEBYSCORE', deadlines, '-inf', now, 'LIMIT', 0, 256)
  if #ids == 0 then return 0 end
  local prefix = string.sub(leases, 1, #leases - 7)
  local maxd = tonumber(redis.call('HGET', prefix .. ':config', 'max_deliveries') or '0')
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', leases, id)
    if rec then
      local f = parse_lease(rec)
      if f then
        local dead = false
        if maxd > 0 then
          local h = redis.sha1hex(f[2] .. f[3] .. f[5])
          local n = redis.call('HINCRBY', prefix .. ':redeliveries', h, 1)
          if n >= maxd then
            redis.call('HDEL', prefix .. ':redeliveries', h)
            redis.call('RPUSH', prefix .. ':dead', cjson.encode({key = f[3], entry = f[5], time = now,
              reason = 'lease expired ' .. n .. ' times: every worker that took it died or stalled'}))
            redis.call('HINCRBY', stats, 'leases/dead', 1)
            dead = true
          end
        end
        if not dead then return_entry(f) end
      end
      redis.call('HDEL', leases, id)
      redis.call('HINCRBY', stats, 'leases/expired', 1)
    end
    redis.call('ZREM', deadlines, id)
  end
  return #ids
end
-- forget_redeliveries drops the expiry count of an entry that was processed.
local function forget_redeliveries(leases, f)
  local key = string.sub(leases, 1, #leases - 7) .. ':redeliveries'
  if redis.call('EXISTS', key) == 1 then
    redis.call('HDEL', key, redis.sha1hex(f[2] .. f[3] .. f[5]))
  end
end
`

// The "#!lua" shebang makes Redis 7 check for OOM before a script runs
// instead of at its first write, so a full server never leaves a script
// half-applied.
func newScript(body string) *redis.Script { return redis.NewScript("#!lua\n" + prelude + body) }

// enqueueBody is shared by the exact and the Bloom dupefilter; SEEN is
// replaced by the filter's test-and-set.
//
// KEYS: requests, seq, stats, activity, dupefilter, leases, deadlines
// ARGV: dont_filter, score, json, lease_id ("" = none), worker, release, bloom offsets...
const enqueueBody = `
local requests, seqkey, stats, activity, df, leases, deadlines = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now = now_ms()
local added = 0
if ARGV[1] == '1' or SEEN then
  local seq = redis.call('INCR', seqkey)
  redis.call('ZADD', requests, ARGV[2], string.format('%016x', seq) .. ARGV[3])
  redis.call('HINCRBY', stats, 'scheduler/enqueued/redis', 1)
  redis.call('SET', activity, now)
  added = 1
else
  redis.call('HINCRBY', stats, 'dupefilter/filtered', 1)
end
-- A start entry's lease ends when its request is durably queued (or found
-- to be a duplicate): last, so a failed write above leaves the lease held.
if ARGV[4] ~= '' and ARGV[6] == '1' then
  local rec = redis.call('HGET', leases, ARGV[4])
  if rec then
    local f = parse_lease(rec)
    if f and f[1] == ARGV[5] then
      redis.call('HDEL', leases, ARGV[4])
      redis.call('ZREM', deadlines, ARGV[4])
    end
  end
end
return added
`

const seenExact = `(redis.call('SADD', df, ARGV[7]) == 1)`

const seenBloomFn = `
local function bloom_seen(df)
  local all = true
  for i = 7, #ARGV do
    if redis.call('GETBIT', df, ARGV[i]) == 0 then all = false break end
  end
  if all then return false end
  for i = 7, #ARGV do redis.call('SETBIT', df, ARGV[i], 1) end
  return true
end
`

var (
	scriptEnqueueExact = newScript(strings.Replace(enqueueBody, "SEEN", seenExact, 1))
	scriptEnqueueBloom = newScript(seenBloomFn + strings.Replace(enqueueBody, "SEEN", "bloom_seen(df)", 1))
)

// scriptNext first returns the leases the worker sends back (requests it
// leased ahead, when one of higher priority was queued meanwhile: they go
// back to their exact place), reclaims expired leases, then pops up to n
// of the best requests and leases each to the worker.
//
// KEYS: requests, leases, deadlines, leaseseq, stats, activity
// ARGV: worker, ttl_ms, n, ids to send back...
// Returns a flat list: id, member for each leased request.
var scriptNext = newScript(`
local requests, leases, deadlines, leaseseq, stats, activity = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = now_ms()
local back = 0
for i = 4, #ARGV do
  local rec = redis.call('HGET', leases, ARGV[i])
  local f = rec and parse_lease(rec)
  if f and f[1] == ARGV[1] then
    return_entry(f)
    redis.call('HDEL', leases, ARGV[i])
    redis.call('ZREM', deadlines, ARGV[i])
    back = back + 1
  end
end
if back > 0 then
  redis.call('HINCRBY', stats, 'leases/returned', back)
end
reclaim(leases, deadlines, stats, now)
local n = tonumber(ARGV[3])
if n < 1 then return {} end
local r = redis.call('ZPOPMIN', requests, n)
local cnt = #r / 2
if cnt == 0 then return {} end
local last = redis.call('INCRBY', leaseseq, cnt)
local out, hs, zs = {}, {}, {}
for j = 1, cnt do
  local id = tostring(last - cnt + j)
  local member, score = r[2 * j - 1], r[2 * j]
  hs[#hs + 1] = id
  hs[#hs + 1] = ARGV[1] .. '\nq\n' .. requests .. '\n' .. score .. '\n' .. member
  zs[#zs + 1] = now + tonumber(ARGV[2])
  zs[#zs + 1] = id
  out[#out + 1] = id
  out[#out + 1] = member
end
redis.call('HSET', leases, unpack(hs))
redis.call('ZADD', deadlines, unpack(zs))
redis.call('HINCRBY', stats, 'scheduler/dequeued/redis', cnt)
redis.call('SET', activity, now)
return out
`)

// enqueueBatchTail queues the requests of a batch that passed the
// dupefilter (add: their indexes, in order) with consecutive sequence
// numbers, so they come out in the order they were emitted, and updates
// the counters. at(r) is the ARGV index of request r's first field.
const enqueueBatchTail = `
local function queue_batch(requests, seqkey, stats, activity, add, at, filtered, now)
  if #add > 0 then
    local last = redis.call('INCRBY', seqkey, #add)
    local first = last - #add
    local zargs = {}
    for j, r in ipairs(add) do
      local b = at(r)
      zargs[#zargs + 1] = ARGV[b + 1]
      zargs[#zargs + 1] = string.format('%016x', first + j) .. ARGV[b + 2]
    end
    redis.call('ZADD', requests, unpack(zargs))
    redis.call('HINCRBY', stats, 'scheduler/enqueued/redis', #add)
    redis.call('SET', activity, now)
  end
  if filtered > 0 then
    redis.call('HINCRBY', stats, 'dupefilter/filtered', filtered)
  end
end
`

// scriptEnqueueBatchExact is the exact dupefilter's enqueue of a batch:
// one SMISMEMBER finds the fingerprints already seen, one SADD records the
// new ones, so the test-and-set and the queue writes of the whole batch
// are one atomic step. A fingerprint twice in the batch is queued once.
//
// KEYS: requests, seq, stats, activity, dupefilter
// ARGV: filtered (duplicates the worker's cache dropped, for the counter),
// then per request: dont_filter, score, json, fingerprint
// Returns 1 (queued) or 0 (duplicate) per request.
var scriptEnqueueBatchExact = newScript(enqueueBatchTail + `
local requests, seqkey, stats, activity, df = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = now_ms()
local filtered = tonumber(ARGV[1])
local n = (#ARGV - 1) / 4
local function at(r) return 2 + (r - 1) * 4 end
local fps, idx = {}, {}
for r = 1, n do
  local b = at(r)
  if ARGV[b] ~= '1' then
    fps[#fps + 1] = ARGV[b + 3]
    idx[#idx + 1] = r
  end
end
local present = {}
if #fps > 0 then
  local m = redis.call('SMISMEMBER', df, unpack(fps))
  for j = 1, #fps do present[idx[j]] = (m[j] == 1) end
end
local out, add, new, inbatch = {}, {}, {}, {}
for r = 1, n do
  local b = at(r)
  local ok = ARGV[b] == '1'
  if not ok and not present[r] and not inbatch[ARGV[b + 3]] then
    ok = true
    inbatch[ARGV[b + 3]] = true
    new[#new + 1] = ARGV[b + 3]
  end
  if ok then
    add[#add + 1] = r
    out[r] = 1
  else
    out[r] = 0
    filtered = filtered + 1
  end
end
if #new > 0 then
  redis.call('SADD', df, unpack(new))
end
queue_batch(requests, seqkey, stats, activity, add, at, filtered, now)
return out
`)

// scriptEnqueueBatchBloom is the same over the Bloom filter: each request's
// k bits are tested and set in turn (a later request of the batch sees the
// bits of an earlier one).
//
// KEYS: requests, seq, stats, activity, dupefilter
// ARGV: filtered, k, then per request: dont_filter, score, json, k offsets
var scriptEnqueueBatchBloom = newScript(enqueueBatchTail + `
local requests, seqkey, stats, activity, df = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = now_ms()
local filtered, k = tonumber(ARGV[1]), tonumber(ARGV[2])
local per = 3 + k
local n = (#ARGV - 2) / per
local function at(r) return 3 + (r - 1) * per end
local out, add = {}, {}
for r = 1, n do
  local b = at(r)
  local ok = ARGV[b] == '1'
  if not ok then
    for i = b + 3, b + 2 + k do
      if redis.call('GETBIT', df, ARGV[i]) == 0 then ok = true break end
    end
    if ok then
      for i = b + 3, b + 2 + k do redis.call('SETBIT', df, ARGV[i], 1) end
    end
  end
  if ok then
    add[#add + 1] = r
    out[r] = 1
  else
    out[r] = 0
    filtered = filtered + 1
  end
end
queue_batch(requests, seqkey, stats, activity, add, at, filtered, now)
return out
`)

// scriptAckBatch is scriptAck for many leases of one worker (a group
// commit): each lease is checked, its items pushed and the lease released
// on its own, exactly as scriptAck does, and the result of each returned.
// A batch retried after a lost reply is recognised by its batch id, whose
// marker holds the first run's results: one marker a batch rather than
// one a lease (issue 20: a SET per page).
//
// KEYS: leases, deadlines, items, stats, activity
// ARGV: worker, batch id, then per lease: id, release, n items, items...
// Returns per lease 1 committed, 2 already committed, 0 fenced.
var scriptAckBatch = newScript(`
local leases, deadlines, items, stats, activity = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix = string.sub(leases, 1, #leases - 7)
local bmark = prefix .. ':ackbatch:' .. ARGV[2]
local prev = redis.call('GET', bmark)
if prev then return cjson.decode(prev) end
local redeliv = redis.call('EXISTS', prefix .. ':redeliveries') == 1
local out, pushed, gone, fenced = {}, 0, {}, 0
local i = 3
while i <= #ARGV do
  local id, release, ni = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local rec = redis.call('HGET', leases, id)
  local f = rec and parse_lease(rec)
  local res = 1
  if not rec then
    if redis.call('EXISTS', prefix .. ':acked:' .. id) == 1 then res = 2 else res = 0 end
  elseif not f or f[1] ~= ARGV[1] then
    res = 0
  else
    if ni > 0 then
      redis.call('RPUSH', items, unpack(ARGV, i + 3, i + 2 + ni))
      pushed = pushed + ni
    end
    if release == '1' then
      if redeliv then
        redis.call('HDEL', prefix .. ':redeliveries', redis.sha1hex(f[2] .. f[3] .. f[5]))
      end
      gone[#gone + 1] = id
    end
  end
  if res == 0 then fenced = fenced + 1 end
  out[#out + 1] = res
  i = i + 3 + ni
end
if #gone > 0 then
  redis.call('HDEL', leases, unpack(gone))
  redis.call('ZREM', deadlines, unpack(gone))
end
if pushed > 0 then
  redis.call('HINCRBY', stats, 'item_scraped_count/redis', pushed)
end
if fenced > 0 then
  redis.call('HINCRBY', stats, 'leases/fenced', fenced)
end
redis.call('SET', activity, now_ms())
redis.call('SET', bmark, cjson.encode(out), 'PX', 600000)
return out
`)

// scriptAck commits a lease: it checks that the worker still holds it
// (fencing: a lease that expired and was handed to another worker is gone,
// so a stalled worker's late ack changes nothing), pushes the items the
// request produced, and releases the lease, all at once. An ack whose reply
// was lost and is retried finds the short-lived ack marker instead.
//
// KEYS: leases, deadlines, items, stats, activity, ackmark
// ARGV: id, worker, release, items...
// Returns 1 committed, 2 already committed, 0 fenced (lease lost).
var scriptAck = newScript(`
local leases, deadlines, items, stats, activity, mark = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local rec = redis.call('HGET', leases, ARGV[1])
if not rec then
  if redis.call('EXISTS', mark) == 1 then return 2 end
  redis.call('HINCRBY', stats, 'leases/fenced', 1)
  return 0
end
local f = parse_lease(rec)
if not f or f[1] ~= ARGV[2] then
  redis.call('HINCRBY', stats, 'leases/fenced', 1)
  return 0
end
if #ARGV > 3 then
  for i = 4, #ARGV do redis.call('RPUSH', items, ARGV[i]) end
  redis.call('HINCRBY', stats, 'item_scraped_count/redis', #ARGV - 3)
end
if ARGV[3] == '1' then
  forget_redeliveries(leases, f)
  redis.call('HDEL', leases, ARGV[1])
  redis.call('ZREM', deadlines, ARGV[1])
  redis.call('SET', mark, '1', 'PX', 600000)
end
redis.call('SET', activity, now_ms())
return 1
`)

// scriptHeartbeat records the worker as alive, reclaims expired leases of
// any worker, extends the worker's own leases and, while its own start
// requests are not all queued (starting = 1), its entry in the starting
// key. It returns the ids the worker no longer holds (they expired while it
// was stalled).
//
// KEYS: leases, deadlines, workers, stats, starting
// ARGV: worker, ttl_ms, starting (0 or 1), ids...
var scriptHeartbeat = newScript(`
local leases, deadlines, workers, stats, starting = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = now_ms()
redis.call('HSET', workers, ARGV[1], now)
reclaim(leases, deadlines, stats, now)
if ARGV[3] == '1' then
  -- XX: only an entry setStarting made; a beat that read the flag just
  -- before the worker's start requests ended must not bring it back.
  redis.call('ZADD', starting, 'XX', now + tonumber(ARGV[2]), ARGV[1])
end
local lost = {}
for i = 4, #ARGV do
  local rec = redis.call('HGET', leases, ARGV[i])
  local f = rec and parse_lease(rec)
  if f and f[1] == ARGV[1] then
    redis.call('ZADD', deadlines, now + tonumber(ARGV[2]), ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`)

// scriptRelease returns the worker's leases to their queues at once (a
// graceful shutdown must not make others wait for the visibility timeout).
//
// KEYS: leases, deadlines, stats, activity
// ARGV: worker, ids...
var scriptRelease = newScript(`
local leases, deadlines, stats, activity = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = 0
for i = 2, #ARGV do
  local rec = redis.call('HGET', leases, ARGV[i])
  local f = rec and parse_lease(rec)
  if f and f[1] == ARGV[1] then
    return_entry(f)
    redis.call('HDEL', leases, ARGV[i])
    n = n + 1
  end
  redis.call('ZREM', deadlines, ARGV[i])
end
if n > 0 then
  redis.call('HINCRBY', stats, 'leases/returned', n)
  redis.call('SET', activity, now_ms())
end
return n
`)

// scriptPopStart pops up to n entries from the start keys, in key order,
// leasing each one. Entries over the size limit never leave Redis whole: a
// truncated copy goes to the rejected list with the reason.
//
// KEYS: leases, deadlines, leaseseq, activity, rejected, stats
// ARGV: worker, ttl_ms, kind, max_bytes, n, start keys...
// Returns a flat list: id, entry, key for each leased entry ("" id for a
// rejected one, whose entry field is the reason).
var scriptPopStart = newScript(`
local leases, deadlines, leaseseq, activity, rejected, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local worker, ttl, kind, maxb, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
reclaim(leases, deadlines, stats, now)
local out, got = {}, 0
for k = 6, #ARGV do
  local key = ARGV[k]
  while got < n do
    local e, score = nil, '0'
    if kind == 'list' then
      e = redis.call('LPOP', key)
    elseif kind == 'set' then
      e = redis.call('SPOP', key)
    else
      local z = redis.call('ZPOPMAX', key)
      if #z > 0 then e, score = z[1], z[2] end
    end
    if not e then break end
    got = got + 1
    if #e > maxb then
      local reason = 'entry of ' .. #e .. ' bytes exceeds the limit of ' .. maxb .. ' bytes'
      redis.call('RPUSH', rejected, cjson.encode({key = key, reason = reason, entry = string.sub(e, 1, 1024), time = now}))
      redis.call('HINCRBY', stats, 'redis_tasks/rejected', 1)
      out[#out + 1] = ''
      out[#out + 1] = reason
      out[#out + 1] = key
    else
      local id = tostring(redis.call('INCR', leaseseq))
      redis.call('HSET', leases, id, worker .. '\n' .. kind .. '\n' .. key .. '\n' .. score .. '\n' .. e)
      redis.call('ZADD', deadlines, now + ttl, id)
      out[#out + 1] = id
      out[#out + 1] = e
      out[#out + 1] = key
    end
  end
end
if got > 0 then
  redis.call('SET', activity, now)
  redis.call('HINCRBY', stats, 'redis_tasks/popped', got)
end
return out
`)

// scriptReject records a task entry that could not be turned into requests
// and ends its lease (retrying a malformed entry would fail forever).
//
// KEYS: leases, deadlines, rejected, stats
// ARGV: id, worker, record
var scriptReject = newScript(`
local leases, deadlines, rejected, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local rec = redis.call('HGET', leases, ARGV[1])
local f = rec and parse_lease(rec)
if f and f[1] == ARGV[2] then
  redis.call('HDEL', leases, ARGV[1])
  redis.call('ZREM', deadlines, ARGV[1])
end
redis.call('RPUSH', rejected, ARGV[3])
redis.call('HINCRBY', stats, 'redis_tasks/rejected', 1)
return 1
`)

// scriptIdle reports whether there is work anywhere: pending requests,
// leases held by any worker, start entries, workers still queuing their
// own start requests; and how long ago the last work happened (server
// clock). Expired leases are reclaimed first, and the starting entries of
// workers whose heartbeat stopped dropped, so a dead worker does not keep
// the crawl open forever.
//
// KEYS: requests, leases, deadlines, activity, stats, starting
// ARGV: kind, start keys...
var scriptIdle = newScript(`
local requests, leases, deadlines, activity, stats, starting = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = now_ms()
reclaim(leases, deadlines, stats, now)
redis.call('ZREMRANGEBYSCORE', starting, '-inf', now)
local starts = 0
for k = 2, #ARGV do
  if ARGV[1] == 'list' then
    starts = starts + redis.call('LLEN', ARGV[k])
  elseif ARGV[1] == 'set' then
    starts = starts + redis.call('SCARD', ARGV[k])
  else
    starts = starts + redis.call('ZCARD', ARGV[k])
  end
end
local last = tonumber(redis.call('GET', activity) or '0')
if last == 0 then
  redis.call('SET', activity, now)
  last = now
end
return {redis.call('ZCARD', requests), redis.call('HLEN', leases), starts, now - last, redis.call('ZCARD', starting)}
`)

// scriptStarting adds the worker to the starting key until the lease
// timeout (its heartbeat extends it), or removes it.
//
// KEYS: starting
// ARGV: worker, ttl_ms (0 removes)
var scriptStarting = newScript(`
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now_ms() + ttl, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
`)

// scriptGate is the shared politeness gate: one "next allowed" time per
// slot. It grants the slot when the time has come (and moves it delay
// ahead), or returns how many milliseconds to wait.
//
// KEYS: slot key
// ARGV: delay_ms
var scriptGate = newScript(`
local now = now_ms()
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= nxt then
  local d = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], now + d, 'PX', d + 60000)
  return 0
end
return nxt - now
`)

// scriptHold takes one of limit concurrent places on a slot, shared by all
// workers. Holders are members of a zset scored by their expiry, so a place
// held by a dead worker frees itself.
//
// KEYS: holders zset
// ARGV: token, limit, ttl_ms
// Returns 0 when taken, else the ms until the earliest holder expires
// (capped by the caller: a release usually comes sooner).
//
// Expired holders are purged only when the count reaches the limit: below
// it they change nothing, and the key expires with its newest holder
// anyway. So a place taken below the limit costs 5 commands, not 6 (issue
// 20: this script runs for every download of a Redis crawl).
var scriptHold = newScript(`
local now = now_ms()
local limit = tonumber(ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  n = n - redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
if n < limit then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 60000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
`)
