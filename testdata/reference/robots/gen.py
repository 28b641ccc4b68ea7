"""Reference for robots.txt: runs Scrapy 2.8's ProtegoRobotParser (the
default ROBOTSTXT_PARSER) on every file x URL x user agent of cases.json.

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json)
"""
import json
import logging
import os
import sys

from scrapy.robotstxt import ProtegoRobotParser


def run(name, agents, urls):
    with open(name, "rb") as f:
        body = f.read()
    rp = ProtegoRobotParser(body, None)
    allowed = {}
    for ua in agents:
        # one string per agent: "1" allowed, "0" disallowed, in URL order
        allowed[ua] = "".join("1" if rp.allowed(u, ua) else "0" for u in urls)
    return {
        "allowed": allowed,
        "crawl_delay": {ua: rp.rp.crawl_delay(ua) for ua in agents},
        "sitemaps": list(rp.rp.sitemaps),
    }


def real_urls(body):
    """URLs built from a real file's own rules: each pattern with its
    wildcards filled in, plus a longer and a query variant."""
    urls = ["/", "/index.html", "/search?q=1", "/a/b/c", "/robots.txt"]
    for line in body.decode("utf-8", "replace").splitlines():
        field, _, value = line.partition(":")
        if field.strip().lower() not in ("allow", "disallow"):
            continue
        path = value.split("#")[0].strip()
        if not path:
            continue
        path = path.replace("*", "x").rstrip("$")
        if not path.startswith("/"):
            path = "/" + path
        urls += [path, path + "z", path + "/a?b=c"]
    seen = []
    for u in urls:
        if u not in seen:
            seen.append(u)
    return ["https://www.example.com" + u for u in seen[:400]]


def real_agents(body, agents):
    found = []
    for line in body.decode("utf-8", "replace").splitlines():
        field, _, value = line.partition(":")
        value = value.split("#")[0].strip()
        if field.strip().lower() == "user-agent" and value and value not in found:
            found.append(value)
    return agents[:6] + found[:12]


def main():
    logging.disable(logging.CRITICAL)  # the latin-1 file logs a warning
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    result = {n: run(n, cases["agents"], cases["urls"]) for n in cases["files"]}
    for n in cases["real"]:
        with open(os.path.join("real", n), "rb") as f:
            body = f.read()
        urls, agents = real_urls(body), real_agents(body, cases["agents"])
        result["real/" + n] = dict(run(os.path.join("real", n), agents, urls), urls=urls, agents=agents)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
