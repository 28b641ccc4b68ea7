import { eq, ok, throws } from "./lib/assert.js";

export let produced = 0;

// A start generator that would never end: it must be pulled lazily.
export function* start() {
  for (let i = 0; i < 1e7; i++) {
    produced++;
    yield new Request({ url: "http://example.test/" + i });
  }
}
export function count() { return { produced }; }

export function sign(request, spider_) {
  request.headers["X-Sign"] = spider.use_execjs("sign", "get_sign", [request.url, 7]);
  eq(spider.ctx_dict.sign.call("echo", { a: [1, "b"] }), { a: [1, "b"] });
  // Objects keep their key order across contexts; bytes come back as a
  // Uint8Array.
  eq(spider.use_execjs("sign", "keys", [{ z: 1, a: 2, m: 3 }]), "z,a,m");
  const b = spider.use_execjs("sign", "bytes", [4]);
  eq(b instanceof Uint8Array, true, "bytes are a Uint8Array");
  eq(Array.from(b), [0, 3, 6, 9]);
  throws(() => spider.use_execjs("nope", "x", []), /no context "nope"/);
}
export async function replace_request(request) {
  await null;
  if (request.url.endsWith("/redirect-me")) return request.replace({ url: "http://example.test/elsewhere" });
}
export function ignore(request) {
  throw new IgnoreRequest("not wanted");
}
export function check_response(request, response) {
  if (response.status === 503) return request.replace({ dont_filter: true });
  return response;
}
export function on_exception(request, failure) {
  eq(failure.type, "TimeoutError");
  ok(failure.check("TimeoutError", "DNSLookupError") === "TimeoutError", "check");
  return new Request({ url: request.url, dont_filter: true, meta: { retried: true } });
}
export function scraped(item, response, spider_) {
  ok(spider_ === spider, "spider last");
  spider.stats.set("js/scraped", item.n + " " + response.url);
}
export function make_request_from_data(data) {
  const task = JSON.parse(data);
  return task.ids.map((id) => new Request({ url: "http://example.test/item/" + id, meta: { id } }));
}
export function nested_error(response) {
  return level1(response.meta);
}
function level1(meta) {
  return level2(meta.missing);
}
function level2(x) {
  return { v: x.deep };
}
export function encoding() {
  const bytes = new TextEncoder().encode("héllo");
  eq(Array.from(bytes), [104, 195, 169, 108, 108, 111]);
  eq(new TextDecoder().decode(bytes), "héllo");
  eq(btoa("hi"), "aGk=");
  eq(atob("aGk="), "hi");
  const u = new URL("https://example.test/a?b=1");
  u.searchParams.append("c", "2");
  eq(u.toString(), "https://example.test/a?b=1&c=2");
  eq(new URLSearchParams({ q: "x y" }).toString(), "q=x+y");
  let fired = 0;
  const id = setTimeout(() => { fired++; }, 1);
  clearTimeout(id);
  return new Promise((resolve) => {
    let n = 0;
    const iv = setInterval(() => {
      if (++n === 3) {
        clearInterval(iv);
        resolve({ fired, n });
      }
    }, 1);
  });
}

// CrawlSpider rule hooks.
export function keep_first(links) {
  return links.slice(0, 1);
}
export async function add_header(request, response) {
  if (request.url.endsWith("/skip")) return null;
  request.headers["X-From"] = response.url;
  return request;
}
export function lower(value) {
  return value.includes("logout") ? null : value.toLowerCase();
}
export function* tag_results(response, results) {
  for (const r of results) {
    if (r instanceof Request) yield r;
    else yield { ...r, tagged: true };
  }
  yield { extra: response.url };
}
export function sessions() {
  const id = spider.hooks.session.register_sessions({
    u1: { sid: "1" },
    u2: "sid=2",
    u3: { cookies: { sid: "3" }, headers: { "X-Account": "u3" }, proxy: "http://127.0.0.1:9" },
  });
  spider.hooks.session.end_session(id, "u1");
  const r = new Request({ url: "http://example.test/", session_id: id, meta: { session_member: "u2" } });
  spider.hooks.session.end_session(r);
  let err = null;
  try {
    spider.hooks.session.end_session("nobody");
  } catch (e) {
    err = e.message;
  }
  return { id, err };
}
export function scraped_nil(item, response, spider_) {
  eq(response, null, "a missing response is null");
  eq(item.n, 1);
}
