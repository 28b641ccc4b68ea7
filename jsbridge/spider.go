package jsbridge

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Defaults of the limits (RELIABILITY.md §3.7). The caps of the built-ins
// goja cannot interrupt, the regex timeout and the watchdog are package
// jsguard's, shared with the use_execjs contexts.
const (
	DefaultJSTimeout     = 30 * time.Second
	DefaultJSMemoryLimit = 512 << 20
	DefaultMaxCallStack  = 10000
	// DefaultCallbackTimeout is CALLBACK_TIMEOUT: how long one callback
	// (or errback, pipeline, middleware method, hook) may take from its
	// start to its end, awaits included. Long enough for a callback that
	// awaits other requests' results through their retries (each download
	// up to DOWNLOAD_TIMEOUT, several times), short enough that a callback
	// kept alive forever by a setInterval or a promise nothing settles is
	// reported while the crawl still runs.
	DefaultCallbackTimeout = 10 * time.Minute
)

//go:embed prelude.js
var preludeSrc string

var preludeProgram = goja.MustCompile(preludeFile, preludeSrc, true)

// Options configure a JavaScript spider. Only Program is required.
type Options struct {
	// Program is the compiled script (compile.Compile).
	Program *compile.Program
	// Name is the spider's name.
	Name string
	// StartURLs are requested when the script exports no start().
	StartURLs []string
	// AllowedDomains, RobotScheme, SessionID and SpecDir are shown to the
	// script as spider.allowed_domains, .robot_scheme, .session_id and
	// .spec_dir (= .run_py_dir). SessionID is also the session_id of the
	// start_urls requests.
	AllowedDomains []string
	RobotScheme    string
	SessionID      string
	SpecDir        string
	// DefaultCallback is the callback of requests that name none
	// (default "parse").
	DefaultCallback string
	// DefaultErrback is the errback of requests that name none; "" means
	// errRet when the script exports it.
	DefaultErrback string
	// Settings are shown read-only as spider.settings.
	Settings map[string]any
	// Args are the -a K=V arguments (spider.args).
	Args map[string]string
	// TaskData is passed to start(task_data) (from --task-data).
	TaskData any
	// Logger receives console.* and spider.log.* output; nil discards.
	Logger *slog.Logger
	// JSTimeout bounds each turn of JavaScript (0 = DefaultJSTimeout,
	// negative = off).
	JSTimeout time.Duration
	// JSMemoryLimit bounds heap growth during one turn (0 =
	// DefaultJSMemoryLimit, negative = off).
	JSMemoryLimit int64
	// CallbackTimeout is CALLBACK_TIMEOUT: the wall-clock bound of one
	// invocation (callback, errback, pipeline, middleware method, hook),
	// awaits included (0 = DefaultCallbackTimeout, negative = off). An
	// invocation still running then ends with an *Error of type
	// CALLBACK_TIMEOUT (ErrCallbackTimeout) naming it and its source line,
	// and the timers it left are cleared.
	CallbackTimeout time.Duration
	// MaxCallStack bounds recursion (0 = DefaultMaxCallStack).
	MaxCallStack int
	// MaxLinks caps the links a JS LinkExtractor reads from one page
	// (LINKEXTRACTOR_MAX_LINKS; 0 = no cap), as for CrawlSpider rules: a
	// page cut short logs one warning and counts
	// linkextractor/pages_truncated.
	MaxLinks int
	// Hooks map signal names to exported functions. spider_opened,
	// spider_idle and spider_closed run from Open, Idle and Close; others are
	// reached through Spider.Hook.
	Hooks map[string]string
	// CallbackTime, when set, is told how long each invocation of an
	// exported function took (callback, errback, pipeline and middleware
	// method, hook, start), from its first turn on the loop to its end,
	// awaits included, under the function's name ("<closure>" for a
	// request's inline callback). The names are the script's exports, so a
	// metric labelled with them stays bounded. It runs on the goroutine
	// that ends the invocation and must be quick.
	CallbackTime func(fn string, d time.Duration)
	// SpiderMiddlewares wrap every callback's output and the start requests
	// (spec spider_middlewares, in list order from the engine to the spider).
	SpiderMiddlewares []SpiderMiddleware
	// ExecJS provides spider.use_execjs and spider.ctx_dict (js_path
	// contexts); nil means none.
	ExecJS ExecJS
	// abandonGrace overrides how long an interrupted turn may take to stop
	// before the runtime is abandoned (tests).
	abandonGrace time.Duration
	// Sessions is the extension point of spider.hooks.session (the sessions
	// feature plugs in here); nil makes register_sessions throw.
	Sessions SessionHooks
}

