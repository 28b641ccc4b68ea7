"""Reference for sitemaps: runs Scrapy 2.8's scrapy.utils.sitemap (Sitemap,
sitemap_urls_from_robots) and scrapy.utils.gz.gzip_magic_number on cases.json.

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json)
"""
import json
import os
import sys

from scrapy.http import Request, Response
from scrapy.utils.gz import gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots


def sitemap(name):
    with open(name, "rb") as f:
        body = f.read()
    try:
        s = Sitemap(body)
        return {"type": s.type, "entries": list(s)}
    except Exception as e:  # recorded, compared by kind only
        return {"error": type(e).__name__}


def robots(case):
    with open(case["file"], "rb") as f:
        text = f.read().decode("utf-8")
    urls = list(sitemap_urls_from_robots(text, base_url=case["base"]))
    # What SitemapSpider requests: Request() makes each URL safe.
    return {"urls": urls, "requested": [Request(u).url for u in urls]}


def main():
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    result = {
        "sitemaps": {n: sitemap(n) for n in cases["sitemaps"]},
        "robots": [robots(c) for c in cases["robots"]],
        "gzip_magic": {
            h: gzip_magic_number(Response("http://a.test/s.xml.gz", body=bytes.fromhex(h)))
            for h in cases["gzip_magic"]
        },
    }
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
