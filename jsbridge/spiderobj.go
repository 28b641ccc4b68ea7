package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// makeSpiderObject builds the global `spider` (also `this` in callbacks).
func (s *Spider) makeSpiderObject() *goja.Object {
	vm := s.vm
	imp := s.importer()
	o := vm.NewObject()
	ro := func(k string, v any) {
		_ = o.DefineDataProperty(k, vm.ToValue(v), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_TRUE)
	}
	frozen := func(v goja.Value) goja.Value {
		if obj, ok := v.(*goja.Object); ok {
			deepFreeze(vm, obj, 0)
		}
		return v
	}
	strList := func(l []string) goja.Value {
		if l == nil {
			l = []string{}
		}
		return frozen(imp.value(l))
	}
	ro("name", s.opts.Name)
	ro("start_urls", strList(s.opts.StartURLs))
	ro("allowed_domains", strList(s.opts.AllowedDomains))
	ro("robot_scheme", s.opts.RobotScheme)
	ro("session_id", s.opts.SessionID)
	ro("spec_dir", s.opts.SpecDir)
	ro("run_py_dir", s.opts.SpecDir)
	settings := map[string]any{}
	for k, v := range s.opts.Settings {
		settings[k] = v
	}
	ro("settings", frozen(imp.value(settings)))
	args := map[string]any{}
	for k, v := range s.opts.Args {
		args[k] = v
	}
	ro("args", frozen(imp.value(args)))
	s.installState(o)

	log := vm.NewObject()
	for _, lvl := range []string{"debug", "info", "warn", "error"} {
		_ = log.Set(lvl, s.jsLog(lvl))
	}
	_ = log.Set("warning", log.Get("warn"))
	ro("log", frozen(log))

	st := vm.NewObject()
	_ = st.Set("get", func(call goja.FunctionCall) goja.Value {
		v, ok := s.Stats().Get(call.Argument(0).String())
		if !ok {
			if present(call.Argument(1)) {
				return call.Argument(1)
			}
			return goja.Undefined()
		}
		return imp.value(v)
	})
	_ = st.Set("set", func(key string, v goja.Value) {
		x, err := s.exporter().value(v, "stats."+key, 0)
		if err != nil {
			s.throw(err)
		}
		s.Stats().Set(key, x)
	})
	_ = st.Set("inc", func(call goja.FunctionCall) goja.Value {
		n := int64(1)
		if present(call.Argument(1)) {
			n = call.Argument(1).ToInteger()
		}
		s.Stats().Inc(call.Argument(0).String(), n)
		return goja.Undefined()
	})
	_ = st.Set("max", func(key string, v int64) { s.Stats().Max(key, v) })
	ro("stats", frozen(st))

	_ = o.Set("download", func(call goja.FunctionCall) goja.Value { return s.download(call.Argument(0)) })
	_ = o.Set("crawl", func(call goja.FunctionCall) goja.Value {
		r, err := s.requestFromObject(call.Argument(0))
		if err != nil {
			panic(vm.NewTypeError("spider.crawl: " + err.Error()))
		}
		c := s.crawl.Load()
		if c == nil {
			panic(vm.NewTypeError("spider.crawl: the crawl is not open yet"))
		}
		c.Schedule(r)
		return goja.Undefined()
	})
	_ = o.Set("close", func(call goja.FunctionCall) goja.Value {
		reason := "cancelled"
		if present(call.Argument(0)) {
			reason = call.Argument(0).String()
		}
		if c := s.crawl.Load(); c != nil {
			c.Close(reason)
		}
		return goja.Undefined()
	})
	_ = o.Set("use_execjs", func(call goja.FunctionCall) goja.Value {
		key, fn := call.Argument(0).String(), call.Argument(1).String()
		return s.execjsCall(key, fn, call.Argument(2))
	})
	ctx := vm.NewObject()
	if s.opts.ExecJS != nil {
		keys := s.opts.ExecJS.Keys()
		sort.Strings(keys)
		for _, key := range keys {
			key := key
			c := vm.NewObject()
			_ = c.Set("call", func(call goja.FunctionCall) goja.Value {
				var rest goja.Value = vm.NewArray()
				if len(call.Arguments) > 1 {
					rest = vm.NewArray(toAny(call.Arguments[1:])...)
				}
				return s.execjsCall(key, call.Argument(0).String(), rest)
			})
			_ = c.Set("eval", func(src string) goja.Value {
				v, err := s.opts.ExecJS.Eval(key, src)
				if err != nil {
					s.throw(err)
				}
				return imp.value(v)
			})
			_ = ctx.Set(key, frozen(c))
		}
	}
	ro("ctx_dict", frozen(ctx))

	hooks := vm.NewObject()
	sess := vm.NewObject()
	noSessions := func(name string) {
		if s.opts.Sessions == nil {
			panic(vm.NewTypeError("spider.hooks.session." + name + ": sessions are not available in this build (extension point jsbridge.Options.Sessions)"))
		}
	}
	_ = sess.Set("register_sessions", func(call goja.FunctionCall) goja.Value {
		noSessions("register_sessions")
		g, ok := call.Argument(0).(*goja.Object)
		if !ok {
			panic(vm.NewTypeError("register_sessions: want an object {name: cookies or identity, ...}"))
		}
		members := map[string]any{}
		for _, user := range g.Keys() {
			v, err := s.exporter().value(g.Get(user), user, 0)
			if err != nil {
				panic(vm.NewTypeError("register_sessions: " + err.Error()))
			}
			members[user] = v
		}
		id, err := s.opts.Sessions.RegisterSessions(members)
		if err != nil {
			s.throw(err)
		}
		return vm.ToValue(id)
	})
	// end_session(request) retires the member a request was sent as;
	// end_session(session_id, name) and end_session(name) name it.
	_ = sess.Set("end_session", func(call goja.FunctionCall) goja.Value {
		noSessions("end_session")
		var group, member string
		a0 := call.Argument(0)
		if o, ok := a0.(*goja.Object); ok && s.isRequest(o) {
			r, err := s.requestFromObject(o)
			if err != nil {
				s.throw(err)
			}
			group, _ = r.Meta["session_member"].(string)
			group, member = r.SessionID, group
			if member == "" {
				panic(vm.NewTypeError("end_session: this request was not sent as a session member (no meta.session_member)"))
			}
		} else if len(call.Arguments) >= 2 {
			group, member = a0.String(), call.Argument(1).String()
		} else {
			member = a0.String()
		}
		if err := s.opts.Sessions.EndSession(group, member); err != nil {
			s.throw(err)
		}
		return goja.Undefined()
	})
	s.identityHooks(sess) // register_factory, register_profiles (sessions.go)
	_ = hooks.Set("session", sess)
	ro("hooks", hooks)
	return o
}

