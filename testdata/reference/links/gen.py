"""Run Scrapy 2.8's LinkExtractor on the cases of cases.json.

Usage: /usr/bin/python3 gen.py OUTDIR  (from this directory)

For each case: an HtmlResponse (XmlResponse if "xml") of the fixture
(url, Content-Type header),
LinkExtractor(**options, process_value=PROCESS_VALUES[name]) and its
extract_links(response): the links in order as {url, text, fragment,
nofollow}, or {"error": "<ExceptionType>"} when Scrapy raises. The Go test
(runtime/extract/links_reference_test.go) defines the same process_value
functions under the same names.

When Scrapy raises because safe_url_string rejects one link (a bad port, a
character the page encoding cannot encode), the error also carries
"links_if_skipped": the same extraction with that link skipped instead
(safe_url_string patched to turn its ValueError into a URL that
_link_allowed drops), which is what spiderrun gives on purpose
(specs/scrapy-differences.md).
"""
import json
import os
import re
import sys

import scrapy.linkextractors.lxmlhtml as lxmlhtml
from scrapy.http import HtmlResponse, XmlResponse
from scrapy.linkextractors import LinkExtractor

_JS_GOTO = re.compile(r"javascript:goToPage\('(.*?)'")


def js_goto(value):
    # Scrapy's documented example (LinkExtractor process_value).
    m = _JS_GOTO.search(value)
    if m:
        return m.group(1)
    return None


def keep_if_raw(value):
    # Shows what process_value receives: the href joined with the base URL
    # but not yet made safe (spaces and non-ASCII as written).
    if " " in value or "ü" in value or "HTTP://" in value:
        return value
    return None


def upper(value):
    return value.upper()


def relative_name(value):
    # A relative result is joined with the response URL, not the base.
    return "rel/" + value.rstrip("/").rsplit("/", 1)[-1]


def empty(value):
    # "" is not None: it becomes the response URL.
    return ""


PROCESS_VALUES = {
    "js_goto": js_goto,
    "keep_if_raw": keep_if_raw,
    "upper": upper,
    "relative_name": relative_name,
    "empty": empty,
}


_safe_url_string = lxmlhtml.safe_url_string


def _skipping_safe_url_string(url, *args, **kwargs):
    try:
        return _safe_url_string(url, *args, **kwargs)
    except ValueError:
        return "skipped:bad-url"  # not http(s)/ftp/file: _link_allowed drops it


def extract(case, response, options):
    links = LinkExtractor(**options).extract_links(response)
    return [
        {"url": l.url, "text": l.text, "fragment": l.fragment, "nofollow": l.nofollow}
        for l in links
    ]


def run(case):
    with open(case["fixture"], "rb") as f:
        body = f.read()
    headers = {}
    if case.get("content_type"):
        headers["Content-Type"] = case["content_type"]
    cls = XmlResponse if case.get("xml") else HtmlResponse
    response = cls(case["url"], body=body, headers=headers)
    options = dict(case["options"])
    if case.get("process_value"):
        options["process_value"] = PROCESS_VALUES[case["process_value"]]
    try:
        return extract(case, response, options)
    except Exception as e:  # noqa: BLE001 - the type is the expected output
        result = {"error": type(e).__name__}
    lxmlhtml.safe_url_string = _skipping_safe_url_string
    try:
        result["links_if_skipped"] = extract(case, response, options)
    except Exception:  # noqa: BLE001 - not a safe_url_string error
        pass
    finally:
        lxmlhtml.safe_url_string = _safe_url_string
    return result


def main():
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    expected = {}
    for case in cases:
        if case["name"] in expected:
            raise SystemExit(f"duplicate case name {case['name']}")
        expected[case["name"]] = run(case)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
