package redisq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func TestDecodeTask(t *testing.T) {
	cases := []struct {
		name  string
		entry string
		want  string // fmt of the interesting fields, or "error: substring"
	}{
		{"url", "http://a.test/x", "GET http://a.test/x dont_filter=true body= headers=[] meta=map[]"},
		{"url with spaces around", "  https://a.test/x\n", "GET https://a.test/x dont_filter=true body= headers=[] meta=map[]"},
		{"json minimal", `{"url":"http://a.test/j"}`, "GET http://a.test/j dont_filter=true body= headers=[] meta=map[]"},
		{"json full", `{"url":"http://a.test/p","method":"post","headers":{"X-B":"2","X-A":["1","3"]},"body":"raw","meta":{"k":1},"callback":"parse_item","priority":3,"dont_filter":false}`,
			"POST http://a.test/p dont_filter=false body=raw headers=[{X-B 2} {X-A 1} {X-A 3}] meta=map[k:1]"},
		{"json form data", `{"url":"http://a.test/f","data":{"q":"a b","page":2}}`,
			"POST http://a.test/f dont_filter=true body=q=a+b&page=2 headers=[{Content-Type application/x-www-form-urlencoded}] meta=map[]"},
		{"json data string", `{"url":"http://a.test/f","method":"PUT","data":"{\"a\":1}"}`, `PUT http://a.test/f dont_filter=true body={"a":1} headers=[] meta=map[]`},
		{"json header pairs", `{"url":"http://a.test/h","headers":[["B","1"],["A","2"]]}`, "GET http://a.test/h dont_filter=true body= headers=[{B 1} {A 2}] meta=map[]"},
		{"unknown field", `{"url":"http://a.test/","calback":"x"}`, `error: unknown field "calback"`},
		{"no url", `{"meta":{}}`, `error: task json has no "url"`},
		{"body and data", `{"url":"http://a.test/","body":"a","data":"b"}`, `error: both "body" and "data"`},
		{"file url", "file:///etc/passwd", `error: scheme "file" is not allowed`},
		{"relative", "/path/only", "error: not an absolute URL"},
		{"random bytes", "\x00\x9f\xff\x01garbage", "error: invalid or control characters"},
		{"empty", "   ", "error: empty task entry"},
		{"bad json", `{"url":`, "error: task json"},
		{"header value not string", `{"url":"http://a.test/","headers":{"X":1}}`, "error: headers.X: value must be a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeTask([]byte(c.entry))
			if msg, ok := strings.CutPrefix(c.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), msg) {
					t.Fatalf("err = %v, want it to contain %q", err, msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeTask: %v", err)
			}
			got := fmt.Sprintf("%s %s dont_filter=%v body=%s headers=%v meta=%v", r.GetMethod(), r.URL, r.DontFilter, r.Body, []crawl.Header(r.Headers), r.Meta)
			if got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func nextWithin(t *testing.T, ts *TaskSource, d time.Duration) (*crawl.Request, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return ts.Next(ctx)
}

func TestTaskKinds(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := newClient(t, srv)
	cases := []struct {
		kind string
		seed func(key string)
		want []string
	}{
		{KindList, func(k string) { c.RPush(ctx, k, "http://a.test/1", "http://a.test/2", "http://a.test/3") },
			[]string{"http://a.test/1", "http://a.test/2", "http://a.test/3"}},
		{KindZSet, func(k string) {
			c.ZAdd(ctx, k, rz(1, "http://a.test/low"), rz(9, "http://a.test/high"), rz(5, "http://a.test/mid"))
		}, []string{"http://a.test/high", "http://a.test/mid", "http://a.test/low"}},
		{KindSet, func(k string) { c.SAdd(ctx, k, "http://a.test/only") }, []string{"http://a.test/only"}},
	}
	for _, cs := range cases {
		t.Run(cs.kind, func(t *testing.T) {
			name := "kinds-" + cs.kind
			s, _ := openSched(t, srv, Options{Name: name, Persist: true})
			key := name + ":start_urls"
			cs.seed(key)
			ts := s.Tasks(TaskOptions{Keys: []string{key}, Kind: cs.kind, MaxIdle: 200 * time.Millisecond})
			var got []string
			for {
				r, err := nextWithin(t, ts, 10*time.Second)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if !r.Start || !r.DontFilter {
					t.Fatalf("task request start=%v dont_filter=%v, want both true", r.Start, r.DontFilter)
				}
				got = append(got, r.URL)
				if err := s.Ack(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(cs.want) {
				t.Fatalf("got %v, want %v", got, cs.want)
			}
		})
	}
}

func TestTaskKeysInPriorityOrder(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "prio", Persist: true})
	c := s.Client()
	c.RPush(ctx, "prio:low", "http://a.test/l1", "http://a.test/l2")
	c.RPush(ctx, "prio:high", "http://a.test/h1")
	ts := s.Tasks(TaskOptions{Keys: []string{"prio:high", "prio:low"}, BatchSize: 1, MaxIdle: 100 * time.Millisecond})
	var got []string
	for {
		r, err := nextWithin(t, ts, 10*time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.URL)
		_ = s.Ack(ctx, r)
		if len(got) == 1 {
			// Work arriving on the higher-priority key is taken first.
			c.RPush(ctx, "prio:high", "http://a.test/h2")
		}
	}
	want := "[http://a.test/h1 http://a.test/h2 http://a.test/l1 http://a.test/l2]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// Batches are sized by BatchSize and fetched only when the previous batch
// was taken: entries stay in Redis (visible to other workers) meanwhile.
func TestTaskBatchBackpressure(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "batch", Persist: true})
	c := s.Client()
	for i := range 10 {
		c.RPush(ctx, "batch:start_urls", fmt.Sprintf("http://a.test/%d", i))
	}
	ts := s.Tasks(TaskOptions{Keys: []string{"batch:start_urls"}, BatchSize: 4})
	if _, err := nextWithin(t, ts, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := c.LLen(ctx, "batch:start_urls").Val(); n != 6 {
		t.Fatalf("after one Next %d entries remain, want 6 (one batch of 4 leased)", n)
	}
	if n := c.HLen(ctx, "batch:leases").Val(); n != 4 {
		t.Fatalf("leases = %d, want 4", n)
	}
	for range 3 {
		if _, err := nextWithin(t, ts, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.LLen(ctx, "batch:start_urls").Val(); n != 6 {
		t.Fatalf("a new batch was fetched before the engine took the last one: %d remain", n)
	}
}

func TestTaskWaitsForWorkThenIdleCloses(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "wait", Persist: true})
	ts := s.Tasks(TaskOptions{Keys: []string{"wait:start_urls"}, MaxIdle: 1500 * time.Millisecond, PollInterval: 100 * time.Millisecond})
	go func() {
		time.Sleep(300 * time.Millisecond) // the task comes late: the behaviour under test
		_, _ = Push(ctx, newClient(t, srv), "wait:start_urls", KindList, [][]byte{[]byte(`{"url":"http://a.test/late"}`)})
	}()
	r, err := nextWithin(t, ts, 10*time.Second)
	if err != nil || r.URL != "http://a.test/late" {
		t.Fatalf("Next = %v, %v; want the task pushed while waiting", r, err)
	}
	if err := s.Ack(ctx, r); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = nextWithin(t, ts, 20*time.Second)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Next after the work ran out = %v, want io.EOF (idle close)", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("closed after %v, before MAX_IDLE_TIME_BEFORE_CLOSE", waited)
	}
}

func TestTaskZeroIdleWaitsForever(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "forever"})
	ts := s.Tasks(TaskOptions{Keys: []string{"forever:start_urls"}, PollInterval: 50 * time.Millisecond})
	_, err := nextWithin(t, ts, 700*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want to still be waiting when ctx ends", err)
	}
}

