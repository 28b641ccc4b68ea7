package redisq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Start key types (REDIS_START_URLS_AS_SET / REDIS_START_URLS_AS_ZSET).
const (
	KindList = "list"
	KindSet  = "set"
	KindZSet = "zset"
)

// StartIterator is the engine's start-request iterator (engine.StartIterator).
type StartIterator interface {
	Next(ctx context.Context) (*crawl.Request, error)
}

// TaskOptions configures a TaskSource.
type TaskOptions struct {
	// Keys are the redis_key(s), highest priority first. Empty for a shared
	// crawl without redis_key: then the source only waits for the shared
	// crawl to go idle.
	Keys []string
	// Kind is the type of the keys: KindList (default), KindSet or KindZSet
	// (highest score first).
	Kind string
	// BatchSize is how many entries one fetch leases (CONCURRENT_REQUESTS;
	// default 16), never more than the worker's free lease places
	// (Options.MaxLeases): the entries read ahead count against the bound.
	// A new batch is fetched only when the engine has taken the previous
	// one (backpressure: the engine calls Next only when it has room).
	BatchSize int
	// MaxIdle is MAX_IDLE_TIME_BEFORE_CLOSE: Next returns io.EOF once there
	// has been no work anywhere (no task, no queued request, no lease held by
	// any worker) for this long. 0 waits forever for tasks when Keys is set;
	// without Keys (a shared crawl of start_urls) 0 ends as soon as no work
	// is left anywhere.
	MaxIdle time.Duration
	// MaxEntryBytes rejects larger entries (default 1 MiB).
	MaxEntryBytes int
	// MakeRequests is the spider's make_request_from_data; nil uses the
	// default decoding (a URL, or a JSON object with url, method, headers,
	// body or data, meta, cb_kwargs, callback, errback, priority,
	// dont_filter, session_id).
	MakeRequests func(ctx context.Context, data []byte) ([]*crawl.Request, error)
	// KnownCallback reports whether a callback or errback name is exported by
	// the spider; entries naming another one are rejected. nil accepts all.
	KnownCallback func(name string) bool
	// Inner is the spider's own start iterator (start_urls, start()),
	// drained first.
	Inner StartIterator
	// PollInterval caps the wait between polls of an empty queue (default
	// 1s; polling starts at 50ms and doubles).
	PollInterval time.Duration
}

// TaskSource is the RedisSpider start iterator. Next blocks until a task
// arrives, ctx ends, or the crawl has been idle for MaxIdle (then io.EOF:
// close reason "idle"). Each entry popped from a start key is leased like a
// queued request: it returns to its key if the worker dies before the
// request made from it is queued (Scheduler.Enqueue) or acknowledged
// (Scheduler.Ack).
type TaskSource struct {
	s    *Scheduler
	opts TaskOptions

	innerDone  bool
	buf        []*crawl.Request
	idleClosed bool
	// keyErr is a task key outside the crawl's cluster slot, returned by
	// the first Next.
	keyErr error
}

// IdleClosed reports whether Next ended because the crawl was idle for
// MaxIdle (the close reason is then "idle").
func (t *TaskSource) IdleClosed() bool { return t.idleClosed }

