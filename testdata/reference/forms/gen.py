"""Reference for FormRequest.from_response: runs Scrapy 2.8 on cases.json.

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json)
"""
import json
import os
import sys

from scrapy.http import FormRequest, HtmlResponse

DEFAULT_URL = "http://www.example.com/this/list.html"


def run(case):
    with open(case["page"], "rb") as f:
        body = f.read()
    headers = {"Content-Type": case.get("content_type", "text/html; charset=utf-8")}
    resp = HtmlResponse(case.get("url", DEFAULT_URL), body=body, headers=headers)
    opts = dict(case["opts"])
    if "formdata" in opts:
        opts["formdata"] = {k: v for k, v in opts["formdata"]}
    try:
        req = FormRequest.from_response(resp, **opts)
    except Exception as e:  # recorded, compared by kind only
        return {"error": type(e).__name__}
    ct = req.headers.get(b"Content-Type")
    return {
        "method": req.method,
        "url": req.url,
        "body": req.body.decode("latin-1"),
        "content_type": ct.decode("latin-1") if ct else "",
    }


def main():
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    result = {c["name"]: run(c) for c in cases}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