// X07: no worker declares the crawl idle while another worker still holds a
// lease (its slow page may yield more work).
func TestIdleWaitsForOtherWorkersLeases(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "x07", Persist: true})
	b, _ := openSched(t, srv, Options{Name: "x07", Persist: true})
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/slow"})
	slow, _ := a.Next(ctx)
	ts := b.Tasks(TaskOptions{MaxIdle: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := nextWithin(t, ts, 30*time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("B closed (%v) while A held a lease", err)
	case <-time.After(800 * time.Millisecond):
	}
	// A's slow page yields a link, then A acks; B must keep waiting until
	// that request is done too.
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/more"})
	if err := a.Ack(ctx, slow); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("B closed (%v) with a request still queued", err)
	case <-time.After(600 * time.Millisecond):
	}
	more, _ := a.Next(ctx)
	if more == nil {
		t.Fatal("queued request missing")
	}
	_ = a.Ack(ctx, more)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("B = %v, want io.EOF once nothing is left anywhere", err)
	}
}

// X10: hostile entries are rejected with a logged error and recorded in
// <name>:rejected; the worker goes on with the next entry.
func TestHostileTaskEntries(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, lb := openSched(t, srv, Options{Name: "hostile", Persist: true})
	c := s.Client()
	huge := bytes.Repeat([]byte("A"), 100<<20) // 100 MB
	entries := [][]byte{
		{0x00, 0x9f, 0xff, 0x10, 0x80},
		huge,
		[]byte(`{"url":"http://a.test/x","evil":"__proto__"}`),
		[]byte(`{"url":"http://a.test/x","callback":"no_such_callback"}`),
		[]byte("file:///etc/passwd"),
		[]byte("http://a.test/good"),
	}
	if _, err := Push(ctx, c, "hostile:start_urls", KindList, entries); err != nil {
		t.Fatal(err)
	}
	huge = nil
	ts := s.Tasks(TaskOptions{Keys: []string{"hostile:start_urls"}, MaxIdle: 200 * time.Millisecond,
		KnownCallback: func(name string) bool { return name == "parse" }})
	r, err := nextWithin(t, ts, 20*time.Second)
	if err != nil || r.URL != "http://a.test/good" {
		t.Fatalf("Next = %v, %v; want the good entry after the hostile ones", r, err)
	}
	_ = s.Ack(ctx, r)
	rej := c.LRange(ctx, "hostile:rejected", 0, -1).Val()
	if len(rej) != 5 {
		t.Fatalf("rejected = %d entries, want 5:\n%v", len(rej), rej)
	}
	// Oversized entries are rejected inside the pop script (they never leave
	// Redis whole), the others after decoding: match reasons in any order.
	wantReasons := map[string]string{
		"invalid or control characters": "invalid or control characters", "bytes exceeds the limit": "bytes exceeds the limit",
		`unknown field "evil"`: "evil", `unknown callback "no_such_callback"`: "no_such_callback", `scheme "file" is not allowed`: "not allowed",
	}
	var reasons []string
	for i, raw := range rej {
		var rec struct{ Reason, Entry string }
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			t.Fatalf("rejected[%d] = %q: %v", i, raw, err)
		}
		if len(rec.Entry) > 1024 {
			t.Errorf("rejected[%d] keeps %d bytes of the entry, want at most 1024", i, len(rec.Entry))
		}
		reasons = append(reasons, rec.Reason)
	}
	for want, inLog := range wantReasons {
		found := false
		for _, r := range reasons {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("no rejected entry with reason %q in %q", want, reasons)
		}
		if !strings.Contains(lb.String(), inLog) {
			t.Errorf("log does not mention %q", inLog)
		}
	}
	if n := c.HLen(ctx, "hostile:leases").Val(); n != 0 {
		t.Fatalf("rejected entries left %d leases", n)
	}
}