func deepFreeze(vm *goja.Runtime, o *goja.Object, depth int) {
	if depth > 50 {
		return
	}
	for _, k := range o.Keys() {
		if c, ok := o.Get(k).(*goja.Object); ok {
			deepFreeze(vm, c, depth+1)
		}
	}
	freeze := mustCallable(vm.Get("Object").ToObject(vm).Get("freeze"))
	_, _ = freeze(goja.Undefined(), o)
}

func (s *Spider) execjsCall(key, fn string, params goja.Value) goja.Value {
	vm := s.vm
	if s.opts.ExecJS == nil {
		panic(vm.NewTypeError("spider.use_execjs: no js_path contexts are loaded (set js_path in the spec)"))
	}
	var args []any
	if present(params) {
		v, err := s.exporter().value(params, "params", 0)
		if err != nil {
			panic(vm.NewTypeError("spider.use_execjs: " + err.Error()))
		}
		// Objects cross as *crawl.Item: execjs keeps their key order
		// (signing code often serializes its argument).
		switch t := v.(type) {
		case []any:
			args = t
		default:
			args = []any{t}
		}
	}
	out, err := s.opts.ExecJS.Call(key, fn, args)
	if err != nil {
		s.throw(fmt.Errorf("use_execjs(%q, %q): %w", key, fn, err))
	}
	return s.importer().value(out)
}

// download implements spider.download(request): the engine fetches it in a
// goroutine (through the downloader middlewares, without a callback); the
// result is posted back to the loop and settles the promise.
func (s *Spider) download(v goja.Value) goja.Value {
	return s.downloadAs(v, "spider.download", nil)
}

