#!/usr/bin/env python3
"""Compare the JMESPath golden files with Python's jmespath (what Scrapy's
response.jmespath runs, through parsel).

    python3 runtime/extract/testdata/jmespath/python_reference.py

It runs every query of *.in.json through jmespath.search and prints each
one whose result differs from *.golden.json (written by the Go library in
go.mod: go test ./runtime/extract -run JMESPathGolden -update). Error
messages are not compared, only whether there is an error. It exits
non-zero if a difference is not listed in KNOWN below, where each is
explained (and in specs/selectors.md). Checked with jmespath 1.1.0.
"""
import glob
import json
import math
import os
import sys

import jmespath

# query -> why Python and spiderrun differ.
KNOWN = {
    "`raw`": "legacy unquoted literal: Python accepts it with a warning, Go rejects it",
    "`[1, 2`": "legacy literal: Python falls back to a string, Go rejects invalid JSON",
    "books[?t < 'M'].t": "ordering strings: Python compares them, go-jmespath gives null",
    "books[?price > '30'].t": "ordering a number and a string: Python 1.1.0 raises TypeError, the spec says null",
    "strs[?@ >= 'b']": "ordering strings: Python compares them, go-jmespath gives null",
    "`\"a\"` < `\"b\"`": "ordering strings: Python compares them, go-jmespath gives null",
    "&a": "a bare expression reference: Python returns an internal object, go-jmespath an empty object",
    "avg(e)": "avg of an empty array: Python null, go-jmespath NaN",
    "avg(`[]`)": "avg of an empty array: Python null, go-jmespath NaN",
    "mixed[?@ > `20`]": "ordering a string and a number: Python 1.1.0 raises TypeError, the spec says null",
    "`\\``": "an escaped backtick in a JSON literal: Python unescapes it, go-jmespath rejects it",
}


def same(py, golden):
    if "error" in golden:
        return isinstance(py, Exception)
    if isinstance(py, Exception):
        return False
    if "nonjson" in golden:
        return isinstance(py, float) and math.isnan(py) and golden["nonjson"] == "NaN"
    return py == golden.get("result")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    unexpected = 0
    seen = set()
    for path in sorted(glob.glob(os.path.join(here, "*.in.json"))):
        case = json.load(open(path, encoding="utf-8"))
        golden = json.load(open(path.replace(".in.json", ".golden.json"), encoding="utf-8"))
        for q, g in zip(case["queries"], golden):
            assert g["query"] == q, (path, q)
            try:
                py = jmespath.search(q, case["doc"])
                json.dumps(py)
            except Exception as e:  # noqa: BLE001 - any error counts as an error
                py = e
            if same(py, g):
                continue
            seen.add(q)
            mark = "known" if q in KNOWN else "NEW"
            if q not in KNOWN:
                unexpected += 1
            got = repr(py) if isinstance(py, Exception) else json.dumps(py, ensure_ascii=False)
            print(f"{mark:5} {os.path.basename(path)} {q!r}: python {got}; go {json.dumps(g, ensure_ascii=False)}")
            if q in KNOWN:
                print(f"      {KNOWN[q]}")
    for q in sorted(set(KNOWN) - seen):
        print(f"stale KNOWN entry (Python now agrees, or the query is gone): {q!r}")
        unexpected += 1
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
