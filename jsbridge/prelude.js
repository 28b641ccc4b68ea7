// The spiderrun prelude: runs once per runtime, before the user's script,
// with `__native` (Go functions) in scope. It defines the JS-side classes and
// the output driver, and returns the internals Go keeps (the built-ins that
// ignore vm.Interrupt are guarded from Go beforehand: package jsguard). Everything here is closed over: after it
// returns, user code reaches none of it except through the globals it set.
(function (__native) {
  "use strict";
  const G = globalThis;
  // goja has no Symbol.asyncIterator; esbuild's helpers fall back to
  // Symbol.for("Symbol.asyncIterator"), so define it as exactly that before
  // the intrinsics are frozen.
  if (!Symbol.asyncIterator) {
    Object.defineProperty(Symbol, "asyncIterator", { value: Symbol.for("Symbol.asyncIterator") });
  }
  const then = Promise.prototype.then;
  const isArray = Array.isArray;
  const asyncIter = Symbol.asyncIterator;
  const syncIter = Symbol.iterator;
  const defineProperty = Object.defineProperty;
  const getProto = Object.getPrototypeOf;

  // ---- exceptions (Scrapy names) ----------------------------------------
  function errorClass(name, defaultMessage) {
    const C = class extends Error {
      constructor(message) {
        super(message === undefined ? defaultMessage : String(message));
        defineProperty(this, "name", { value: name, writable: true, configurable: true });
      }
    };
    defineProperty(C, "name", { value: name });
    return C;
  }
  const DropItem = errorClass("DropItem", "item dropped");
  const CloseSpider = class extends Error {
    constructor(reason) {
      super(reason === undefined ? "cancelled" : String(reason));
      defineProperty(this, "name", { value: "CloseSpider", writable: true, configurable: true });
      this.reason = reason === undefined ? "cancelled" : String(reason);
    }
  };
  defineProperty(CloseSpider, "name", { value: "CloseSpider" });
  const IgnoreRequest = errorClass("IgnoreRequest", "request ignored");
  const DontCloseSpider = errorClass("DontCloseSpider", "do not close the spider");

  // ---- ResultHolder --------------------------------------------------------
  // set_result may come before or after get_result; every get_result gets
  // the same promise. Waiting get_result calls are reported when the crawl
  // stalls (Go records their call sites).
  class ResultHolder {
    constructor() {
      let resolve;
      const p = new Promise((r) => { resolve = r; });
      defineProperty(this, "__p", { value: p });
      defineProperty(this, "__resolve", { value: resolve });
      defineProperty(this, "__state", { value: { set: false, wait: 0 } });
    }
    set_result(v) {
      const st = this.__state;
      if (st.set) return;
      st.set = true;
      if (st.wait) __native.holderSet(this);
      this.__resolve(v);
    }
    get_result() {
      const st = this.__state;
      if (!st.set && st.wait === 0) {
        st.wait = 1;
        __native.holderWait(this);
      }
      return this.__p;
    }
    get done() { return this.__state.set; }
  }

  // ---- the output driver ---------------------------------------------------
  // drive walks a callback's return value and sends each request, item or
  // error to sink as soon as it is produced. It returns undefined when it
  // finished synchronously and a promise otherwise, so plain returns and
  // sync generators cost no promise turn.
  function isThenable(v) {
    return v instanceof Promise || (v !== null && typeof v.then === "function" && !(v instanceof Request));
  }
  const ObjectProto = Object.prototype;
  function drive(v, sink) {
    if (v === undefined || v === null) return undefined;
    const t = typeof v;
    if (t !== "object" && t !== "function") {
      sink.bad(v);
      return undefined;
    }
    // Fast paths for the common cases: a plain-object item, a Request.
    const proto = getProto(v);
    if (proto === ObjectProto && v.then === undefined && v.next === undefined &&
        v[syncIter] === undefined && v[asyncIter] === undefined) {
      sink.item(v);
      return undefined;
    }
    if (proto === RequestProto || v instanceof Request) { sink.request(v); return undefined; }
    if (isThenable(v)) return driveThen(v, sink);
    if (v instanceof Error) { sink.error(v); return undefined; }
    if (isArray(v)) return driveIter(v[syncIter](), sink);
    if (typeof v[asyncIter] === "function") {
      const lowered = typeof v[loweredAsyncGen] === "function" && v[loweredAsyncGen]();
      if (lowered) return driveLowered(lowered[0], lowered[1], sink);
      return driveAsync(v[asyncIter](), sink);
    }
    if (typeof v.next === "function" && typeof v[syncIter] === "function") return driveIter(v, sink);
    if (v instanceof Map || t === "function") { sink.item(v); return undefined; }
    if (typeof v[syncIter] === "function" && getProto(v) !== Object.prototype) return driveIter(v[syncIter](), sink);
    sink.item(v);
    return undefined;
  }
  // driveThen drives what the thenable v settles to. Apart from drive, so
  // that drive makes no closure: a function that makes one allocates its
  // scope on every call, and drive runs once per yielded value.
  function driveThen(v, sink) {
    return then.call(Promise.resolve(v), (x) => drive(x, sink));
  }
  // driveIter and driveAsync step with one outer promise, never a chain of
  // nested ones, so a generator yielding a million values keeps constant
  // memory.
  function driveIter(it, sink) {
    for (;;) {
      const r = it.next();
      if (r.done) return undefined;
      const p = drive(r.value, sink);
      if (p !== undefined) return continueIter(it, sink, p);
    }
  }
  function continueIter(it, sink, first) {
    return new Promise((resolve, reject) => {
      const resume = () => {
        try {
          for (;;) {
            const r = it.next();
            if (r.done) { resolve(); return; }
            const p = drive(r.value, sink);
            if (p !== undefined) { then.call(p, resume, reject); return; }
          }
        } catch (e) {
          reject(e);
        }
      };
      then.call(first, resume, reject);
    });
  }
  function driveAsync(it, sink) {
    return new Promise((resolve, reject) => {
      const onNext = (r) => {
        try {
          if (r.done) { resolve(); return; }
          const p = drive(r.value, sink);
          if (p === undefined) step();
          else then.call(p, step, reject);
        } catch (e) {
          reject(e);
        }
      };
      const step = () => {
        try {
          then.call(it.next(), onNext, reject);
        } catch (e) {
          reject(e);
        }
      };
      step();
    });
  }
  // driveLowered drives an `async function*` as esbuild lowered it (see
  // asyncGenReturn in jsbridge/compile): gen is the sync generator, whose
  // `await x` steps yield `new Await(x)`. It does what esbuild's
  // __asyncGenerator helper and driveAsync do together — await what the
  // generator awaits, await a yielded promise, throw rejections back into
  // the generator — but hands every other yielded value to the sink
  // synchronously, without a promise per yield.
  const loweredAsyncGen = Symbol.for("spiderrun.asyncgen");
  function driveLowered(gen, Await, sink) {
    return new Promise((resolve, reject) => {
      let k = "next", arg;
      const resumeWith = (y) => { k = "next"; arg = y; step(); };
      const throwIn = (e) => { k = "throw"; arg = e; step(); };
      const step = () => {
        try {
          for (;;) {
            const x = gen[k](arg);
            const v = x.value;
            k = "next";
            arg = undefined;
            if (v instanceof Await) {
              // await (v[1]: a yield* step, which resumes with {done, value})
              then.call(Promise.resolve(v[0]), v[1] ? (y) => resumeWith({ done: y.done, value: y.value }) : resumeWith, throwIn);
              return;
            }
            if (x.done) {
              // An async generator's return value is awaited, then dropped.
              if (v !== null && (typeof v === "object" || typeof v === "function") && isThenable(v)) then.call(Promise.resolve(v), () => resolve(), reject);
              else resolve();
              return;
            }
            if (v !== null && (typeof v === "object" || typeof v === "function") && isThenable(v)) {
              // `yield promise` yields what it settles to.
              then.call(Promise.resolve(v), (y) => {
                try {
                  const p = drive(y, sink);
                  if (p === undefined) step();
                  else then.call(p, step, reject);
                } catch (e) {
                  reject(e);
                }
              }, throwIn);
              return;
            }
            const p = drive(v, sink);
            if (p !== undefined) { then.call(p, step, reject); return; }
          }
        } catch (e) {
          reject(e);
        }
      };
      step();
    });
  }
  // run calls fn and drives its result; sink.done(error) is called exactly
  // once at the end. mws is the spider middleware chain, engine side first:
  // [{input, output, exception}] with null for a hook a middleware lacks
  // (or null: none). With input set (a callback on a response), every
  // process_spider_input runs first, engine side first; an exception from
  // one, from the callback or from its output goes through the
  // process_spider_exception hooks, spider side first, until one returns an
  // output, which then passes the process_spider_output hooks of the
  // middlewares closer to the engine (Scrapy's order).
  function outputHooks(mws, k) {
    const out = [];
    for (let i = 0; i < k; i++) if (mws[i].output) out.push(mws[i].output);
    return out;
  }
  // chainInfo caches on the chain array its output hooks and whether any
  // middleware has an input or exception hook.
  function chainInfo(mws) {
    if (mws.__info === undefined) {
      let hooked = false;
      for (const m of mws) hooked = hooked || !!m.input || !!m.exception;
      mws.__info = { outputs: outputHooks(mws, mws.length), hooked };
    }
    return mws.__info;
  }
  function run(fn, self, args, sink, mws, response, input) {
    const n = mws ? mws.length : 0;
    const info = n ? chainInfo(mws) : null;
    if (info === null || !info.hooked) {
      // The common case: no input or exception hooks, no closures.
      let p;
      try {
        let v = fn.apply(self, args);
        if (info !== null && info.outputs.length) v = wrapOutput(v, info.outputs, response === undefined ? args[0] : response, self);
        p = drive(v, sink);
      } catch (e) {
        sink.done(e === undefined ? null : e);
        return;
      }
      if (p === undefined) sink.done(undefined);
      else then.call(p, () => sink.done(undefined), (e) => sink.done(e === undefined ? null : e));
      return;
    }
    runHooked(fn, self, args, sink, mws, response === undefined ? args[0] : response, input, info);
  }
  function runHooked(fn, self, args, sink, mws, resp, input, info) {
    const n = mws.length;
    const outputs = (k) => outputHooks(mws, k);
    const settle = (p, onError) => {
      if (p === undefined) sink.done(undefined);
      else then.call(p, () => sink.done(undefined), (e) => onError(e === undefined ? null : e));
    };
    const fail = (e) => sink.done(e === undefined ? null : e);
    const failed = (e) => {
      if (e === undefined) e = null;
      for (let i = n - 1; i >= 0; i--) {
        const h = mws[i].exception;
        if (!h) continue;
        let r, p;
        try {
          r = h.call(self, resp, e, self);
          if (r === undefined || r === null) continue;
          const outs = outputs(i);
          p = drive(outs.length ? wrapOutput(r, outs, resp, self) : r, sink);
        } catch (e2) {
          fail(e2);
          return;
        }
        settle(p, fail);
        return;
      }
      sink.done(e);
    };
    const callback = () => {
      let p;
      try {
        let v = fn.apply(self, args);
        if (info.outputs.length) v = wrapOutput(v, info.outputs, resp, self);
        p = drive(v, sink);
      } catch (e) {
        failed(e);
        return;
      }
      settle(p, failed);
    };
    if (!input) {
      callback();
      return;
    }
    let i = 0;
    const inputs = () => {
      for (; i < n; i++) {
        const h = mws[i].input;
        if (!h) continue;
        let r;
        try {
          r = h.call(self, resp, self);
        } catch (e) {
          failed(e);
          return;
        }
        if (r !== null && (typeof r === "object" || typeof r === "function") && isThenable(r)) {
          i++;
          then.call(Promise.resolve(r), inputs, failed);
          return;
        }
      }
      callback();
    };
    inputs();
  }
  // call calls fn and settles with its (awaited) value — no driving: used by
  // pipelines, middlewares and hooks that return one value.
  function call(fn, self, args, sink) {
    let v;
    try {
      v = fn.apply(self, args);
    } catch (e) {
      sink.done(e, undefined);
      return;
    }
    if (v !== null && (typeof v === "object" || typeof v === "function") && isThenable(v)) {
      then.call(Promise.resolve(v), (x) => sink.done(undefined, x), (e) => sink.done(e === undefined ? null : e, undefined));
    } else {
      sink.done(undefined, v);
    }
  }

  // ---- start requests --------------------------------------------------------
  // pullStart returns a function that resolves the next start value (or
  // `done`) — one value per call, so a start generator of millions of
  // requests is consumed lazily under the engine's backpressure.
  function flattenAsync(v) {
    // Turn any output shape into an async iterator of leaf values.
    const out = [];
    let waiting = null;
    let finished = false;
    let failure;
    const wake = () => { if (waiting) { const w = waiting; waiting = null; w(); } };
    const sink = {
      request(r) { out.push(r); wake(); },
      item(i) { out.push(i); wake(); },
      error(e) { out.push(e); wake(); },
      bad(b) { out.push(b); wake(); },
      done(e) { finished = true; failure = e; wake(); },
    };
    let started = false;
    const it = {
      next() {
        if (!started) { started = true; run(() => v, undefined, [], sink); }
        if (out.length) return Promise.resolve({ value: out.shift(), done: false });
        if (finished) {
          if (failure !== undefined) { const f = failure; failure = undefined; return Promise.reject(f); }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => { waiting = resolve; }).then(() => it.next());
      },
      return() { finished = true; out.length = 0; return Promise.resolve({ value: undefined, done: true }); },
    };
    it[asyncIter] = () => it;
    return it;
  }
  // lazyStart wraps a start() result: unlike flattenAsync it never runs ahead
  // of the consumer, because it pulls the underlying iterator one step per
  // next() call.
  function lazyStart(v) {
    let inner = null; // current async iterator of nested values
    const stack = [];
    function open(x) {
      if (x !== null && typeof x === "object" && !(x instanceof Request) && !(x instanceof Error)) {
        if (typeof x[asyncIter] === "function") return x[asyncIter]();
        if (isArray(x) || (typeof x.next === "function" && typeof x[syncIter] === "function")) {
          const s = isArray(x) ? x[syncIter]() : x;
          return { next: () => Promise.resolve(s.next()), return: () => Promise.resolve(s.return ? s.return() : { done: true }) };
        }
      }
      return null;
    }
    let root = open(v);
    let pendingScalar = root ? undefined : v;
    let scalarDone = root !== null;
    const it = {
      next() {
        if (!scalarDone) {
          scalarDone = true;
          return Promise.resolve(pendingScalar).then((x) => {
            const o = open(x);
            if (o) { root = o; return it.next(); }
            if (x === undefined || x === null) return { value: undefined, done: true };
            return { value: x, done: false };
          });
        }
        const cur = stack.length ? stack[stack.length - 1] : root;
        if (!cur) return Promise.resolve({ value: undefined, done: true });
        return cur.next().then((r) => {
          if (r.done) {
            if (stack.length) { stack.pop(); return it.next(); }
            root = null;
            return { value: undefined, done: true };
          }
          return Promise.resolve(r.value).then((x) => {
            const o = open(x);
            if (o) { stack.push(o); return it.next(); }
            if (x === undefined || x === null) return it.next();
            return { value: x, done: false };
          });
        });
      },
      return() {
        for (const s of stack) if (s.return) s.return();
        if (root && root.return) root.return();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    it[asyncIter] = () => it;
    return it;
  }
  function startURLs(urls, make) {
    let i = 0;
    const it = {
      next() {
        if (i >= urls.length) return Promise.resolve({ value: undefined, done: true });
        return Promise.resolve({ value: make(urls[i++]), done: false });
      },
      return() { i = urls.length; return Promise.resolve({ value: undefined, done: true }); },
    };
    it[asyncIter] = () => it;
    return it;
  }

  // ---- spider middlewares ----------------------------------------------------
  // isAsyncGenFn recognizes async generator functions after esbuild lowered
  // them (they become plain functions returning __asyncGenerator(...)).
  const fnToString = Function.prototype.toString;
  function isAsyncGenFn(f) {
    if (f.constructor && f.constructor.name === "AsyncGeneratorFunction") return true;
    const src = fnToString.call(f);
    return src.indexOf("__asyncGenerator(") >= 0;
  }
  async function collect(v) {
    const out = [];
    const it = flattenAsync(v);
    for (;;) {
      const r = await it.next();
      if (r.done) return out;
      out.push(r.value);
    }
  }
  // wrapOutput passes a callback's result through process_spider_output
  // middlewares (last in the list first, as Scrapy calls them from the spider
  // outward). An async generator middleware streams; any other function gets
  // the output collected into an array first, as in Scrapy.
  function wrapOutput(result, mws, response, spider) {
    let cur = result;
    for (let i = mws.length - 1; i >= 0; i--) {
      const mw = mws[i];
      if (isAsyncGenFn(mw)) {
        cur = mw.call(spider, response, flattenAsync(cur), spider);
      } else {
        const prev = cur;
        cur = collect(prev).then((arr) => mw.call(spider, response, arr, spider));
      }
    }
    return cur;
  }
  function wrapStart(start, mws, spider) {
    let cur = start;
    for (let i = mws.length - 1; i >= 0; i--) {
      cur = mws[i].call(spider, cur, spider);
    }
    return cur;
  }

  // ---- classes from Go -----------------------------------------------------
  const Request = __native.Request;
  const RequestProto = Request.prototype;
  G.Request = Request;
  G.HttpRequest = Request;
  G.FormRequest = __native.FormRequest;
  G.WebSocketRequest = __native.WebSocketRequest;
  G.ResultHolder = ResultHolder;
  G.DropItem = DropItem;
  G.CloseSpider = CloseSpider;
  G.IgnoreRequest = IgnoreRequest;
  G.DontCloseSpider = DontCloseSpider;

  return {
    run, call, drive, wrapOutput, wrapStart, lazyStart, startURLs, flattenAsync,
    ResultHolder, DropItem, CloseSpider, IgnoreRequest, DontCloseSpider,
    isThenable,
  };
})
