"""Reference for feed exports: runs Scrapy 2.8's item exporters as its
FeedExporter drives them (fields_to_export=FEED_EXPORT_FIELDS,
encoding=FEED_EXPORT_ENCODING, indent=FEED_EXPORT_INDENT, default 0) on the
item sets of items.json, for every case of cases.json.

Every case is written twice: "scrapy" with the exporter's defaults, and
"compact" with separators=(",", ":") passed to the JSON exporters (what
our JSON looks like: JSON.stringify's). FEED_EXPORT_ENCODING defaults to
"utf-8", as in the settings.py of every project `scrapy startproject`
creates. The bytes are stored as text (base64 when not UTF-8).

A case may also give "kwargs" (FEEDS' item_export_kwargs, passed to
the exporter as FeedExporter passes them), "fields" as a mapping (field
name -> output name), and "postprocessing" (plugin paths) with
"feed_options" (gzip_compresslevel, ...): the exporter then writes through
Scrapy's PostProcessingManager, as FeedExporter does, and the stored bytes
are the output decompressed in the reverse order of the plugins (what
the file holds once decompressed; the compressed bytes carry time stamps
and differ between implementations).

batches.json runs Scrapy's FeedExporter itself (batch_item_count,
FEED_EXPORT_BATCH_ITEM_COUNT, %(batch_id)d URIs, postprocessing) over
numbered items and stores every file it leaves, decompressed, in
expected_batches.json.

Usage: /usr/bin/python3 gen.py OUTDIR  (writes OUTDIR/expected.json and
OUTDIR/expected_batches.json)
"""
import base64
import bz2
import gzip
import io
import lzma
import json
import os
import sys
import tempfile

from scrapy.extensions.postprocessing import PostProcessingManager
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


DECOMPRESS = {
    "scrapy.extensions.postprocessing.GzipPlugin": gzip.decompress,
    "scrapy.extensions.postprocessing.Bz2Plugin": bz2.decompress,
    "scrapy.extensions.postprocessing.LZMAPlugin": lzma.decompress,
}


class KeptBytesIO(io.BytesIO):
    """The storage's file: the plugins close it; its bytes are kept."""

    def close(self):
        pass


def export(case, items, compact):
    buf = KeptBytesIO()
    # As FeedExporter._start_new_batch calls the exporter: the feed's
    # fields, encoding and indent by name, then **item_export_kwargs (so an
    # item_export_kwargs "indent" is a TypeError, as in Scrapy).
    kwargs = dict(case.get("kwargs", {}))
    if "separators" in kwargs:
        kwargs["separators"] = tuple(kwargs["separators"])
    elif compact and case["format"] in ("json", "jsonlines"):
        kwargs["separators"] = (",", ":")
    plugins = case.get("postprocessing", [])
    try:
        file = buf
        if plugins:
            file = PostProcessingManager(plugins, buf, case.get("feed_options", {}))
        exp = EXPORTERS[case["format"]](
            file,
            fields_to_export=case.get("fields"),
            encoding=case.get("encoding", "utf-8"),
            indent=case.get("indent", 0),
            **kwargs,
        )
        exp.start_exporting()
        for item in items:
            exp.export_item(item)
        exp.finish_exporting()
        if plugins:
            file.close()
    except Exception as e:  # recorded, compared by kind only
        return {"error": type(e).__name__}
    data = buf.getvalue()
    for p in reversed(plugins):
        data = DECOMPRESS[p](data)
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def run_batches(case):
    """Runs Scrapy's FeedExporter (batch_item_count, postprocessing) over
    case["items"] numbered items in a temporary directory and returns
    every file it left, decompressed as in export(), by name."""
    from scrapy import Spider
    from scrapy.extensions.feedexport import FeedExporter
    from scrapy.utils.test import get_crawler

    class BatchSpider(Spider):
        name = "batches"

    with tempfile.TemporaryDirectory() as tmp:
        settings = {"FEED_EXPORT_ENCODING": "utf-8", "FEEDS": {os.path.join(tmp, case["uri"]): case["feed"]}}
        settings.update(case.get("settings", {}))
        crawler = get_crawler(BatchSpider, settings_dict=settings)
        spider = crawler._create_spider("batches")
        fe = FeedExporter.from_crawler(crawler)
        fe.open_spider(spider)
        for i in range(1, case["items"] + 1):
            fe.item_scraped({"id": i, "name": "n%d" % i}, spider)
        fe.close_spider(spider)
        files = {}
        for dirpath, _, names in os.walk(tmp):
            for name in names:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    data = f.read()
                for p in reversed(case["feed"].get("postprocessing", [])):
                    data = DECOMPRESS[p](data) if data else data
                files[os.path.relpath(path, tmp)] = data.decode("utf-8")
        return files


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
    with open("batches.json", encoding="utf-8") as f:
        batches = json.load(f)
    result = {c["name"]: run_batches(c) for c in batches}
    with open(os.path.join(out, "expected_batches.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