// SpiderMiddleware names the exported functions of one spider middleware.
type SpiderMiddleware struct {
	ProcessSpiderInput     string
	ProcessSpiderOutput    string
	ProcessSpiderException string
	ProcessStart           string
}

// ExecJS is what spider.use_execjs needs from jsbridge/execjs.Contexts.
type ExecJS interface {
	Keys() []string
	Call(key, fn string, args []any) (any, error)
	Eval(key, src string) (any, error)
}

// SessionHooks is the extension point of spider.hooks.session: the
// sessions feature (runtime/session through the root package) implements
// it.
type SessionHooks interface {
	// RegisterSessions registers a group of members and returns the
	// session_id requests use. Each member is the JS value exported to Go:
	// a Cookie header string, or an object (*crawl.Item) of cookies or of
	// {cookies, headers, proxy, impersonate}.
	RegisterSessions(members map[string]any) (sessionID string, err error)
	// EndSession retires a member; sessionID "" means the one group that
	// has a member of that name.
	EndSession(sessionID, member string) error
}

// Spider is a JavaScript spider: one goja runtime and its event loop. It
// implements engine.Spider, engine.Opener, engine.Closer,
// engine.IdleHandler and engine.StallReporter. Its methods are safe for
// concurrent use; Callback and Errback may block for as long as the
// callback awaits, so the engine runs them concurrently.
type Spider struct {
	// parseSlots holds one token per page parsed ahead whose callback has
	// not started yet (parseAhead).
	parseSlots chan struct{}
	// noDOM[callback] is true when the callback's last run on an HTML or
	// XML page did not use the page's document (usesDOM).
	domMu sync.Mutex
	noDOM map[string]bool

	opts Options
	log  *slog.Logger
	vm   *goja.Runtime
	loop *loop
	prog *compile.Program

	// Loop-only state below.
	in          internals
	exportsObj  *goja.Object
	exportFns   map[string]goja.Value
	exportNames map[*goja.Object]string
	spiderObj   *goja.Object
	protos      protos
	sinkFns     map[string]goja.Value
	fast        fastPath   // response.follow → sink (request.go)
	outputMWs   goja.Value // the spider middlewares: [{input, output, exception}] (null where absent), engine side first
	startMWs    goja.Value // array of process_start functions
	timers      map[int64]*jsTimer
	timerSeq    int64
	stringify   goja.Callable

	// Shared state below.
	ctx      context.Context
	cancel   context.CancelFunc
	crawl    atomic.Pointer[engine.Crawl]
	stats    stats.Collector
	mu       sync.Mutex
	active   map[*invocation]struct{}
	waiting  map[*goja.Object]string // ResultHolder → get_result call site (loop writes under mu)
	funcPos  map[string]string
	closed   atomic.Bool
	signals  atomic.Bool // a SignalHandler was created
	invSeq   atomic.Uint64
	fatalErr atomic.Pointer[error]
	cur      *invocation // loop-only: the invocation whose JS is running
}

// internals are the prelude's functions Go calls.
type internals struct {
	run, call, wrapStart, lazyStart, startURLs goja.Callable
	resultHolder, dropItem, closeSpider        *goja.Object
	ignoreRequest, dontCloseSpider             *goja.Object
}

