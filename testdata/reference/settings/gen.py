"""Reference for the settings table: the names and defaults of Scrapy 2.8's
scrapy.settings.default_settings (every UPPER_CASE module attribute, as
scrapy.settings.Settings loads them), so that a Go test can check that each
one is classified in dsl/settings_table.go (implemented, accepted and
ignored, or refused) and specs/settings.md says which.

Defaults are written in JSON form: dicts, lists and tuples as JSON, other
values that JSON cannot hold (classes, functions) as their repr.

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json)
"""
import json
import os
import sys

import scrapy
from scrapy.settings import default_settings


def jsonable(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return repr(v)


def main(out):
    names = sorted(n for n in dir(default_settings) if n.isupper())
    settings = {n: jsonable(getattr(default_settings, n)) for n in names}
    doc = {"scrapy": scrapy.__version__, "settings": settings}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
