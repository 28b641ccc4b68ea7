// Package jsbridge runs a spider's JavaScript callbacks in an embedded goja
// runtime and implements engine.Spider for them.
//
// # Execution model
//
// One goja runtime and one event loop per spider (see loop.go): a single
// goroutine touches JavaScript values; every other goroutine posts jobs.
// Async Go work (spider.download, timers) reserves a slot on the loop
// before it starts and posts its completion exactly once — so a loop with
// nothing queued, nothing reserved and nothing running cannot make progress,
// which is how stalls are detected. The engine calls Callback, Errback,
// pipelines and middlewares from its own goroutines; each call posts a job
// and waits. Callbacks may wait a long time (a generator awaiting
// ResultHolders), so the engine must run them concurrently.
//
// A callback's return value is driven until exhausted and streamed: each
// yielded Request reaches Output.Request as soon as it is yielded. Shapes:
// undefined/null, a Request, an item (plain object, Map, class instance),
// an Error (reported, earlier output kept), an array, a sync iterator or
// generator, a Promise, an async iterator (`async function*`, lowered by
// esbuild), nested mixes.
//
// # Wiring (for the root package)
//
//	prog, err := compile.Compile(compile.Source{Filename: "quotes.js", Path: "spiders/quotes.js"})
//	sp, err := jsbridge.New(jsbridge.Options{
//		Program: prog, Name: spec.Name, StartURLs: spec.StartURLs,
//		AllowedDomains: spec.AllowedDomains, SessionID: spec.SessionID,
//		SpecDir: dir, DefaultCallback: spec.Callback, DefaultErrback: spec.Errback,
//		Settings: settings, Args: args, TaskData: taskData, Logger: log,
//		JSTimeout: jsTimeout, JSMemoryLimit: jsMem, CallbackTimeout: cbTimeout,
//		Hooks: spec.Hooks,                          // spider_opened / spider_idle / spider_closed run from Open / Idle / Close
//		SpiderMiddlewares: mws,                     // []jsbridge.SpiderMiddleware{{ProcessSpiderOutput, ProcessStart}}
//		ExecJS: ctxs,                               // *execjs.Contexts from execjs.Load(spec.JSPath, ...)
//	})
//	defer sp.Shutdown()                          // idempotent; after Run returns
//	pipe, err := sp.Pipeline("clean")           // pipeline.Pipeline
//	dm, err := sp.DownloaderMiddleware("sign", "check_ban", "on_exc") // Request/Response/ExceptionProcessor
//	sig := engine.NewSignals()
//	sig.Connect(sp.SignalHandler())             // item_scraped, response_received, ... hooks
//	hooks := sp.CrawlSpiderHooks()              // crawlspider.Options.Hooks (process_links, ...)
//	reqs, ok, err := sp.MakeRequestsFromData(ctx, data) // RedisSpider entries
//	engine.New(engine.Options{Spider: sp, Pipelines: []pipeline.Pipeline{pipe}, Signals: sig, ...})
//
// *Spider implements engine.Spider, engine.Opener, engine.Closer,
// engine.IdleHandler and engine.StallReporter. Close stops the loop (or,
// with a SignalHandler connected, the spider_closed event does); Shutdown
// stops it without hooks and is safe to call again. Callbacks of a JS spider
// run one at a time on its loop: bound the responses waiting for it (the
// engine's MaxActiveSize / MaxPendingItems; see specs/js-api.md) or memory
// grows with the backlog.
//
// # Limits
//
// Each turn of JavaScript is bounded by JSTimeout (vm.Interrupt, with the
// callback and file:line in the message) and by JSMemoryLimit (live-heap
// growth): package jsguard's Watchdog, shared with the use_execjs contexts.
// The built-ins that ignore the interrupt are capped by jsguard.Install
// (strings 16 Mi characters, walked arrays 4 Mi elements, buffers 64 MiB,
// JSON and array nesting 1000; every regex has a 1s match timeout that
// throws instead of silently not matching). Recursion is bounded by
// MaxCallStack (a RangeError). Built-in prototypes are frozen after the
// prelude, so one page's data cannot pollute the next. A turn that does
// not stop within a grace period after its interrupt is stuck in a
// built-in: the runtime is abandoned (ErrAbandoned) and the crawl is
// closed with reason js_runtime_abandoned. CallbackTimeout
// (CALLBACK_TIMEOUT) bounds a whole invocation, awaits included: one still
// running then ends with ErrCallbackTimeout and its timers are cleared.
//
// # Errors
//
// JavaScript errors are *Error: Pos is the user's original file:line:col
// (through the source map of jsbridge/compile; inline scripts name the YAML
// file), Stack the JS stack without helper frames, Type the JS error name
// (ErrorType() for stats). What goja returned is classified by
// jsguard.Classify (exception, limit, interrupt, stack overflow), as in
// execjs; the rendering is this package's own.
//
// # Layout
//
// One file per JS-facing class, each with its install function: response.go
// (Response), selector.go (Selector), selectorlist.go (SelectorList),
// headers.go (response.headers), linkextractor.go (LinkExtractor),
// request.go (Request, WebSocketRequest), requestopts.go (their options),
// formrequest.go (FormRequest.from_response), failure.go (what errbacks
// receive), resultholder.go (ResultHolder's Go hooks), spiderobj.go
// (spider), console.go, timers.go, encoding.go (TextEncoder, TextDecoder,
// atob, btoa); globals.go installs them all. values.go converts values:
// Go → JS through package jsvalue, shared with execjs; JS → Go (items,
// meta) with JSON semantics of its own.
//
// The JavaScript API is documented in specs/js-api.md and typed in
// jsbridge/spiderrun.d.ts.
package jsbridge
