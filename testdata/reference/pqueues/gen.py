"""Reference for the per-slot queues (SCHEDULER_PRIORITY_QUEUE
scrapy.pqueues.DownloaderAwarePriorityQueue): Scrapy 2.8's own
DownloaderAwarePriorityQueue, over FIFO memory queues, with its real
Downloader keying the slots (meta download_slot, else the URL's host name,
lowercased, without the port), popped until empty.

Run as `/usr/bin/python3 gen.py OUTDIR` from this directory (or
testdata/reference/regen). cases.json is a list of {"name", "seed",
"requests": [{"url", "priority" (default 0), "slot" (meta download_slot,
optional)}]}, pushed in order.

Before each pop the slots' active download counts (Scrapy's
len(downloader.slots[key].active)) are set, from the seeded generator, so
that Scrapy's rule (the fewest active downloads, then the smallest slot
key) and spiderrun's (the highest priority among the slots' heads, then
the fewest active downloads, then round-robin) pick the same slot: the
slots whose head has the highest priority get distinct counts below every
other slot's. What the pop order then checks is the keying of slots, the
order within a slot (priority, then FIFO) and the fewest-active rule.
expected.json maps each name to a list of steps {"active": {slot: n},
"url": popped URL}.
"""
import json
import os
import random
import sys
from types import SimpleNamespace

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.pqueues import DownloaderAwarePriorityQueue
from scrapy.squeues import FifoMemoryQueue
from scrapy.utils.test import get_crawler


def run(case, crawler):
    dl = Downloader(crawler)
    crawler.engine = SimpleNamespace(downloader=dl)
    q = DownloaderAwarePriorityQueue(crawler, FifoMemoryQueue, "")
    for r in case["requests"]:
        meta = {"download_slot": r["slot"]} if "slot" in r else {}
        q.push(Request(r["url"], priority=r.get("priority", 0), meta=meta))
    rng = random.Random(case["seed"])
    steps = []
    while len(q):
        heads = {slot: -pq.curprio for slot, pq in q.pqueues.items()}
        top = max(heads.values())
        best = sorted(s for s, p in heads.items() if p == top)
        counts = list(range(len(best)))
        rng.shuffle(counts)
        above = len(best)
        active = {}
        for s, n in zip(best, counts):
            active[s] = n
        for s in sorted(heads):
            if s not in active:
                active[s] = above + rng.randrange(3)
        dl.slots.clear()
        for s, n in active.items():
            slot = Slot(1, 0, False)
            slot.active = {object() for _ in range(n)}
            dl.slots[s] = slot
        req = q.pop()
        steps.append({"active": active, "url": req.url})
    return steps


def main(out):
    with open("cases.json", encoding="utf-8") as f:
        cases = json.load(f)
    crawler = get_crawler(settings_dict={"CONCURRENT_REQUESTS_PER_IP": 0})
    res = {}
    for c in cases:
        if c["name"] in res:
            raise SystemExit("duplicate case name %r" % c["name"])
        res[c["name"]] = run(c, crawler)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
