"""Reference for selectors: parsel (Debian's python3-parsel, the version
Scrapy 2.8 runs with) on every case of cases.json.

Run as `/usr/bin/python3 gen.py OUTDIR` from this directory (or
testdata/reference/regen). cases.json is {"fixtures": {name: document},
"cases": [...]}; a case is {"name", "doc" or "fixture", "type" ("html",
"xml" or absent: parsel guesses), "steps": [{"css": q} or {"xpath": q,
"namespaces": {...}, "vars": {...}}] applied in turn to the SelectorList,
"out": "getall" (default), "get", "attrib", "re" or "re_first" (with
"pattern"), "strip": true to keep only the stripped non-empty values, as
parsel's CSS tests compare}. expected.json maps each name to the result:
a list of strings, a string or null, [name, value] pairs for "attrib", or
{"error": "<ExceptionType>"}.
"""
import json
import os
import sys

import parsel
from parsel import Selector


def one(c, fixtures):
    doc = fixtures[c["fixture"]] if "fixture" in c else c["doc"]
    sel = Selector(text=doc, type=c.get("type"))
    cur = parsel.SelectorList([sel])
    for st in c["steps"]:
        if "css" in st:
            cur = cur.css(st["css"])
        else:
            cur = cur.xpath(st["xpath"], namespaces=st.get("namespaces"), **st.get("vars", {}))
    out = c.get("out", "getall")
    if out == "getall":
        res = cur.getall()
    elif out == "get":
        return cur.get()
    elif out == "attrib":
        return [[k, v] for k, v in cur.attrib.items()]
    elif out == "re":
        res = cur.re(c["pattern"])
    elif out == "re_first":
        return cur.re_first(c["pattern"])
    else:
        raise SystemExit("unknown out %r" % out)
    if c.get("strip"):
        res = [v.strip() for v in res if v.strip()]
    return res


def main(out):
    with open("cases.json", encoding="utf-8") as f:
        data = json.load(f)
    res = {}
    for c in data["cases"]:
        if c["name"] in res:
            raise SystemExit("duplicate case name %r" % c["name"])
        try:
            res[c["name"]] = one(c, data["fixtures"])
        except Exception as e:  # recorded, not fatal
            res[c["name"]] = {"error": type(e).__name__}
    res["_parsel_version"] = parsel.__version__
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
