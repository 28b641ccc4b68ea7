"""Reference for request fingerprints: Scrapy 2.8's
scrapy.utils.request.fingerprint (the REQUEST_FINGERPRINTER_IMPLEMENTATION
"2.7" fingerprint that runtime/scheduler follows) on every case of
cases.json.

Run as `/usr/bin/python3 gen.py OUTDIR` from this directory (or
testdata/reference/regen). A case is {"name", "url", and optionally
"method", "headers" ([name, value] pairs), "body" (text, UTF-8) or
"body_hex", "pad" ({"byte", "to"}: the body padded with byte up to "to"
bytes), "include_headers", "keep_fragments"}. expected.json maps each name
to the hex SHA-1 fingerprint (or {"error": "<ExceptionType>"}).
"""
import json
import os
import sys

from scrapy import Request
from scrapy.utils.request import fingerprint


def body_of(c):
    if "body_hex" in c:
        body = bytes.fromhex(c["body_hex"])
    else:
        body = c.get("body", "").encode("utf-8")
    pad = c.get("pad")
    if pad:
        body += pad["byte"].encode("ascii") * (pad["to"] - len(body))
    return body


def one(c):
    r = Request(c["url"], method=c.get("method", "GET"), body=body_of(c))
    for k, v in c.get("headers", []):
        r.headers.appendlist(k, v)  # repeated names keep every value
    return fingerprint(r, include_headers=c.get("include_headers"),
                       keep_fragments=c.get("keep_fragments", False)).hex()


def main(out):
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    res = {}
    for c in cases:
        if c["name"] in res:
            raise SystemExit("duplicate case name %r" % c["name"])
        try:
            res[c["name"]] = one(c)
        except Exception as e:  # recorded, not fatal
            res[c["name"]] = {"error": type(e).__name__}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