// downloadAs is download; adjust, when set, changes the request first
// (a session factory's identity.download pins it to the member).
func (s *Spider) downloadAs(v goja.Value, what string, adjust func(*crawl.Request)) goja.Value {
	vm := s.vm
	p, resolve, reject := vm.NewPromise()
	r, err := s.requestFromObject(v)
	if err != nil {
		_ = reject(vm.NewTypeError(what + ": " + err.Error()))
		return vm.ToValue(p)
	}
	if adjust != nil {
		adjust(r)
	}
	c := s.crawl.Load()
	if c == nil {
		_ = reject(vm.NewTypeError(what + ": the crawl is not open yet"))
		return vm.ToValue(p)
	}
	inv := s.cur
	done := s.loop.reserve()
	go func() {
		resp, err := c.Download(s.ctx, r)
		done(func() {
			s.enter(inv, what, func() error {
				if err != nil {
					var f *crawl.Failure
					if !errors.As(err, &f) {
						f = crawl.NewFailure(crawl.UnknownError, r, err)
					}
					if f.Request == nil {
						f.Request = r
					}
					fo := s.failureObject(f)
					e := vm.NewGoError(f)
					for _, k := range []string{"request", "type", "response", "check", "value"} {
						_ = e.Set(k, fo.Get(k))
					}
					return reject(e)
				}
				if resp.Request == nil {
					resp.Request = r
				}
				return resolve(s.newResponse(resp))
			})
		})
	}()
	return vm.ToValue(p)
}

// ---- start requests ----------------------------------------------------------

// startIter pulls start requests one at a time from the loop.
type startIter struct {
	s       *Spider
	it      goja.Value // async iterator (loop-only)
	started bool
	done    bool
}

// Start returns the start requests: start(task_data) when exported (an
// async generator, a generator, an array, a promise...), else start_urls;
// both wrapped by process_start middlewares. Next pulls one value per call.
func (s *Spider) Start(ctx context.Context) engine.StartIterator {
	return &startIter{s: s}
}

// Next implements engine.StartIterator.
func (it *startIter) Next(ctx context.Context) (*crawl.Request, error) {
	s := it.s
	for {
		if it.done {
			return nil, io.EOF
		}
		var req *crawl.Request
		var skip bool
		inv := s.newInvocation("start", "start", "", nil)
		inv.onDone = func(exc, val goja.Value) invResult {
			if exc != nil {
				it.done = true
				return invResult{err: s.jsError(exc, "start", "")}
			}
			o, ok := val.(*goja.Object)
			if !ok {
				it.done = true
				return invResult{}
			}
			if o.Get("done").ToBoolean() {
				it.done = true
				return invResult{}
			}
			v := o.Get("value")
			r, err := s.requestFromObject(v)
			if err != nil {
				skip = true
				s.log.Error("start yielded something that is not a Request; skipped", "value", truncate(fmt.Sprint(v), 60))
				s.Stats().Inc("spider_exceptions/TypeError", 1)
				return invResult{}
			}
			r.Start = true
			req = r
			return invResult{}
		}
		s.start(inv, func() {
			if !it.started {
				it.started = true
				if err := it.open(); err != nil {
					it.done = true
					inv.finish(err)
					return
				}
			}
			next := it.it.ToObject(s.vm).Get("next")
			sink := s.vm.NewDynamicObject(&sinkObject{inv: inv, s: s})
			if _, err := s.in.call(goja.Undefined(), next, it.it, s.vm.NewArray(), sink); err != nil {
				s.fail(inv, err)
			}
		})
		res := s.wait(ctx, inv)
		if res.err != nil {
			return nil, res.err
		}
		if req != nil {
			return req, nil
		}
		if skip {
			continue
		}
		if it.done {
			return nil, io.EOF
		}
	}
}

// open builds the (wrapped) start iterator on the loop.
func (it *startIter) open() error {
	s := it.s
	var src goja.Value
	if fn, ok := s.exportFns["start"]; ok {
		f := mustCallable(fn)
		td := s.importer().value(s.opts.TaskData)
		if s.opts.TaskData == nil {
			td = goja.Undefined()
		}
		v, err := f(s.spiderObj, td)
		if err != nil {
			return s.goError(err, "start", "")
		}
		src = v
	} else {
		urls := s.importer().value(s.opts.StartURLs)
		if s.opts.StartURLs == nil {
			urls = s.vm.NewArray()
		}
		make := s.vm.ToValue(func(u string) goja.Value {
			o := s.vm.NewObject()
			_ = o.Set("url", u)
			_ = o.Set("dont_filter", true)
			if s.opts.SessionID != "" {
				_ = o.Set("session_id", s.opts.SessionID)
			}
			r, err := s.vm.New(s.vm.Get("Request"), o)
			if err != nil {
				panic(err)
			}
			return r
		})
		v, err := s.in.startURLs(goja.Undefined(), urls, make)
		if err != nil {
			return s.goError(err, "start", "")
		}
		src = v
	}
	v, err := s.in.wrapStart(goja.Undefined(), src, s.startMWs, s.spiderObj)
	if err != nil {
		return s.goError(err, "process_start", "")
	}
	lazy, err := s.in.lazyStart(goja.Undefined(), v)
	if err != nil {
		return s.goError(err, "start", "")
	}
	it.it = lazy
	return nil
}