// Tasks returns a task source that leases through s.
func (s *Scheduler) Tasks(opts TaskOptions) *TaskSource {
	if opts.Kind == "" {
		opts.Kind = KindList
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 16
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 1 << 20
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	t := &TaskSource{s: s, opts: opts, innerDone: opts.Inner == nil}
	// The keys are the scripts' arguments, not KEYS: on a cluster they
	// must be in the crawl's slot, which "{name}" (the hash tag) gives.
	t.opts.Keys = make([]string, len(opts.Keys))
	for i, k := range opts.Keys {
		t.opts.Keys[i] = ExpandKey(k, s.keys.prefix)
		if IsCluster(s.rdb) && t.keyErr == nil {
			t.keyErr = sameSlot("redis_key", t.opts.Keys[i], s.keys.prefix)
		}
	}
	return t
}

// Next returns the next start request. It is not safe for concurrent use
// (the engine calls it from one goroutine).
func (t *TaskSource) Next(ctx context.Context) (*crawl.Request, error) {
	if t.keyErr != nil {
		return nil, t.keyErr
	}
	if !t.innerDone {
		// While the spider's own start requests are being queued the
		// worker is listed in the starting key, so that no other worker
		// takes the crawl for finished (and flushes it) in a gap between
		// two of them: the engine queues each start request before it asks
		// for the next, so once the inner iterator ends they are all in
		// the queue.
		if !t.s.starting.Load() {
			if err := t.s.setStarting(ctx, true); err != nil {
				return nil, err
			}
		}
		r, err := t.opts.Inner.Next(ctx)
		if err == nil && r != nil {
			return r, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		t.innerDone = true
		if err := t.s.setStarting(ctx, false); err != nil {
			return nil, err
		}
	}
	poll := 50 * time.Millisecond
	for {
		if len(t.buf) > 0 {
			r := t.buf[0]
			t.buf[0] = nil
			t.buf = t.buf[1:]
			return r, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(t.opts.Keys) > 0 {
			n, full, err := t.fetch(ctx)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				poll = 50 * time.Millisecond
				continue
			}
			if full {
				// The worker holds MaxLeases leases: read no task ahead
				// until one ends (it is not idle: it holds leases).
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-t.s.room:
				case <-time.After(t.opts.PollInterval):
				}
				continue
			}
		}
		idle, wait, err := t.idle(ctx)
		if err != nil {
			return nil, err
		}
		if idle {
			t.idleClosed = true
			t.s.log.Info("no work anywhere for MAX_IDLE_TIME_BEFORE_CLOSE; closing", "max_idle", t.opts.MaxIdle)
			return nil, io.EOF
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(poll, wait)):
		}
		poll = min(poll*2, t.opts.PollInterval)
	}
}

// IdleState is a snapshot of the shared crawl's work.
type IdleState struct {
	// Queue, Leases and Starts count queued requests, leases of any worker
	// and entries of the start keys; Starting the workers whose own start
	// requests are not all queued yet.
	Queue, Leases, Starts, Starting int64
	// Since is how long ago the last work happened (Redis clock).
	Since time.Duration
}

// Busy reports whether any work is left anywhere.
func (st IdleState) Busy() bool {
	return st.Queue > 0 || st.Leases > 0 || st.Starts > 0 || st.Starting > 0
}

// IdleState reads the shared crawl's work (reclaiming expired leases first).
func (t *TaskSource) IdleState(ctx context.Context) (IdleState, error) {
	args := []any{t.opts.Kind}
	for _, k := range t.opts.Keys {
		args = append(args, k)
	}
	var v []int64
	err := t.s.retry.do(ctx, "idle check", func(ctx context.Context) error {
		var err error
		v, err = scriptIdle.Run(ctx, t.s.rdb, []string{t.s.keys.requests, t.s.keys.leases, t.s.keys.deadlines,
			t.s.keys.activity, t.s.keys.stats, t.s.keys.starting}, args...).Int64Slice()
		return err
	})
	if err != nil {
		return IdleState{}, err
	}
	if len(v) != 5 {
		return IdleState{}, fmt.Errorf("redisq: idle check: unexpected reply %v", v)
	}
	return IdleState{Queue: v[0], Leases: v[1], Starts: v[2], Since: time.Duration(v[3]) * time.Millisecond, Starting: v[4]}, nil
}

// setStarting lists the worker in the starting key (its own start requests
// are being queued) or takes it out. A worker killed while listed stays
// there until its entry expires, a lease timeout after its last heartbeat,
// as its leases do.
func (s *Scheduler) setStarting(ctx context.Context, on bool) error {
	ttl := int64(0)
	if on {
		ttl = s.opts.LeaseTimeout.Milliseconds()
	}
	s.starting.Store(on)
	return s.retry.do(ctx, "mark start requests", func(ctx context.Context) error {
		return scriptStarting.Run(ctx, s.rdb, []string{s.keys.starting}, s.opts.WorkerID, ttl).Err()
	})
}

// idle reports whether the crawl has been idle for MaxIdle, and otherwise
// how long to wait at most before asking again: while work is left
// anywhere, busyPoll (the crawl's end is seen soon after it comes), and
// while idle, until MaxIdle is reached.
func (t *TaskSource) idle(ctx context.Context) (bool, time.Duration, error) {
	if t.opts.MaxIdle <= 0 && len(t.opts.Keys) > 0 {
		return false, t.opts.PollInterval, nil // a RedisSpider with MaxIdle 0 waits for tasks forever
	}
	st, err := t.IdleState(ctx)
	if err != nil {
		return false, 0, err
	}
	if st.Busy() {
		return false, busyPoll, nil
	}
	if st.Since >= t.opts.MaxIdle {
		return true, 0, nil
	}
	return false, max(t.opts.MaxIdle-st.Since, 10*time.Millisecond), nil
}