// New loads the program into a fresh runtime: installs the globals, runs
// the prelude, freezes the built-in prototypes and evaluates the script's
// top level (bounded by JSTimeout). The loop starts; call Close to stop it.
func New(opts Options) (*Spider, error) {
	if opts.Program == nil {
		return nil, errors.New("jsbridge: Options.Program is nil")
	}
	if opts.DefaultCallback == "" {
		opts.DefaultCallback = "parse"
	}
	if opts.JSTimeout == 0 {
		opts.JSTimeout = DefaultJSTimeout
	}
	if opts.JSMemoryLimit == 0 {
		opts.JSMemoryLimit = DefaultJSMemoryLimit
	}
	if opts.CallbackTimeout == 0 {
		opts.CallbackTimeout = DefaultCallbackTimeout
	}
	if opts.MaxCallStack == 0 {
		opts.MaxCallStack = DefaultMaxCallStack
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	vm := goja.New()
	vm.SetMaxCallStackSize(opts.MaxCallStack)
	s := &Spider{
		opts:        opts,
		log:         log.With("spider", opts.Name),
		vm:          vm,
		prog:        opts.Program,
		exportFns:   map[string]goja.Value{},
		exportNames: map[*goja.Object]string{},
		timers:      map[int64]*jsTimer{},
		active:      map[*invocation]struct{}{},
		waiting:     map[*goja.Object]string{},
		stats:       stats.NewMemory(),
		parseSlots:  make(chan struct{}, maxParsedAhead()),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loop = newLoop(vm, jsguard.Limits{Timeout: opts.JSTimeout, Memory: opts.JSMemoryLimit, Grace: opts.abandonGrace})
	s.loop.onAbandon = s.abandon
	if opts.ExecJS != nil {
		s.opts.ExecJS = pausedExecJS{ExecJS: opts.ExecJS, s: s}
	}
	vm.SetAsyncContextTracker(tracker{s})

	if err := s.install(); err != nil {
		s.loop.close(err)
		return nil, err
	}
	if err := s.installGoErrors(); err != nil {
		s.loop.close(err)
		return nil, err
	}
	if err := s.evaluate(); err != nil {
		s.loop.close(err)
		return nil, err
	}
	s.findPositions()
	go s.loop.run()
	if opts.CallbackTimeout > 0 {
		go s.sweep(opts.CallbackTimeout)
	}
	return s, nil
}

// gojaPrograms holds the goja compilation of each live compile.Program, so
// that the runtimes built from one Program (spiderrun.Check's, then the
// crawl's) compile it once: a goja.Program is bound to no runtime. An entry
// goes when its compile.Program is collected (the key is weak).
var gojaPrograms struct {
	mu sync.Mutex
	m  map[weak.Pointer[compile.Program]]*gojaCompiled
}

type gojaCompiled struct {
	once sync.Once
	code string // the compile.Program's Code, in case a caller changed it
	prog *goja.Program
	err  error
}

// gojaProgram compiles p's bundle with goja, once per p. ES modules are
// strict code; esbuild's IIFE output does not say so, so they are compiled
// strict (a CommonJS entry keeps sloppy mode).
func gojaProgram(p *compile.Program) (*goja.Program, error) {
	key := weak.Make(p)
	gojaPrograms.mu.Lock()
	c := gojaPrograms.m[key]
	if c == nil || c.code != p.Code {
		if gojaPrograms.m == nil {
			gojaPrograms.m = map[weak.Pointer[compile.Program]]*gojaCompiled{}
		}
		if _, seen := gojaPrograms.m[key]; !seen {
			goruntime.AddCleanup(p, func(k weak.Pointer[compile.Program]) {
				gojaPrograms.mu.Lock()
				delete(gojaPrograms.m, k)
				gojaPrograms.mu.Unlock()
			}, key)
		}
		c = &gojaCompiled{code: p.Code}
		gojaPrograms.m[key] = c
	}
	gojaPrograms.mu.Unlock()
	c.once.Do(func() { c.prog, c.err = goja.Compile(helperFile, c.code, !p.CommonJS) })
	return c.prog, c.err
}

// evaluate runs the user's script top level under the watchdog.
func (s *Spider) evaluate() error {
	// ES modules are strict code; esbuild's IIFE output does not say so,
	// so compile them strict (a CommonJS entry keeps sloppy mode).
	prog, err := gojaProgram(s.prog)
	if err != nil {
		return fmt.Errorf("%s: %w", s.prog.Filename, err)
	}
	// The top level runs under the loop's watchdog, like every job.
	s.loop.wd.Begin()
	_, err = s.vm.RunProgram(prog)
	s.loop.wd.End()
	if err != nil {
		return s.goError(err, "script top level", "")
	}
	ev := s.vm.Get(compile.ExportsVar)
	obj, ok := ev.(*goja.Object)
	if !ok {
		return fmt.Errorf("%s: the script produced no exports", s.prog.Filename)
	}
	s.exportsObj = obj
	for _, k := range obj.Keys() {
		v := obj.Get(k)
		if fo, ok := v.(*goja.Object); ok {
			if _, ok := goja.AssertFunction(fo); ok {
				s.exportFns[k] = v
				s.exportNames[fo] = k
			}
		}
	}
	// CommonJS: module.exports = function(){} makes the function itself the
	// module; expose it as "default".
	if _, ok := goja.AssertFunction(obj); ok {
		s.exportFns["default"] = obj
		s.exportNames[obj] = "default"
	}
	mws := func(pick func(SpiderMiddleware) string, what string) (goja.Value, error) {
		var fns []any
		for i, m := range s.opts.SpiderMiddlewares {
			name := pick(m)
			if name == "" {
				continue
			}
			fn, ok := s.exportFns[name]
			if !ok {
				return nil, fmt.Errorf("spider_middlewares[%d].%s: %q is not an exported function (exported: %s)", i, what, name, strings.Join(s.exportList(), ", "))
			}
			fns = append(fns, fn)
		}
		return s.vm.NewArray(fns...), nil
	}
	if s.outputMWs, err = s.spiderMWChain(); err != nil {
		return err
	}
	if s.startMWs, err = mws(func(m SpiderMiddleware) string { return m.ProcessStart }, "process_start"); err != nil {
		return err
	}
	for sig, fn := range s.opts.Hooks {
		if _, ok := s.exportFns[fn]; !ok {
			return fmt.Errorf("hooks.%s: %q is not an exported function (exported: %s)", sig, fn, strings.Join(s.exportList(), ", "))
		}
	}
	return nil
}

// spiderMWChain builds the JS view of the spider middlewares that the
// prelude's run uses: one {input, output, exception} object per middleware
// (null for a hook it does not have), in spec order, engine side first.
func (s *Spider) spiderMWChain() (goja.Value, error) {
	entries := make([]any, 0, len(s.opts.SpiderMiddlewares))
	for i, m := range s.opts.SpiderMiddlewares {
		o := s.vm.NewObject()
		for _, h := range []struct{ key, what, name string }{
			{"input", "process_spider_input", m.ProcessSpiderInput},
			{"output", "process_spider_output", m.ProcessSpiderOutput},
			{"exception", "process_spider_exception", m.ProcessSpiderException},
		} {
			v := goja.Null()
			if h.name != "" {
				fn, ok := s.exportFns[h.name]
				if !ok {
					return nil, fmt.Errorf("spider_middlewares[%d].%s: %q is not an exported function (exported: %s)", i, h.what, h.name, strings.Join(s.exportList(), ", "))
				}
				v = fn
			}
			_ = o.Set(h.key, v)
		}
		entries = append(entries, o)
	}
	return s.vm.NewArray(entries...), nil
}

// Exports lists the script's exported functions, sorted.
func (s *Spider) Exports() []string { return s.exportList() }

func (s *Spider) exportList() []string {
	out := make([]string, 0, len(s.exportFns))
	for k := range s.exportFns {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// HasExport reports whether the script exports a function called name.
func (s *Spider) HasExport(name string) bool {
	_, ok := s.exportFns[name]
	return ok
}

// Name is the spider's name.
func (s *Spider) Name() string { return s.opts.Name }

// Stats returns the collector JS stats go to: the crawl's once Open ran,
// before that a private one.
func (s *Spider) Stats() stats.Collector {
	if c := s.crawl.Load(); c != nil {
		if st := c.Stats(); st != nil {
			return st
		}
	}
	return s.stats
}

// abandon is called by the watchdog when the runtime did not stop.
func (s *Spider) abandon(err error) {
	s.fatalErr.Store(&err)
	s.log.Error("javascript runtime abandoned", "err", err)
	s.failAll(err)
	if c := s.crawl.Load(); c != nil {
		c.Close("js_runtime_abandoned")
	}
}

func (s *Spider) failAll(err error) {
	s.mu.Lock()
	invs := make([]*invocation, 0, len(s.active))
	for inv := range s.active {
		invs = append(invs, inv)
	}
	s.mu.Unlock()
	for _, inv := range invs {
		inv.finish(err)
	}
}

func (s *Spider) loopErr() error {
	if e := s.fatalErr.Load(); e != nil {
		return *e
	}
	return s.loop.err()
}

// ---- invocations -------------------------------------------------------------

// invocation is one run of a JS function the engine waits for: a callback,
// an errback, a pipeline, a middleware method or a hook.
type invocation struct {
	s      *Spider
	where  string // "callback parse"
	fn     string
	url    string
	out    engine.Output
	result chan invResult
	once   sync.Once
	// onDone converts the JS outcome on the loop (value-returning calls).
	onDone func(exc, val goja.Value) invResult
	ended  atomic.Bool
	// started is when its first job ran (under s.mu); killed is set when
	// CALLBACK_TIMEOUT ended it (see sweep).
	started time.Time
	killed  atomic.Bool
}

type invResult struct {
	err error
	val any
}

// newInvocation creates an invocation; it becomes active (visible to
// Stalled) only when its first job runs on the loop: a posted but not yet
// running job keeps the loop from looking quiescent by itself, and
// registering earlier would let Stalled see an active invocation next to an
// empty queue.
func (s *Spider) newInvocation(where, fn, url string, out engine.Output) *invocation {
	return &invocation{s: s, where: where, fn: fn, url: url, out: out, result: make(chan invResult, 1)}
}

// activate registers inv as running; false when it already ended.
func (inv *invocation) activate() bool {
	inv.s.mu.Lock()
	defer inv.s.mu.Unlock()
	if inv.ended.Load() {
		return false
	}
	if _, ok := inv.s.active[inv]; !ok {
		inv.started = time.Now()
	}
	inv.s.active[inv] = struct{}{}
	return true
}

// finish completes the invocation once (from the loop or on abandonment).
func (inv *invocation) finish(err error) { inv.finishWith(invResult{err: err}) }

func (inv *invocation) finishWith(r invResult) {
	inv.once.Do(func() {
		inv.s.mu.Lock()
		inv.ended.Store(true)
		delete(inv.s.active, inv)
		started := inv.started
		inv.s.mu.Unlock()
		// An invocation that never ran (cancelled while queued) took no
		// JavaScript time; a name that is not an export (a request naming
		// a missing callback) is not a label, so cardinality stays bounded.
		if obs := inv.s.opts.CallbackTime; obs != nil && !started.IsZero() {
			if _, ok := inv.s.exportFns[inv.fn]; ok || inv.fn == "<closure>" {
				obs(inv.fn, time.Since(started))
			}
		}
		inv.result <- r
	})
}

// wait blocks until the invocation ends, the context ends or the runtime
// dies.
func (s *Spider) wait(ctx context.Context, inv *invocation) invResult {
	select {
	case r := <-inv.result:
		return r
	case <-ctx.Done():
		inv.finish(ctx.Err())
		return invResult{err: ctx.Err()}
	case <-s.loop.dead:
		// The loop may have finished the invocation just before dying.
		select {
		case r := <-inv.result:
			return r
		default:
		}
		err := s.loopErr()
		inv.finish(err)
		return invResult{err: err}
	}
}

// start posts job for inv, failing it when the loop is gone.
func (s *Spider) start(inv *invocation, job func()) {
	if !s.loop.post(func() {
		if !inv.activate() {
			return // cancelled before it ran
		}
		s.cur = inv
		job()
		s.cur = nil
	}) {
		inv.finish(s.loopErr())
	}
}

// fail charges an error that escaped a Go→JS call to the invocation whose
// JS was running (an interrupt may land in another callback's promise
// continuation drained during this call), or to inv.
func (s *Spider) fail(inv *invocation, err error) {
	culprit := inv
	if s.cur != nil {
		culprit = s.cur
	}
	culprit.finish(s.goError(err, culprit.where, culprit.url))
	if culprit != inv && !inv.ended.Load() {
		// goja drops the promise jobs queued behind an interrupted one; inv
		// may have lost its continuation, so it is not left waiting forever.
		inv.finish(&Error{Where: inv.where, URL: inv.url, Type: "Interrupted", Err: err,
			Message: "stopped: its pending promise jobs were dropped when " + culprit.where + " was interrupted"})
	}
}

// tracker follows which invocation the running JS belongs to across
// promise jobs (goja's AsyncContextTracker), so an interrupt in a
// continuation is charged to the right callback.
type tracker struct{ s *Spider }

func (t tracker) Grab() any     { return t.s.cur }
func (t tracker) Resumed(v any) { t.s.cur, _ = v.(*invocation) }
func (t tracker) Exited()       { t.s.cur = nil }

// enter runs Go-initiated JS (a timer, a download result) on the loop as
// part of inv (may be nil). An error that escapes (an interrupt, a throw
// from a timer callback) fails the invocation that was running, or is
// logged when none was.
func (s *Spider) enter(inv *invocation, what string, f func() error) {
	s.cur = inv
	err := f()
	cur := s.cur
	s.cur = nil
	if err == nil {
		return
	}
	if cur != nil {
		cur.finish(s.goError(err, cur.where, cur.url))
		return
	}
	e := s.goError(err, what, "")
	s.Stats().Inc("spider_exceptions/"+e.Type, 1)
	s.log.Error("javascript error", "err", e.Error())
}

// ---- engine.Spider -----------------------------------------------------------

// Callback runs the callback named by resp.Request.Callback (or the default)
// with (response, cb_kwargs) and this === spider, streaming its output into
// out. It returns when the output is exhausted.
func (s *Spider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	req := resp.Request
	if req == nil {
		req = &crawl.Request{URL: resp.URL}
	}
	name := req.Callback
	local, _ := req.Local.(*jsLocal)
	if local != nil && (local.rt != s.vm || local.callback == nil) {
		local = nil
	}
	if name == "" && local == nil {
		name = s.opts.DefaultCallback
	}
	label := name
	if local != nil && name == "" {
		label = "<closure>"
	}
	release := func() {}
	if isMarkup(resp) {
		if s.usesDOM(label) {
			release = s.parseAhead(ctx, resp)
		}
		defer s.learnDOM(label, resp)
	}
	defer release()
	inv := s.newInvocation("callback "+label, label, resp.URL, out)
	s.start(inv, func() {
		release()
		var fn goja.Value
		if local != nil {
			fn = local.callback
		} else if f, ok := s.exportFns[name]; ok {
			fn = f
		} else {
			inv.finish(&Error{Where: inv.where, URL: resp.URL, Type: "Error", Message: fmt.Sprintf("callback %q is not an exported function (exported: %s)", name, strings.Join(s.exportList(), ", "))})
			return
		}
		r := s.newResponse(resp)
		kw := s.kwargsObject(req)
		if j, ok := s.responseOf(r); ok {
			j.Set("cb_kwargs", kw)
		}
		s.runDrivenFor(inv, fn, []goja.Value{r, kw}, s.outputMWs, goja.Undefined(), true)
	})
	return s.wait(ctx, inv).err
}

// runDriven calls fn and drives its output into inv.out.
func (s *Spider) runDriven(inv *invocation, fn goja.Value, args []goja.Value, mws goja.Value) {
	s.runDrivenFor(inv, fn, args, mws, goja.Undefined(), false)
}

// runDrivenFor is runDriven with the response process_spider_output sees
// (an errback's failure.response; undefined means args[0]).
func (s *Spider) runDrivenFor(inv *invocation, fn goja.Value, args []goja.Value, mws, response goja.Value, input bool) {
	sink := s.vm.NewDynamicObject(&sinkObject{inv: inv, s: s})
	argArr := s.vm.NewArray(toAny(args)...)
	if mws == nil {
		mws = goja.Undefined()
	}
	_, err := s.in.run(goja.Undefined(), fn, s.spiderObj, argArr, sink, mws, response, s.vm.ToValue(input))
	if err != nil {
		s.fail(inv, err)
	}
}

func toAny(vs []goja.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// Errback runs the request's errback, or the default one, for f.
func (s *Spider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	req := f.Request
	if req == nil {
		req = &crawl.Request{}
	}
	name := req.Errback
	local, _ := req.Local.(*jsLocal)
	if local != nil && (local.rt != s.vm || local.errback == nil) {
		local = nil
	}
	if name == "" && local == nil {
		name = s.opts.DefaultErrback
		if name == "" && s.HasExport("errRet") {
			name = "errRet"
		}
	}
	if name == "" && local == nil {
		return false, nil
	}
	if local == nil && !s.HasExport(name) {
		return false, fmt.Errorf("errback %q is not an exported function (exported: %s)", name, strings.Join(s.exportList(), ", "))
	}
	label := name
	if local != nil && name == "" {
		label = "<closure>"
	}
	inv := s.newInvocation("errback "+label, label, req.URL, out)
	s.start(inv, func() {
		fn := s.exportFns[name]
		if local != nil {
			fn = local.errback
		}
		fo := s.failureObject(f)
		s.runDrivenFor(inv, fn, []goja.Value{fo}, s.outputMWs, fo.Get("response"), false)
	})
	return true, s.wait(ctx, inv).err
}

// ---- sink --------------------------------------------------------------------

// sinkObject receives a driven callback's output (prelude's drive).
type sinkObject struct {
	s   *Spider
	inv *invocation
}

func (o *sinkObject) Get(key string) goja.Value   { return o.s.sinkFns[key] }
func (o *sinkObject) Set(string, goja.Value) bool { return false }
func (o *sinkObject) Has(key string) bool {
	_, ok := o.s.sinkFns[key]
	return ok
}
func (o *sinkObject) Delete(string) bool { return false }
func (o *sinkObject) Keys() []string     { return nil }

func (s *Spider) makeSinkFns() {
	sinkOf := func(call goja.FunctionCall) *invocation {
		if o, ok := call.This.(*goja.Object); ok {
			if o == s.fast.sinkObj {
				return s.fast.sinkInv
			}
			if so, ok := o.Export().(*sinkObject); ok {
				s.fast.sinkObj, s.fast.sinkInv = o, so.inv
				return so.inv
			}
		}
		panic(s.vm.NewTypeError("invalid sink"))
	}
	s.sinkFns = map[string]goja.Value{
		"request": s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			inv := sinkOf(call)
			if inv.ended.Load() {
				return goja.Undefined()
			}
			r, err := s.requestFromObject(call.Argument(0))
			if err != nil {
				panic(s.vm.NewTypeError(err.Error()))
			}
			if inv.out != nil {
				inv.out.Request(r)
			}
			return goja.Undefined()
		}),
		"item": s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			inv := sinkOf(call)
			if inv.ended.Load() {
				return goja.Undefined()
			}
			it, err := s.exporter().item(call.Argument(0))
			if err != nil {
				s.emitError(inv, &Error{Where: inv.where, URL: inv.url, Type: "ItemError", Message: err.Error(), Err: err, Pos: s.posOr(s.callerPos(), inv.fn)})
				return goja.Undefined()
			}
			if inv.out != nil {
				inv.out.Item(it)
			}
			return goja.Undefined()
		}),
		"error": s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			inv := sinkOf(call)
			if inv.ended.Load() {
				return goja.Undefined()
			}
			v := call.Argument(0)
			if s.isCloseSpider(v) {
				s.closeFromJS(v)
				return goja.Undefined()
			}
			s.emitError(inv, s.jsError(v, inv.where, inv.url))
			return goja.Undefined()
		}),
		"bad": s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			inv := sinkOf(call)
			if inv.ended.Load() {
				return goja.Undefined()
			}
			v := call.Argument(0)
			s.emitError(inv, &Error{Where: inv.where, URL: inv.url, Type: "TypeError", Pos: s.posOr(s.callerPos(), inv.fn),
				Message: fmt.Sprintf("%s yielded a %s (%s); want a Request, an item object, or an iterable of them", inv.where, jsvalue.TypeName(v), truncate(v.String(), 40))})
			return goja.Undefined()
		}),
		"done": s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			inv := sinkOf(call)
			exc := call.Argument(0)
			if inv.onDone != nil {
				var e goja.Value
				if len(call.Arguments) > 0 && !goja.IsUndefined(exc) {
					e = exc
				}
				inv.finishWith(inv.onDone(e, call.Argument(1)))
				return goja.Undefined()
			}
			if len(call.Arguments) == 0 || goja.IsUndefined(exc) {
				inv.finish(nil)
				return goja.Undefined()
			}
			if s.isCloseSpider(exc) {
				s.closeFromJS(exc)
				inv.finish(nil)
				return goja.Undefined()
			}
			inv.finish(s.jsError(exc, inv.where, inv.url))
			return goja.Undefined()
		}),
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// emitError sends a non-fatal callback error (yielded Error, bad item) to
// the output and counts it.
// The engine counts what reaches Output.Error (spider_exceptions/*), so
// only errors with no output are counted here.
func (s *Spider) emitError(inv *invocation, e *Error) {
	if inv.out != nil {
		inv.out.Error(e)
		return
	}
	s.Stats().Inc("spider_exceptions/"+e.Type, 1)
	s.log.Error("javascript error", "err", e.Error())
}