// make_request_from_data: the hook turns one entry into several requests;
// the entry's lease ends only when the last of them is done.
func TestMakeRequestFromDataHook(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "hook", Persist: true})
	c := s.Client()
	c.RPush(ctx, "hook:start_urls", "id=7", "fail")
	hook := func(ctx context.Context, data []byte) ([]*crawl.Request, error) {
		if string(data) == "fail" {
			return nil, errors.New("bad task")
		}
		id := strings.TrimPrefix(string(data), "id=")
		return []*crawl.Request{
			{URL: "http://a.test/item/" + id, Callback: "parse"},
			{URL: "http://a.test/reviews/" + id, Callback: "parse"},
		}, nil
	}
	ts := s.Tasks(TaskOptions{Keys: []string{"hook:start_urls"}, MakeRequests: hook, MaxIdle: 200 * time.Millisecond})
	r1, err := nextWithin(t, ts, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := nextWithin(t, ts, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r1.URL != "http://a.test/item/7" || r2.URL != "http://a.test/reviews/7" {
		t.Fatalf("got %s, %s", r1.URL, r2.URL)
	}
	if err := s.Ack(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if n := c.HLen(ctx, "hook:leases").Val(); n != 1 {
		t.Fatalf("leases after the first of two requests = %d, want 1", n)
	}
	// The second request is queued rather than fetched directly: queueing it
	// ends the entry's lease (the queue now holds the work durably).
	if ok, err := s.Enqueue(ctx, r2); err != nil || !ok {
		t.Fatalf("Enqueue = %v, %v", ok, err)
	}
	if n := c.HLen(ctx, "hook:leases").Val(); n != 0 {
		t.Fatalf("leases after the last request = %d, want 0", n)
	}
	if v := c.LRange(ctx, "hook:rejected", 0, -1).Val(); len(v) != 1 || !strings.Contains(v[0], "make_request_from_data: bad task") {
		t.Fatalf("rejected = %v", v)
	}
}

// A worker that dies holding task entries gives them back: after the lease
// timeout they are in the start key again.
func TestCrashedWorkerTaskEntriesReturn(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "tcrash", LeaseTimeout: 500 * time.Millisecond, Persist: true})
	b, _ := openSched(t, srv, Options{Name: "tcrash", LeaseTimeout: 500 * time.Millisecond, Persist: true})
	c := a.Client()
	c.RPush(ctx, "tcrash:start_urls", "http://a.test/1", "http://a.test/2")
	ta := a.Tasks(TaskOptions{Keys: []string{"tcrash:start_urls"}, BatchSize: 2})
	if _, err := nextWithin(t, ta, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	a.crash()
	tb := b.Tasks(TaskOptions{Keys: []string{"tcrash:start_urls"}, BatchSize: 2, MaxIdle: 300 * time.Millisecond, PollInterval: 100 * time.Millisecond})
	var got []string
	for {
		r, err := nextWithin(t, tb, 20*time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.URL)
		_ = b.Ack(ctx, r)
	}
	if len(got) != 2 {
		t.Fatalf("B got %v, want both entries back", got)
	}
}

func TestShutdownReturnsTaskEntries(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "tshut", Persist: true})
	c := a.Client()
	c.RPush(ctx, "tshut:start_urls", "http://a.test/1", "http://a.test/2", "http://a.test/3")
	ta := a.Tasks(TaskOptions{Keys: []string{"tshut:start_urls"}, BatchSize: 2})
	if _, err := nextWithin(t, ta, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx, "shutdown"); err != nil {
		t.Fatal(err)
	}
	got := c.LRange(ctx, "tshut:start_urls", 0, -1).Val()
	if len(got) != 3 || c.HLen(ctx, "tshut:leases").Val() != 0 {
		t.Fatalf("start key after shutdown = %v, want all 3 entries back at once", got)
	}
}

