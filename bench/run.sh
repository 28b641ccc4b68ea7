#!/bin/sh
# Reproduce the crawl benchmark of issues 3 and 4: the spiderrun engine with
# a Go spider, the JS spider (bench/jsspider, run through the real
# `spiderrun run` CLI) and the hand-written Go floor crawler, each run as a
# subprocess against the same generated local site (20 000 pages of ~20 KB,
# 10 links each, 4 product fields, concurrency 64, no delay), alternating
# runs.
#
#   bench/run.sh            # 20 000 pages, 3 rounds of every crawler
#   PAGES=5000 ROUNDS=1 bench/run.sh
#   PROFILE=/tmp/prof bench/run.sh   # also write CPU profiles (the JS
#                           # spider then runs through bench/jscrawl, the
#                           # CLI's code path with -cpuprofile):
#                           # go tool pprof -top $PROFILE/js.pprof
#   JOBDIR=1 bench/run.sh   # the JS spider with --jobdir (and the floor):
#                           # the cost of the group commit
#   CHAIN=1 bench/run.sh    # also the engine over the full downloader
#                           # middleware chain ("enginechain")
#   LATENCY=50ms bench/run.sh   # the site waits 50 ms before each response
#   CRAWLERS=floor,js bench/run.sh   # only these crawlers
#   VARIANTS='gc100:env:GOGC=100;slot:s:SCRAPER_SLOT_MAX_ACTIVE_SIZE=100KB;old:bin:/tmp/spiderrun-old' \
#     bench/run.sh          # variants of the JS spider in the same rounds
#                           # ("js-NAME"; tokens s:K=V, env:K=V, bin:PATH,
#                           # jobdir: for a fresh --jobdir each round),
#                           # reported against the floor and the plain JS
#                           # spider (pages/s and CPU per page, in %)
#
# It prints pages/s, CPU-ms per page, peak RSS (VmHWM) and allocations per
# page for each crawler (not for the CLI, which cannot count them), and the
# engine's and the JS spider's pages/s as a percentage of the floor's:
# medians over the rounds, each round's figures and the load average are
# logged too. Every run fails if a page is fetched other than exactly once
# or an item is missing.
set -eu
cd "$(dirname "$0")"
PAGES=${PAGES:-20000}
ROUNDS=${ROUNDS:-3}
export PAGES ROUNDS
if [ -n "${JOBDIR:-}" ]; then
	export SPIDERRUN_BENCH_JOBDIR=1
fi
if [ -n "${CHAIN:-}" ]; then
	export SPIDERRUN_BENCH_CHAIN=1
fi
if [ -n "${LATENCY:-}" ]; then
	export SPIDERRUN_BENCH_LATENCY="$LATENCY"
fi
if [ -n "${CRAWLERS:-}" ]; then
	export SPIDERRUN_BENCH_CRAWLERS="$CRAWLERS"
fi
if [ -n "${VARIANTS:-}" ]; then
	export SPIDERRUN_BENCH_VARIANTS="$VARIANTS"
fi
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	export SPIDERRUN_BENCH_PROFILE="$PROFILE"
fi
SPIDERRUN_BENCH_PAGES=$PAGES SPIDERRUN_BENCH_ROUNDS=$ROUNDS go test -run '^$' -bench BenchmarkCrawl -benchtime 1x -timeout 30m . 2>&1 |
	awk '/^BenchmarkCrawl/ {
		printf "pages=%s rounds=%s (medians)\n", ENVIRON["PAGES"], ENVIRON["ROUNDS"]
		for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") printf "  %-22s %s\n", $(i+1), $i
		next
	} /^round / { print "  " $0; next
	} /^(ok|FAIL|---|    )/ { print }'
