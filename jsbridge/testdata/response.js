import { eq, ok, throws } from "./lib/assert.js";

// Response and selectors, asserted against testdata/page.html.
export function parse(response) {
  eq(response.url, "http://example.test/dir/page.html");
  eq(response.status, 200);
  eq(response.headers.get("content-type"), "text/html; charset=utf-8");
  eq(response.headers["Content-Type"], "text/html; charset=utf-8", "headers[name] is case-insensitive");
  eq(response.headers.getlist("set-cookie"), ["a=1", "b=2"]);
  eq(response.headers.get("missing", "dflt"), "dflt");
  ok(response.body instanceof Uint8Array && response.body.length > 100, "body is bytes");
  ok(response.text.indexOf("<title>Quotes</title>") > 0, "text");
  eq(response.protocol, "HTTP/1.1");
  ok(response.meta === response.meta && response.meta === response.request.meta, "meta is one object");

  const quotes = response.css("div.quote");
  eq(quotes.length, 2);
  const out = [];
  for (const q of quotes) {
    out.push({ text: q.css("span.text::text").get(), author: q.xpath(".//small/text()").get(), tags: q.css("a.tag::text").getall() });
  }
  eq(out[1], { text: "Second", author: "Bob", tags: [] });
  eq(response.css("title::text").get(), "Quotes");
  eq(response.xpath("//title/text()").get(), "Quotes");
  eq(response.css("h2::text").get("none"), "none", "get(default)");
  eq(response.css("h2::text").get(), null);
  eq(response.css("li.next a::attr(href)").get(), "page/2/");
  eq(response.css("li.next a").attrib, { href: "page/2/", rel: "next" });
  eq(quotes[0].attrib, { class: "quote", "data-id": "1" });
  eq(response.css("span.text::text").re("^(\\w+)"), ["First", "Second"]);
  eq(response.css("span.text::text").re_first("^S(\\w+)"), "econd");
  eq(response.css("span.text::text").re_first("zzz", "d"), "d");
  eq(response.re("data-id=\"(\\d)\""), ["1", "2"]);
  eq(response.xpath("//div[@data-id=$id]/span/text()", { id: "2" }).get(), "Second");
  eq(response.css("div.quote").css("small::text").getall(), ["Alice", "Bob"]);
  eq(response.css("div.quote").map((q) => q.attrib["data-id"]), ["1", "2"], "Array methods work on a SelectorList");
  eq(response.urljoin("../x?a=1"), "http://example.test/x?a=1");
  eq(response.extract_json("script#data"), { items: [1, 2] });
  throws(() => response.css("div[["), /css|selector/i, "bad CSS throws");

  const next = response.follow(response.css("li.next a")[0], { callback: "parse", meta: { p: 2 } });
  ok(next instanceof Request, "follow returns a Request");
  eq(next.url, "http://example.test/dir/page/2/");
  eq(next.meta, { p: 2 });
  eq(response.follow("/abs").url, "http://example.test/abs");
  eq(response.follow(response.css("li.next a::attr(href)")[0]).url, "http://example.test/dir/page/2/");
  eq(response.follow({ url: "link.html" }).url, "http://example.test/dir/link.html");
  eq(response.follow_all(response.css("a.tag")).map((r) => r.url), ["http://example.test/tag/a", "http://example.test/tag/b"]);
  eq(response.follow_all({ css: "a.tag" }).length, 2);
  eq(response.follow_all(["a", "b"]).map((r) => r.url), ["http://example.test/dir/a", "http://example.test/dir/b"]);

  const le = new LinkExtractor({ allow: ["tag/"] });
  eq(le.extract_links(response).map((l) => l.url), ["http://example.test/tag/a", "http://example.test/tag/b"]);
  throws(() => new LinkExtractor({ alow: ["x"] }), /did you mean "allow"/);

  const form = FormRequest.from_response(response, { formdata: { q: "go" }, callback: "parse" });
  ok(form instanceof FormRequest, "from_response gives a FormRequest");
  eq(form.method, "POST");
  eq(form.url, "http://example.test/search");
  eq(form.body, "token=t0k&q=go");
  return { ok: true };
}

export function parse_json(response) {
  eq(response.json(), { a: { b: [1, 2, 3] } });
  ok(response.json() === response.json(), "json() is parsed once");
  eq(response.jmespath("a.b[1]"), 2);
  return { ok: true };
}

// LINKEXTRACTOR_MAX_LINKS (Options.MaxLinks 2 in the test): a JS
// LinkExtractor reads at most that many links of a page.
export function parse_capped(response) {
  const le = new LinkExtractor({});
  eq(le.extract_links(response).length, 2);
  return { ok: true };
}
