"""Run Scrapy 2.8's own downloader-middleware code on cases.json and write
OUTDIR/expected.json (see ../README.md):

- chain:   DownloaderMiddlewareManager.download with scripted middlewares
           (which methods run, in what order, with which response or
           exception, and what comes out);
- order:   the DOWNLOADER_MIDDLEWARES_BASE order with user middlewares at
           543, per method;
- retry:   RetryMiddleware over a scripted sequence of responses and
           exceptions (actions, final meta, stats);
- redirect: RedirectMiddleware then MetaRefreshMiddleware (their
           process_response order) over scripted responses;
- status_messages: the retry reason of each HTTP status;
- urllength: UrlLengthMiddleware.process_spider_output on a callback's
           requests and items (what passes, the log lines, the stat).
"""
import json
import logging
import os
import sys

from twisted.internet import defer
from twisted.internet import error as txerror
from twisted.web.client import ResponseFailed

from scrapy import Spider
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response
from scrapy.settings import Settings
from scrapy.spidermiddlewares.urllength import UrlLengthMiddleware
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message
from scrapy.utils.test import get_crawler

logging.disable(logging.CRITICAL)

BASE = "http://ref.test/"


# ---- chain ----------------------------------------------------------------


class Scripted:
    def __init__(self, spec, trace):
        self.name = spec["name"]
        self.spec = spec
        self.trace = trace

    def _answer(self, what, method, default):
        url = BASE + self.name + "." + method
        if what == "response":
            return Response(url)
        if what == "request":
            return Request(url)
        if what == "raise":
            raise ValueError(self.name + "." + method)
        return default

    def process_request(self, request, spider):
        self.trace.append(self.name + ".req")
        return self._answer(self.spec.get("req"), "req", None)

    def process_response(self, request, response, spider):
        self.trace.append(self.name + ".resp(" + response.url + ")")
        return self._answer(self.spec.get("resp"), "resp", response)

    def process_exception(self, request, exception, spider):
        self.trace.append(self.name + ".exc(" + str(exception) + ")")
        return self._answer(self.spec.get("exc"), "exc", None)


def run_chain(case):
    trace = []
    mws = [AbsentFilter(Scripted(spec, trace)) for spec in case["mws"]]
    mgr = DownloaderMiddlewareManager(*mws)
    spider = Spider("ref")

    def download(request, spider):
        trace.append("download")
        if case["download"] == "error":
            return defer.fail(ValueError("download"))
        return defer.succeed(Response(BASE + "download"))

    out = []
    d = mgr.download(download, Request(BASE + "start"), spider)
    d.addCallbacks(out.append, lambda f: out.append(f))
    res = out[0]
    if isinstance(res, Response):
        outcome = "response " + res.url
    elif isinstance(res, Request):
        outcome = "request " + res.url
    else:
        outcome = "failure " + str(res.value)
    return {"trace": trace, "outcome": outcome}


class AbsentFilter:
    """Exposes only the methods the case gives the middleware."""

    def __init__(self, mw):
        for m, key in (("process_request", "req"), ("process_response", "resp"), ("process_exception", "exc")):
            if mw.spec.get(key) != "absent":
                setattr(self, m, getattr(mw, m))


# ---- order ----------------------------------------------------------------


def run_order(case):
    user = {p: 543 for p in case["user"]}
    paths = build_component_list(Settings({"DOWNLOADER_MIDDLEWARES": user}).getwithbase("DOWNLOADER_MIDDLEWARES"))
    out = {"process_request": [], "process_response": [], "process_exception": []}
    for p in paths:
        name = p.rsplit(".", 1)[-1]
        if p in user:
            methods = ("process_request", "process_response", "process_exception")
        else:
            cls = load_object(p)
            methods = [m for m in out if hasattr(cls, m)]
        for m in methods:
            out[m].append(name)
    out["process_response"].reverse()
    out["process_exception"].reverse()
    return out


# ---- retry ----------------------------------------------------------------

EXCEPTIONS = {
    "TimeoutError": lambda: txerror.TimeoutError(),
    "TCPTimedOutError": lambda: txerror.TCPTimedOutError(),
    "DNSLookupError": lambda: txerror.DNSLookupError(),
    "ConnectionRefusedError": lambda: txerror.ConnectionRefusedError(),
    "ConnectionLost": lambda: txerror.ConnectionLost(),
    "ResponseFailed": lambda: ResponseFailed([]),
    "IgnoreRequest": lambda: IgnoreRequest(),
}


def make_request(spec):
    kw = dict(url=spec.get("url", BASE + "page"))
    for k in ("method", "body", "headers", "meta", "priority", "dont_filter"):
        if k in spec:
            kw[k] = spec[k]
    return Request(**kw)