// ---- lifecycle ---------------------------------------------------------------

// Open implements engine.Opener: it keeps the crawl handle (spider.download,
// crawl, close, stats) and runs the spider_opened hook.
func (s *Spider) Open(ctx context.Context, c *engine.Crawl) error {
	s.crawl.Store(c)
	if fn := s.opts.Hooks["spider_opened"]; fn != "" {
		_, err := s.callHook(ctx, "spider_opened", fn, nil, spiderLast)
		return err
	}
	return nil
}

// Close implements engine.Closer: it runs the spider_closed hook with the
// reason, then stops the loop. Later calls fail with a closed error.
func (s *Spider) Close(ctx context.Context, reason string) error {
	if s.closed.Swap(true) {
		return nil
	}
	var err error
	if fn := s.opts.Hooks["spider_closed"]; fn != "" {
		_, err = s.callHook(ctx, "spider_closed", fn, []any{reason}, spiderFirst)
	}
	// With a SignalHandler connected, signals emitted before the close
	// (the last item_scraped) may still be on their way: the handler shuts
	// the loop down when the spider_closed event, the last one, arrives.
	if !s.signals.Load() {
		s.Shutdown()
	}
	return err
}

// Shutdown stops the loop and cancels inline downloads without running
// hooks (tests, `spiderrun parse`, an engine that failed to open). Waiting
// invocations fail. It is idempotent; call it once the engine's Run
// returned.
func (s *Spider) Shutdown() {
	s.cancel()
	s.loop.close(errLoopClosed)
	s.failAll(errLoopClosed)
}

// Idle implements engine.IdleHandler: the spider_idle hook may return (or
// yield) requests, and DontCloseSpider (returned or thrown) keeps the crawl
// open.
func (s *Spider) Idle(ctx context.Context, out engine.Output) (bool, error) {
	fn := s.opts.Hooks["spider_idle"]
	if fn == "" {
		return false, nil
	}
	keep := false
	inv := s.newInvocation("hook spider_idle", fn, "", &idleOutput{out: out})
	s.start(inv, func() {
		f := s.exportFns[fn]
		wrapped := s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			v, err := mustCallable(f)(s.spiderObj, s.spiderObj)
			if err != nil {
				if ex, ok := err.(*goja.Exception); ok && s.isDontClose(ex.Value()) {
					keep = true
					return goja.Undefined()
				}
				panic(err)
			}
			if s.isDontClose(v) {
				keep = true
				return goja.Undefined()
			}
			return v
		})
		s.runDriven(inv, wrapped, nil, nil)
	})
	res := s.wait(ctx, inv)
	if res.err != nil {
		var je *Error
		if errors.As(res.err, &je) && je.Type == "DontCloseSpider" {
			return true, nil
		}
	}
	if o, ok := inv.out.(*idleOutput); ok && o.keep {
		keep = true
	}
	return keep, res.err
}

// idleOutput turns a yielded DontCloseSpider into keepOpen.
type idleOutput struct {
	out  engine.Output
	keep bool
}

func (o *idleOutput) Request(r *crawl.Request) { o.out.Request(r) }
func (o *idleOutput) Item(it *crawl.Item)      { o.out.Item(it) }
func (o *idleOutput) Error(err error) {
	var je *Error
	if errors.As(err, &je) && je.Type == "DontCloseSpider" {
		o.keep = true
		return
	}
	o.out.Error(err)
}

func (s *Spider) isDontClose(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	if !ok {
		return false
	}
	if o == s.in.dontCloseSpider {
		return true
	}
	return instanceOf(s.vm, o, s.in.dontCloseSpider)
}