// posOr returns pos, or the position of function fn when pos is unknown
// (the output of a finished function is driven after it returned).
func (s *Spider) posOr(pos, fn string) string {
	if pos != "" {
		return pos
	}
	return s.funcPosition(fn)
}

// callerPos is the innermost user position of the current JS stack.
func (s *Spider) callerPos() string {
	_, pos := s.framesStack(s.vm.CaptureCallStack(20, nil))
	return pos
}

func (s *Spider) isCloseSpider(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	return ok && s.in.closeSpider != nil && o.Prototype() != nil && instanceOf(s.vm, o, s.in.closeSpider)
}

func instanceOf(vm *goja.Runtime, o, class *goja.Object) bool {
	proto, ok := class.Get("prototype").(*goja.Object)
	if !ok {
		return false
	}
	for p := o.Prototype(); p != nil; p = p.Prototype() {
		if p == proto {
			return true
		}
	}
	return false
}

func (s *Spider) closeFromJS(v goja.Value) {
	reason := "cancelled"
	if o, ok := v.(*goja.Object); ok {
		if r := o.Get("reason"); present(r) {
			reason = r.String()
		}
	}
	s.log.Info("CloseSpider raised", "reason", reason)
	if c := s.crawl.Load(); c != nil {
		c.Close(reason)
	}
}