// busyPoll bounds the wait between idle checks while work is left: one
// small script call every busyPoll, so a worker closes at most this long
// after the crawl's last work ends (MAX_IDLE_TIME_BEFORE_CLOSE after it).
const busyPoll = 100 * time.Millisecond

// fetch leases up to BatchSize entries, no more than the worker's free
// lease places (Options.MaxLeases), and turns them into requests. It
// returns how many entries it popped, or full when the worker has no free
// place.
func (t *TaskSource) fetch(ctx context.Context) (n int, full bool, err error) {
	places := t.s.reserveLeases(t.opts.BatchSize)
	if places == 0 {
		return 0, true, nil
	}
	used := 0
	defer func() { t.s.unreserve(places - used) }()
	args := []any{t.s.opts.WorkerID, t.s.opts.LeaseTimeout.Milliseconds(), t.opts.Kind, t.opts.MaxEntryBytes, places}
	for _, k := range t.opts.Keys {
		args = append(args, k)
	}
	var res []string
	err = t.s.retry.do(ctx, "pop tasks", func(ctx context.Context) error {
		var err error
		res, err = t.s.run(ctx, scriptPopStart, []string{t.s.keys.leases, t.s.keys.deadlines, t.s.keys.leaseSeq,
			t.s.keys.activity, t.s.keys.rejected, t.s.keys.stats}, args...).StringSlice()
		return err
	})
	if err != nil {
		return 0, false, err
	}
	for i := 0; i+2 < len(res); i += 3 {
		id, entry, key := res[i], res[i+1], res[i+2]
		n++
		if id == "" {
			t.s.log.Error("rejected task entry", "key", key, "reason", entry)
			if st := t.s.opts.Stats; st != nil {
				st.Inc("redis_tasks/rejected", 1)
			}
			continue
		}
		// The lease is registered before decoding so the heartbeat renews it
		// while a slow make_request_from_data runs.
		l := t.s.hold(id, true, 1)
		used++
		reqs, err := t.decode(ctx, []byte(entry))
		if err != nil {
			t.s.log.Error("rejected task entry", "key", key, "error", err, "entry", preview(entry))
			t.s.reject(ctx, l, key, entry, err.Error())
			continue
		}
		if len(reqs) == 0 {
			// The hook chose to make nothing of this entry: it is done.
			if err := t.s.commit(ctx, l, l.releaseOne(), nil); err != nil {
				t.s.log.Warn("could not release task lease", "error", err)
			}
			t.s.forget(l)
			continue
		}
		l.mu.Lock()
		l.refs = len(reqs)
		l.mu.Unlock()
		for _, r := range reqs {
			r.Lease = l
			r.Start = true
			t.buf = append(t.buf, r)
		}
	}
	return n, false, nil
}

