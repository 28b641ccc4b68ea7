import { eq, ok, throws } from "./lib/assert.js";
import { Request as R2, FormRequest as F2 } from "spiderrun";

export const holder = new ResultHolder();

// Every field of DESIGN.md §3, asserted in JS, then yielded for Go to check.
export function full() {
  const r = new Request({
    url: "https://example.test/search?x=1#frag",
    method: "put",
    params: { q: "go lang", page: 2 },
    headers: { "User-Agent": "ua", Accept: ["a/b", "c/d"] },
    body: "raw",
    cookies: "sid=1; lang=en",
    proxies: { https: "http://proxy.test:8080" },
    timeout: 2.5,
    max_retry_times: 3,
    retry_delay: 0.5,
    allow_redirects: false,
    max_redirects: 4,
    verify: false,
    impersonate: "chrome",
    http_version: "2",
    meta: { holder, n: 1, nested: { a: [1, 2] }, fn: () => 1 },
    cb_kwargs: { kind: "quote" },
    dont_filter: true,
    priority: 7,
    callback: parse_item,
    errback: "on_error",
    session_id: "s1",
    desc_text: "search",
  });
  eq(r.url, "https://example.test/search?x=1&q=go+lang&page=2#frag", "url with params");
  eq(r.method, "PUT");
  eq(r.headers.Accept, ["a/b", "c/d"]);
  ok(r.meta.holder === holder, "meta keeps the same holder object");
  ok(r.callback === parse_item, "callback is the function");
  ok(r instanceof Request && r instanceof R2, "instanceof Request (global and module)");
  eq(R2, Request, "virtual module exports the global");
  eq(HttpRequest, Request, "HttpRequest alias");
  return r;
}

export function data_json() {
  const form = new Request({ url: "http://example.test/form", data: { a: "1", b: ["x", "y"] } });
  eq(form.method, "POST");
  eq(form.body, "a=1&b=x&b=y");
  const js = new Request("http://example.test/api", { json: { k: [1, "2"] }, callback: "parse_item" });
  eq(js.body, '{"k":[1,"2"]}');
  eq(js.headers["Content-Type"], "application/json");
  const fr = new FormRequest({ url: "http://example.test/login", formdata: { user: "u", pw: "p w" } });
  ok(fr instanceof Request && fr instanceof F2, "FormRequest extends Request");
  eq(fr.body, "user=u&pw=p+w");
  const get = new FormRequest({ url: "http://example.test/s", method: "GET", formdata: { q: "a" } });
  eq(get.url, "http://example.test/s?q=a");
  const copy = js.replace({ dont_filter: true, meta: { x: 1 } });
  ok(copy !== js && copy.dont_filter && copy.meta.x === 1 && copy.url === js.url, "replace");
  const ws = new WebSocketRequest({ url: "wss://example.test/ws", websocket_id: "w1", send_message: ["hello", new WebSocketMsg(new Uint8Array([1, 2]))] });
  ok(ws instanceof Request, "WebSocketRequest extends Request");
  return [form, js, fr, get, copy, ws];
}

export function invalid() {
  throws(() => new Request({ url: "/relative" }), /url must be absolute/);
  throws(() => new Request({ url: "http://x.test/", calback: "parse_item" }), /unknown option "calback" \(did you mean "callback"\?\)/);
  throws(() => new Request({ url: "http://x.test/", callback: "nope" }), /callback "nope" is not an exported function \(exported: .*parse_item/);
  throws(() => new Request({ url: "http://x.test/", http_version: "4" }), /http_version "4" \(want "1.1", "2", "3" or "auto"\)/);
  throws(() => new Request({}), /url is required/);
  throws(() => new Request({ url: "http://x.test/", formdata: { a: "1" } }), /option "formdata" is for FormRequest/);
  throws(() => new WebSocketRequest({ url: "http://x.test/" }), /ws:\/\/ or wss:\/\//);
  return { ok: true };
}

export function closure() {
  const local = (response) => ({ local: response.url });
  return new Request({ url: "http://example.test/closure", callback: local });
}

export function parse_item(response, cb_kwargs) {
  ok(response.meta.holder === holder, "response.meta.holder is the very same object");
  eq(response.meta.nested, { a: [1, 2] });
  eq(response.meta.depth, 0);
  eq(typeof response.meta.fn, "function");
  ok(response.request.callback === parse_item, "request.callback");
  eq(cb_kwargs, { kind: "quote" });
  ok(response.cb_kwargs === cb_kwargs, "response.cb_kwargs is the argument");
  return { kind: cb_kwargs.kind };
}
export function on_error() {}