// ---- stall detection ---------------------------------------------------------

// Stalled implements engine.StallReporter: when the loop can make no
// progress (nothing queued, no timer, no pending download, nothing
// running) but invocations are still waiting on promises, it names each of
// them with the callback's source position and the ResultHolders they wait
// on.
func (s *Spider) Stalled() []string {
	if !s.loop.quiescent() {
		return nil
	}
	s.mu.Lock()
	var out []string
	for inv := range s.active {
		msg := inv.where
		if pos := s.funcPosition(inv.fn); pos != "" {
			msg += " (" + pos + ")"
		}
		if inv.url != "" {
			msg += " for " + inv.url
		}
		msg += " is waiting on a promise that nothing can resolve"
		out = append(out, msg)
	}
	var holders []string
	for _, site := range s.waiting {
		holders = append(holders, site)
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	sort.Strings(out)
	sort.Strings(holders)
	holders = slices.Compact(holders)
	for _, h := range holders {
		out = append(out, "ResultHolder.get_result() never resolved, awaited at "+h)
	}
	// Re-check: a job may have been posted while we looked.
	if !s.loop.quiescent() {
		return nil
	}
	return out
}

var funcDecl = regexp.MustCompile(`(?m)^\s*(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(`)

// funcPosition finds where an exported function is declared in the user's
// source (through the source map); "" when unknown.
func (s *Spider) funcPosition(name string) string {
	return s.funcPos[name]
}

// findPositions fills funcPos once, in New.
func (s *Spider) findPositions() {
	pos := map[string]string{}
	code := s.prog.Code
	lines := strings.Split(code, "\n")
	for i, line := range lines {
		m := funcDecl.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		name := line[m[2]:m[3]]
		if _, seen := pos[name]; seen {
			continue
		}
		if file, l, c, ok := s.prog.Original(i+1, m[2]+1); ok {
			pos[name] = fmt.Sprintf("%s:%d:%d", file, l, c)
		}
	}
	s.funcPos = pos
}

// maxParsedAhead bounds the pages parsed ahead and waiting for the loop:
// enough to keep the loop fed while other cores parse, few enough that
// parsed documents do not pile up when the loop is the bottleneck.
func maxParsedAhead() int { return 4 * goruntime.GOMAXPROCS(0) }

// parseAhead parses an HTML or XML response (the caller checked which) in
// the calling (engine) goroutine before its callback is queued on the event
// loop: the parse is
// memoized on the response, so the callback's selectors find it ready and
// the single loop goroutine spends its time on JavaScript only, while pages
// are parsed in parallel. Other responses (JSON, text) are left alone. A
// parse error is kept in the memo and reported when a selector is used.
//
// A page holds one of maxParsedAhead slots from its parse until its
// callback starts on the loop (release, safe to call more than once). When
// the slots are full the caller waits: it has nothing else to do until the
// loop runs its callback anyway, and waiting keeps every parse off the loop
// without letting parsed documents queue up. The slot is given back when
// the callback starts, not when it ends, so callbacks that await other
// requests never hold slots the responses they wait for would need.
func (s *Spider) parseAhead(ctx context.Context, resp *crawl.Response) (release func()) {
	select {
	case s.parseSlots <- struct{}{}:
	case <-ctx.Done():
		return func() {}
	}
	extract.Preparse(resp)
	var once sync.Once
	return func() { once.Do(func() { <-s.parseSlots }) }
}

// usesDOM tells whether the callback named label asked for its page's
// document (selectors, link extraction, forms) the last time it ran on an
// HTML or XML page; unknown callbacks are assumed to. Pages are parsed
// ahead only for those: a callback that reads response.text with regular
// expressions, or only follows URLs, never pays for a parse it does not
// use (it still gets one, lazily, the first time it asks).
func (s *Spider) usesDOM(label string) bool {
	s.domMu.Lock()
	defer s.domMu.Unlock()
	no, known := s.noDOM[label]
	return !known || !no
}

// learnDOM records whether the callback's run on resp (HTML or XML) used
// its document.
func (s *Spider) learnDOM(label string, resp *crawl.Response) {
	used := extract.Used(resp)
	s.domMu.Lock()
	if s.noDOM == nil {
		s.noDOM = map[string]bool{}
	}
	s.noDOM[label] = !used
	s.domMu.Unlock()
}

// isMarkup tells whether the response is HTML or XML (by Content-Type, or
// by its first byte when there is none).
func isMarkup(resp *crawl.Response) bool {
	if resp.Protocol == "websocket" {
		return false
	}
	ct := strings.ToLower(resp.Headers.Get("Content-Type"))
	if ct != "" {
		return strings.Contains(ct, "html") || strings.Contains(ct, "xml")
	}
	b := bytes.TrimLeft(resp.Body[:min(len(resp.Body), 512)], " \t\r\n\ufeff")
	return len(b) > 0 && b[0] == '<'
}