def req_state(r, keys):
    meta = {k: r.meta[k] for k in keys if k in r.meta}
    return meta


def run_retry(case):
    crawler = get_crawler(Spider, settings_dict=case.get("settings", {}))
    spider = crawler._create_spider("ref")
    crawler.stats = MemoryStatsCollector(crawler)
    spider.crawler = crawler
    mw = RetryMiddleware.from_crawler(crawler)
    req = make_request(case.get("request", {}))
    actions = []
    for step in case["steps"]:
        if "exception" in step:
            res = mw.process_exception(req, EXCEPTIONS[step["exception"]](), spider)
        else:
            resp = Response(req.url, status=step["status"])
            res = mw.process_response(req, resp, spider)
            if res is resp:
                actions.append({"action": "response", "status": resp.status})
                break
        if res is None:
            actions.append({"action": "give up"})
            break
        actions.append({
            "action": "retry",
            "retry_times": res.meta["retry_times"],
            "priority": res.priority,
            "dont_filter": res.dont_filter,
        })
        req = res
    stats = {k: v for k, v in crawler.stats.get_stats().items() if k.startswith("retry/")}
    return {"actions": actions, "meta": req_state(req, ["retry_times"]), "stats": stats}


# ---- redirect ---------------------------------------------------------------


def run_redirect(case):
    crawler = get_crawler(Spider, settings_dict=case.get("settings", {}))
    spider = crawler._create_spider("ref")
    for k, v in case.get("spider", {}).items():
        setattr(spider, k, v)
    redirect = RedirectMiddleware.from_crawler(crawler)
    refresh = MetaRefreshMiddleware.from_crawler(crawler)
    req = make_request(case.get("request", {}))
    actions = []
    for step in case["steps"]:
        headers = dict(step.get("headers", {}))
        cls = Response
        if "body" in step:
            cls = HtmlResponse
            headers.setdefault("Content-Type", "text/html")
        resp = cls(step.get("url", req.url), status=step.get("status", 200), headers=headers,
                   body=step.get("body", "").encode("utf-8"))
        try:
            res = redirect.process_response(req, resp, spider)
            if isinstance(res, Response):
                res = refresh.process_response(req, res, spider)
        except IgnoreRequest as e:
            actions.append({"action": "ignore", "reason": str(e)})
            break
        if isinstance(res, Response):
            actions.append({"action": "response", "status": res.status})
            break
        hdrs = {}
        for h in ("Authorization", "Cookie", "Content-Type", "Content-Length", "X-Keep"):
            if h in res.headers:
                hdrs[h] = res.headers[h].decode("latin-1")
        actions.append({
            "action": "redirect",
            "url": res.url,
            "method": res.method,
            "body": res.body.decode("utf-8"),
            "headers": hdrs,
            "priority": res.priority,
            "dont_filter": res.dont_filter,
            "meta": req_state(res, ["redirect_times", "redirect_urls", "redirect_reasons", "redirect_ttl"]),
        })
        req = res
    return {"actions": actions}


# ---- urllength -------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append([record.levelname, record.getMessage()])


def run_urllength(case):
    crawler = get_crawler(Spider, {"URLLENGTH_LIMIT": case["limit"]})
    spider = crawler._create_spider("ref")
    mw = UrlLengthMiddleware.from_settings(crawler.settings)
    result = []
    for u in case["urls"]:
        result.append(Request(u) if u else {"item": True})
    log = logging.getLogger("scrapy.spidermiddlewares.urllength")
    cap = _Capture()
    log.addHandler(cap)
    logging.disable(logging.NOTSET)
    log.setLevel(logging.DEBUG)
    try:
        out = list(mw.process_spider_output(None, result, spider))
    finally:
        logging.disable(logging.CRITICAL)
        log.removeHandler(cap)
    return {
        "requests": [r.url for r in result if isinstance(r, Request)],
        "kept": [r.url if isinstance(r, Request) else "item" for r in out],
        "log": cap.lines,
        "ignored": crawler.stats.get_value("urllength/request_ignored_count", 0),
    }


def main():
    outdir = sys.argv[1]
    with open("cases.json") as f:
        cases = json.load(f)
    out = {
        "chain": {c["name"]: run_chain(c) for c in cases["chain"]},
        "order": run_order(cases["order"]),
        "retry": {c["name"]: run_retry(c) for c in cases["retry"]},
        "redirect": {c["name"]: run_redirect(c) for c in cases["redirect"]},
        "status_messages": {str(c): response_status_message(c) for c in cases["status_messages"]},
        "urllength": {c["name"]: run_urllength(c) for c in cases["urllength"]},
    }
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
