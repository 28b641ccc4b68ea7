#!/usr/bin/env python3
"""Replay the selector equivalence cases through real parsel.

Dump the cases with
    go test ./runtime/extract -run ParselEquivalence -dump-cases /tmp/cases.json
then run this script with a Python that has parsel (for example Debian's
python3-parsel: apt-get install python3-parsel; /usr/bin/python3 ...).
It prints every case where parsel disagrees with the expected value and
exits non-zero if there is one that is not listed in KNOWN below.
"""
import json
import sys

from parsel import Selector

# Cases where the expected value follows a newer parsel than Debian's 1.7.0
# (C1 references mapped through cp1252, XML detected from the declaration).
KNOWN = {"C1 reference through cp1252", "xml css", "xml declaration detected"}


def main(path):
    rows = json.load(open(path))
    unexpected = 0
    for r in rows:
        try:
            s = Selector(text=r["Doc"], type=r["Typ"] or None)
            if r["CSS"]:
                got = s.css(r["CSS"]).getall()
            else:
                got = s.xpath(r["XPath"], namespaces=r["NS"], **(r["Vars"] or {})).getall()
        except Exception as e:  # an error is a disagreement too
            got = ["%s: %s" % (type(e).__name__, e)]
        if r["Strip"]:
            got = [g.strip() for g in got if g.strip()]
        if got != r["Want"]:
            mark = "known" if r["Name"] in KNOWN else "DIFF"
            unexpected += mark == "DIFF"
            print("%s %s\n  parsel: %r\n  want:   %r" % (mark, r["Name"], got, r["Want"]))
    print("%d cases, %d unexpected differences" % (len(rows), unexpected))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
