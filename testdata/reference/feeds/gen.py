"""Reference for feed exports: runs Scrapy 2.8's item exporters as its
FeedExporter drives them (fields_to_export=FEED_EXPORT_FIELDS,
encoding=FEED_EXPORT_ENCODING, indent=FEED_EXPORT_INDENT, default 0) on the
item sets of items.json, for every case of cases.json.

Every case is written twice: "scrapy" with the exporter's defaults, and
"compact" with separators=(",", ":") passed to the JSON exporters (what
our JSON looks like: JSON.stringify's). FEED_EXPORT_ENCODING defaults to
"utf-8", as in the settings.py of every project `scrapy startproject`
creates. The bytes are stored as text (base64 when not UTF-8).

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json)
"""
import base64
import io
import json
import os
import sys

from scrapy.exporters import (
    CsvItemExporter,
    JsonItemExporter,
    JsonLinesItemExporter,
    XmlItemExporter,
)

EXPORTERS = {
    "json": JsonItemExporter,
    "jsonlines": JsonLinesItemExporter,
    "csv": CsvItemExporter,
    "xml": XmlItemExporter,
}


def export(case, items, compact):
    buf = io.BytesIO()
    kwargs = {
        "fields_to_export": case.get("fields"),
        "encoding": case.get("encoding", "utf-8"),
        "indent": case.get("indent", 0),
    }
    if compact and case["format"] in ("json", "jsonlines"):
        kwargs["separators"] = (",", ":")
    try:
        exp = EXPORTERS[case["format"]](buf, **kwargs)
        exp.start_exporting()
        for item in items:
            exp.export_item(item)
        exp.finish_exporting()
    except Exception as e:  # recorded, compared by kind only
        return {"error": type(e).__name__}
    data = buf.getvalue()
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def main():
    out = sys.argv[1]
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    with open("items.json", encoding="utf-8") as f:
        items = json.load(f)
    result = {
        c["name"]: {
            "scrapy": export(c, items[c["items"]], False),
            "compact": export(c, items[c["items"]], True),
        }
        for c in cases
    }
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
