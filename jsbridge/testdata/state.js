// spider.state: restored before the crawl, updated by callbacks, saved as
// JSON. Each callback asserts what it sees and yields the state.
function check(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}

export function count(response) {
  spider.state.pages = (spider.state.pages || 0) + 1;
  (spider.state.seen ??= {})[response.url] = true;
  return { pages: spider.state.pages, keys: Object.keys(spider.state) };
}

export function restored() {
  check(spider.state.pages === 2, "pages " + spider.state.pages);
  check(Number.isInteger(spider.state.pages), "integers stay integers");
  check(spider.state.nested.list[1] === "b", "nested arrays");
  check(JSON.stringify(Object.keys(spider.state)) === '["pages","nested","z","a"]', "key order " + Object.keys(spider.state));
  return { ok: true };
}

export function typed() {
  spider.state = { when: new Date(0), tags: new Set(["x"]), by: new Map([["k", 1]]), none: undefined };
}

export function with_function() {
  spider.state.fn = () => 1;
}

export function with_cycle() {
  const a = {};
  a.self = a;
  spider.state = { a };
}

export function with_getter() {
  spider.state = { get boom() { throw new Error("getter threw"); } };
}

export function not_object() {
  spider.state = [1, 2];
}

export function reset() {
  spider.state = { fine: 1 };
}
