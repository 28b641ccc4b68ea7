// Every output shape a callback may return (DESIGN.md §1).
const req = (n) => new Request({ url: "http://example.test/" + n });

export function none() {}
export function nul() { return null; }
export function one_request() { return req(1); }
export function one_item() { return { b: 2, a: 1, nested: { z: [1, "x", null, true] } }; }
export function map_item() { return new Map([["k2", 2], ["k1", 1]]); }
class Quote {
  constructor() { this.text = "t"; this.author = "a"; }
  get upper() { return "T"; }
}
export function class_item() { return new Quote(); }
export function error_value() { return [{ n: 1 }, new TypeError("bad page"), { n: 2 }]; }
export function array() { return [req(1), { n: 1 }, req(2)]; }
export function* generator() { yield req(1); yield { n: 1 }; yield [req(2), { n: 2 }]; }
export function promise() { return Promise.resolve([req(1), { n: 1 }]); }
export async function async_fn() { await null; return { n: 1 }; }
export async function* async_gen() {
  yield req(1);
  await new Promise((r) => setTimeout(r, 5));
  yield [{ n: 1 }, req(2)];
  yield (async function* () { yield { n: 2 }; })();
  yield Promise.resolve({ n: 3 });
}
export function iterator() {
  let i = 0;
  return { [Symbol.iterator]() { return this; }, next() { return i < 2 ? { value: { i: i++ }, done: false } : { done: true }; } };
}
export function set_of_requests() { return new Set([req(1), req(2)]); }
export function* throws_midway() { yield { n: 1 }; yield req(1); throw new RangeError("boom"); }
export async function* async_throws_midway() { yield { n: 1 }; await null; null.x; }
export function bad_string() { return ["just a string", { n: 1 }]; }
export function this_is_spider() { return { same: this === spider, name: this.name }; }
export function kwargs(response, cb_kwargs) { return { kw: cb_kwargs }; }
export async function* many(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) {
    if (i % 1000 === 0) await null;
    yield { i };
  }
}

export function throw_close() {
  throw new CloseSpider("enough");
}
export function call_close() {
  spider.close("done by hand");
  return { closing: true };
}

// Async generators are driven without the promises of esbuild's helper
// (compile.tagAsyncGenerators): every await, yield* and rejection path.
export async function* async_paths() {
  try { await Promise.reject(new Error("caught")); } catch (e) { yield { caught: e.message }; }
  try { yield Promise.reject(new Error("yield-rejected")); } catch (e) { yield { caught2: e.message }; }
  yield* (async function* () { yield { star: 1 }; await null; yield { star: 2 }; })();
  yield* [{ star: 3 }];
  const r = await (async () => 4)();
  yield { awaited: r };
  return Promise.resolve({ ignored: true });
}
async function* three() { yield { n: 1 }; yield { n: 2 }; yield { n: 3 }; }
export async function partly_consumed() { const g = three(); await g.next(); return g; }
export async function* rejected_return() { yield { n: 1 }; return Promise.reject(new RangeError("late")); }
export function lowered_tag() {
  const g = three(), f = g[Symbol.for("spiderrun.asyncgen")];
  const fresh = typeof f === "function" && f();
  g.next();
  return { tagged: Array.isArray(fresh) && typeof fresh[0].next === "function", after_next: f() };
}