// A shared crawl without redis_key: the spider's own start requests come
// first, then the source waits until the shared crawl is idle.
func TestTaskInnerStartsThenSharedIdle(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "inner"})
	inner := &sliceIter{reqs: []*crawl.Request{{URL: "http://a.test/a"}, {URL: "http://a.test/b"}}}
	ts := s.Tasks(TaskOptions{Inner: inner, PollInterval: 50 * time.Millisecond}) // MaxIdle 0: close when nothing is left
	var got []string
	for {
		r, err := nextWithin(t, ts, 10*time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.URL)
	}
	if fmt.Sprint(got) != "[http://a.test/a http://a.test/b]" {
		t.Fatalf("got %v", got)
	}
}

type sliceIter struct{ reqs []*crawl.Request }

func (s *sliceIter) Next(context.Context) (*crawl.Request, error) {
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	r := s.reqs[0]
	s.reqs = s.reqs[1:]
	return r, nil
}

// chanIter is a start iterator fed by the test: it blocks until a request
// (or a close: io.EOF) arrives, as a spider's slow start() does.
type chanIter chan *crawl.Request

func (c chanIter) Next(ctx context.Context) (*crawl.Request, error) {
	select {
	case r, ok := <-c:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A shared crawl ends as soon as no work is left anywhere (MaxIdle 0), but
// not while another worker is still queuing its own start requests: with
// the queue empty and no lease held, worker A must wait for B's start()
// between two of its requests, and must not flush the dupefilter under it.
func TestIdleWaitsForWorkerStillStarting(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "x08"})
	b, _ := openSched(t, srv, Options{Name: "x08"})
	inner := make(chanIter)
	bts := b.Tasks(TaskOptions{Inner: inner, PollInterval: 50 * time.Millisecond})
	bgot := make(chan *crawl.Request)
	go func() {
		for {
			r, err := bts.Next(ctx)
			if err != nil {
				close(bgot)
				return
			}
			bgot <- r
		}
	}()
	inner <- &crawl.Request{URL: "http://a.test/start1"}
	mustEnq(t, b, <-bgot) // the engine queues a start request before asking for the next
	r, err := a.Next(ctx)
	if err != nil || r == nil {
		t.Fatalf("A's Next = %v, %v", r, err)
	}
	if err := a.Ack(ctx, r); err != nil {
		t.Fatal(err)
	}
	ats := a.Tasks(TaskOptions{PollInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := nextWithin(t, ats, 30*time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("A closed (%v) while B was still reading its start requests", err)
	case <-time.After(800 * time.Millisecond):
	}
	st, err := ReadStatus(ctx, a.Client(), StatusOptions{Name: "x08"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{b.opts.WorkerID}; fmt.Sprint(st.Starting) != fmt.Sprint(want) {
		t.Errorf("status: starting = %v, want %v", st.Starting, want)
	}
	if line := b.opts.WorkerID + ": last heartbeat"; !strings.Contains(st.Text(), "(queuing its start requests)") || !strings.Contains(st.Text(), line) {
		t.Errorf("status text does not show B queuing its start requests:\n%s", st.Text())
	}
	// A closing now must not flush what B's crawl relies on.
	if err := a.Close(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if n := b.Client().SCard(ctx, "x08:dupefilter").Val(); n != 1 {
		t.Fatalf("x08:dupefilter holds %d fingerprints, want 1: A flushed it while B was starting", n)
	}
	inner <- &crawl.Request{URL: "http://a.test/start2"}
	mustEnq(t, b, <-bgot)
	close(inner)
	r, err = b.Next(ctx)
	if err != nil || r == nil || r.URL != "http://a.test/start2" {
		t.Fatalf("B's Next = %v, %v", r, err)
	}
	if err := b.Ack(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("A = %v, want io.EOF once B's start requests are all done", err)
	}
	if _, ok := <-bgot; ok {
		t.Fatal("B's source returned a request after the crawl was done")
	}
}

// A worker killed while queuing its start requests keeps the crawl open
// only until its entry expires, a lease timeout after its last heartbeat.
func TestIdleStartingEntryOfDeadWorkerExpires(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := openSched(t, srv, Options{Name: "x09", LeaseTimeout: time.Second})
	b, _ := openSched(t, srv, Options{Name: "x09", LeaseTimeout: time.Second})
	inner := make(chanIter)
	bts := b.Tasks(TaskOptions{Inner: inner, PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped })
	go func() { _, _ = bts.Next(ctx); close(stopped) }() // blocks in start()
	waitStarting(t, b, "x09:starting")
	b.crash()
	t0 := time.Now()
	ats := a.Tasks(TaskOptions{PollInterval: 50 * time.Millisecond})
	if _, err := nextWithin(t, ats, 30*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("A = %v, want io.EOF after B's entry expired", err)
	}
	if waited := time.Since(t0); waited < 200*time.Millisecond { // the entry lives 667 ms or more past the crash unless a beat was late
		t.Fatalf("A closed after %v: B's starting entry was not counted", waited)
	}
}

// A live worker whose start() takes longer than the lease timeout stays
// listed: its heartbeat extends the entry.
func TestIdleStartingEntryKeptByHeartbeat(t *testing.T) {
	srv := redistest.Start(t)
	// Beats every 500 ms: only a beat late by a second could drop the entry.
	a, _ := openSched(t, srv, Options{Name: "x10", LeaseTimeout: 1500 * time.Millisecond})
	b, _ := openSched(t, srv, Options{Name: "x10", LeaseTimeout: 1500 * time.Millisecond})
	inner := make(chanIter)
	bts := b.Tasks(TaskOptions{Inner: inner, PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped })
	go func() { _, _ = bts.Next(ctx); close(stopped) }() // blocks in start()
	waitStarting(t, b, "x10:starting")
	ats := a.Tasks(TaskOptions{PollInterval: 50 * time.Millisecond})
	if _, err := nextWithin(t, ats, 4*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("A = %v during B's start() of 4 s (2.7 lease timeouts), want it still waiting", err)
	}
}

// waitStarting waits until s's worker is listed in key (its start() has
// begun).
func waitStarting(t *testing.T, s *Scheduler, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Client().ZCard(context.Background(), key).Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker never listed itself in %s", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
