"""Reference for SitemapSpider's own logic: runs Scrapy 2.8's real
scrapy.spiders.SitemapSpider (start_requests, _parse_sitemap) on the
responses of cases.json, without a network.

Usage: /usr/bin/python3 gen.py OUTDIR       (writes OUTDIR/expected.json)
       /usr/bin/python3 gen.py --make-gz    (rewrites the *.gz fixtures here)

Each case builds a SitemapSpider subclass with the case's sitemap_urls,
sitemap_rules, sitemap_follow and sitemap_alternate_links and one method per
callback name, then records:

- "start": the requests of start_requests();
- "responses": for each response (url, headers, body fixture), built with
  the class Scrapy's download handler picks (responsetypes.from_args), the
  requests _parse_sitemap yields, in order; "error" the exception type when
  the generator raised (the requests before it are kept, as Scrapy's
  scraper keeps them); "warning" whether SitemapSpider logged "Ignoring
  invalid sitemap"; "class" the response class;
- "init_error": the exception type when the spider cannot be built.

"filter" in a case's spider overrides sitemap_filter(entries): keep the
entries whose lastmod (first 10 characters; none counts as the future) is
>= lastmod_since, reversed when "reverse", without alternates when
"drop_alternates".

A request is {"url", "callback" (the method's name), "meta", "dont_filter"}.

When a Request() raises ValueError (a <loc> with no scheme), the same run is
repeated with those requests skipped instead ("requests_if_skipped"): what
spiderrun gives on purpose (specs/scrapy-differences.md).

The *.gz fixtures are committed bytes (gzip.compress(mtime=0)); --make-gz
rebuilds them from the plain fixtures, corruptions included.
"""
import gzip
import json
import logging
import os
import sys

import scrapy.spiders.sitemap as sitemap_module
from scrapy.http import Headers, Request
from scrapy.responsetypes import responsetypes
from scrapy.spiders import SitemapSpider


def make_gz():
    def gz(b):
        return gzip.compress(b, compresslevel=9, mtime=0)

    def read(n):
        with open(n, "rb") as f:
            return f.read()

    u, i, b = read("urlset.xml"), read("index.xml"), read("blog.xml")
    files = {
        "urlset.xml.gz": gz(u),
        "index.xml.gz": gz(i),
        "truncated.xml.gz": gz(u)[: len(gz(u)) * 6 // 10],
        "badcrc.xml.gz": gz(b)[:-8] + bytes(x ^ 0xFF for x in gz(b)[-8:-4]) + gz(b)[-4:],
        "trailing.xml.gz": gz(b) + b"garbage!",
        "zeros.xml.gz": gz(b) + b"\0" * 16,
        "multi.xml.gz": gz(b[:100]) + gz(b[100:]),
        "headeronly.gz": gz(b)[:10],
        "magic.gz": b"\x1f\x8b\x08",
        "page.html.gz": gz(read("page.html")),
        "empty.gz": gz(b""),
    }
    for n, d in files.items():
        with open(n, "wb") as f:
            f.write(d)


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += 1


_warnings = _Warnings()
logging.getLogger(sitemap_module.__name__).addHandler(_warnings)
logging.getLogger(sitemap_module.__name__).propagate = False


def spider_class(spec):
    attrs = {"name": "ref"}
    for key in ("sitemap_urls", "sitemap_follow", "sitemap_alternate_links"):
        if key in spec:
            attrs[key] = spec[key]
    if "sitemap_rules" in spec:
        attrs["sitemap_rules"] = [tuple(r) for r in spec["sitemap_rules"]]
    flt = spec.get("filter")
    if flt:
        def sitemap_filter(self, entries):
            """The filter the Go test implements too."""
            out = [
                e for e in entries
                if e.get("lastmod", "9999")[:10] >= flt.get("lastmod_since", "")
            ]
            if flt.get("reverse"):
                out.reverse()
            for e in out:
                if flt.get("drop_alternates"):
                    e.pop("alternate", None)
                yield e

        attrs["sitemap_filter"] = sitemap_filter
    names = {"parse"} | {c for _, c in attrs.get("sitemap_rules", [])}
    for n in names:
        def cb(self, response):  # never called
            return None

        cb.__name__ = n
        attrs[n] = cb
    return type("RefSitemapSpider", (SitemapSpider,), attrs)


def request_dict(r):
    return {
        "url": r.url,
        "callback": r.callback.__name__,
        "meta": r.meta,
        "dont_filter": r.dont_filter,
    }


def drain(gen):
    """The requests a generator yields, and the exception it ends with."""
    out = {"requests": []}
    try:
        for r in gen:
            out["requests"].append(request_dict(r))
    except Exception as e:  # noqa: BLE001 - recorded by type
        out["error"] = type(e).__name__
    return out


def _skipping_request(*a, **kw):
    try:
        return Request(*a, **kw)
    except ValueError:
        return None


def drain_skipping(gen_fn):
    sitemap_module.Request = _skipping_request
    try:
        out = {"requests": []}
        try:
            for r in gen_fn():
                if r is not None:
                    out["requests"].append(request_dict(r))
        except Exception as e:  # noqa: BLE001
            out["error"] = type(e).__name__
        return out
    finally:
        sitemap_module.Request = Request


def body_of(r):
    if "body" in r:
        with open(r["body"], "rb") as f:
            return f.read()
    return r.get("text", "").encode("utf-8")


def run_case(case):
    try:
        spider = spider_class(case["spider"])()
    except Exception as e:  # noqa: BLE001
        return {"init_error": type(e).__name__}
    result = {"start": drain(spider.start_requests()), "responses": []}
    if result["start"].get("error") == "ValueError":
        skipped = drain_skipping(spider.start_requests)
        result["start"]["requests_if_skipped"] = skipped["requests"]
    for r in case.get("responses", []):
        body = body_of(r)
        headers = Headers(r.get("headers", {}))
        cls = responsetypes.from_args(headers=headers, url=r["url"], body=body)
        response = cls(url=r["url"], headers=headers, body=body)
        _warnings.count = 0
        got = drain(spider._parse_sitemap(response))
        got["warning"] = _warnings.count > 0
        got["class"] = cls.__name__
        if got.get("error") == "ValueError":
            skipped = drain_skipping(lambda: spider._parse_sitemap(response))
            got["requests_if_skipped"] = skipped["requests"]
            if "error" in skipped:
                got["error_if_skipped"] = skipped["error"]
        result["responses"].append(got)
    return result


def main():
    if sys.argv[1] == "--make-gz":
        make_gz()
        return
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    expected = {}
    for case in cases:
        if case["name"] in expected:
            raise SystemExit(f"duplicate case name {case['name']}")
        expected[case["name"]] = run_case(case)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