func preview(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func (t *TaskSource) decode(ctx context.Context, data []byte) ([]*crawl.Request, error) {
	var reqs []*crawl.Request
	var err error
	if t.opts.MakeRequests != nil {
		reqs, err = t.opts.MakeRequests(ctx, data)
		if err != nil {
			return nil, fmt.Errorf("make_request_from_data: %w", err)
		}
	} else {
		r, err := DecodeTask(data)
		if err != nil {
			return nil, err
		}
		reqs = []*crawl.Request{r}
	}
	for _, r := range reqs {
		if r == nil {
			return nil, errors.New("make_request_from_data returned a null request")
		}
		if err := checkTaskURL(r.URL); err != nil {
			return nil, err
		}
		if t.opts.KnownCallback != nil {
			for _, name := range []string{r.Callback, r.Errback} {
				if name != "" && !t.opts.KnownCallback(name) {
					return nil, fmt.Errorf("unknown callback %q (not exported by the spider)", name)
				}
			}
		}
	}
	return reqs, nil
}

// checkTaskURL accepts only absolute http(s)/ws(s) URLs: a task must never
// make a worker read local files (file://) or use another scheme.
func checkTaskURL(raw string) error {
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("task is not a URL or a JSON object (invalid or control characters)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("task url: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss":
	case "":
		return fmt.Errorf("task %q is not an absolute URL", preview(raw))
	default:
		return fmt.Errorf("task url scheme %q is not allowed (only http, https, ws, wss)", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("task url %q has no host", preview(raw))
	}
	return nil
}

// taskJSON is the JSON task format (scrapy-redis's fields plus spiderrun's
// request fields). Unknown fields are errors: a typo must not be dropped
// silently.
type taskJSON struct {
	URL        string          `json:"url"`
	Method     string          `json:"method"`
	Headers    json.RawMessage `json:"headers"`
	Body       *string         `json:"body"`
	Data       json.RawMessage `json:"data"`
	Meta       map[string]any  `json:"meta"`
	CbKwargs   map[string]any  `json:"cb_kwargs"`
	Callback   string          `json:"callback"`
	Errback    string          `json:"errback"`
	Priority   int             `json:"priority"`
	DontFilter *bool           `json:"dont_filter"`
	SessionID  string          `json:"session_id"`
}

// DecodeTask turns one task entry into a request: a bare URL, or a JSON
// object (see taskJSON). Like scrapy-redis, task requests bypass the
// dupefilter unless the entry sets "dont_filter": false.
func DecodeTask(data []byte) (*crawl.Request, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty task entry")
	}
	if trimmed[0] != '{' {
		r := &crawl.Request{URL: string(trimmed), DontFilter: true}
		return r, checkTaskURL(r.URL)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var tj taskJSON
	if err := dec.Decode(&tj); err != nil {
		return nil, fmt.Errorf("task json: %w", err)
	}
	if tj.URL == "" {
		return nil, errors.New(`task json has no "url"`)
	}
	r := &crawl.Request{
		URL: tj.URL, Method: strings.ToUpper(tj.Method), Meta: tj.Meta, CbKwargs: tj.CbKwargs,
		Callback: tj.Callback, Errback: tj.Errback, Priority: tj.Priority, DontFilter: true, SessionID: tj.SessionID,
	}
	if tj.DontFilter != nil {
		r.DontFilter = *tj.DontFilter
	}
	if err := decodeHeaders(tj.Headers, &r.Headers); err != nil {
		return nil, err
	}
	if tj.Body != nil && len(tj.Data) > 0 {
		return nil, errors.New(`task json has both "body" and "data"`)
	}
	if tj.Body != nil {
		r.Body = []byte(*tj.Body)
	}
	if len(tj.Data) > 0 {
		if err := decodeData(tj.Data, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decodeHeaders accepts {"Name": "v"}, {"Name": ["v1", "v2"]} or
// [["Name", "v"], ...]; the object form keeps its key order.
func decodeHeaders(raw json.RawMessage, h *crawl.Headers) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '[' {
		var pairs [][2]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return fmt.Errorf("task json headers: want an object or a list of [name, value] pairs: %w", err)
		}
		for _, p := range pairs {
			h.Add(p[0], p[1])
		}
		return nil
	}
	var it crawl.Item
	if err := it.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("task json headers: %w", err)
	}
	for _, f := range it.Fields {
		switch v := f.Value.(type) {
		case string:
			h.Add(f.Key, v)
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("task json headers.%s: values must be strings", f.Key)
				}
				h.Add(f.Key, s)
			}
		default:
			return fmt.Errorf("task json headers.%s: value must be a string or a list of strings", f.Key)
		}
	}
	return nil
}

// decodeData handles scrapy_cffi's data: a string is the raw body, an object
// is form-encoded in key order (and makes the default method POST).
func decodeData(raw json.RawMessage, r *crawl.Request) error {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("task json data: %w", err)
		}
		r.Body = []byte(s)
		return nil
	}
	var it crawl.Item
	if err := it.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("task json data: want a string or an object: %w", err)
	}
	var b strings.Builder
	for i, f := range it.Fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f.Key))
		b.WriteByte('=')
		switch v := f.Value.(type) {
		case string:
			b.WriteString(url.QueryEscape(v))
		case nil:
		default:
			b.WriteString(url.QueryEscape(fmt.Sprint(v)))
		}
	}
	r.Body = []byte(b.String())
	if r.Method == "" {
		r.Method = "POST"
	}
	r.Headers.SetDefault("Content-Type", "application/x-www-form-urlencoded")
	return nil
}
