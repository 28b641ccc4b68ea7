#!/bin/sh
# Reproduce the crawl benchmark of issue 3: the spiderrun engine with a Go
# spider against the hand-written Go floor crawler, both run as subprocesses
# against the same generated local site (20 000 pages of ~20 KB, 10 links
# each, 4 product fields, concurrency 64, no delay), alternating runs.
#
#   bench/run.sh            # 20 000 pages, 3 rounds of both crawlers
#   PAGES=5000 ROUNDS=1 bench/run.sh
#   PROFILE=/tmp/prof bench/run.sh   # also write CPU profiles
#   CHAIN=1 bench/run.sh    # also the engine over the full downloader
#                           # middleware chain ("enginechain")
#
# It prints pages/s, CPU-ms per page, peak RSS (VmHWM) and allocations per
# page for each crawler, and the engine's pages/s as a percentage of the
# floor's. Every run fails if a page is fetched other than exactly once or
# an item is missing.
set -eu
cd "$(dirname "$0")"
PAGES=${PAGES:-20000}
ROUNDS=${ROUNDS:-3}
export PAGES
if [ -n "${CHAIN:-}" ]; then
	export SPIDERRUN_BENCH_CHAIN=1
fi
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	export SPIDERRUN_BENCH_PROFILE="$PROFILE"
fi
SPIDERRUN_BENCH_PAGES=$PAGES go test -run '^$' -bench BenchmarkCrawl -benchtime "${ROUNDS}x" -timeout 30m . |
	awk '/^BenchmarkCrawl/ {
		printf "pages=%s rounds=%s\n", ENVIRON["PAGES"], $2
		for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") printf "  %-22s %s\n", $(i+1), $i
		next
	} /^(ok|FAIL|---)/ { print }'
