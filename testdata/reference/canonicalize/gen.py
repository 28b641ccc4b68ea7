"""Reference for URL canonicalization: w3lib's canonicalize_url and
safe_url_string on every case of cases.json.

Run as `/usr/bin/python3 gen.py OUTDIR` from this directory (or
testdata/reference/regen). Each case is {"url", and optionally
"keep_blank_values" (default True, as Scrapy calls it), "keep_fragments"
(default False), "encoding" (default None)}; expected.json holds, in the same
order, {"canonical": ..., "safe": ...}: the result string, or
{"error": "<ExceptionType>"} when w3lib raises.

joins.json lists {"base", "ref", optionally "encoding"}; expected_joins.json
holds, in the same order, what Scrapy's response.urljoin(ref) and
response.follow(ref) request: safe_url_string(urljoin(base, ref), encoding)
with base made safe first, as a response's URL is (or {"error": ...}).
"""
import json
import os
import sys

from urllib.parse import urljoin

from w3lib.url import canonicalize_url, safe_url_string


def run(fn):
    try:
        return fn()
    except Exception as e:  # recorded, not fatal
        return {"error": type(e).__name__}


def main(out):
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    rows = []
    for c in cases:
        url = c["url"]
        enc = c.get("encoding")
        rows.append({
            "canonical": run(lambda: canonicalize_url(
                url,
                keep_blank_values=c.get("keep_blank_values", True),
                keep_fragments=c.get("keep_fragments", False),
                encoding=enc)),
            "safe": run(lambda: safe_url_string(url, encoding=enc or "utf8")),
        })
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")

    with open("joins.json", encoding="utf-8") as f:
        joins = json.load(f)
    rows = [run(lambda: safe_url_string(urljoin(safe_url_string(j["base"]), j["ref"]),
                                        encoding=j.get("encoding") or "utf8"))
            for j in joins]
    with open(os.path.join(out, "expected_joins.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
