// Package bench holds the crawl benchmark of issues 3 and 4: the spiderrun
// engine with a Go spider (enginecrawl), the JS spider of jsspider/ run
// through the real `spiderrun run` CLI, and a minimal hand-written Go
// crawler (the "floor": net/http + htmlquery worker pool + in-memory seen
// set), all run as subprocesses against the same generated local site so
// that CPU time and peak RSS are measured per crawler. jscrawl is the CLI's
// code path with a -cpuprofile flag, for profiling the JS spider.
// frontiercurve measures the crawler's RSS against the URLs it has seen
// and queued (issue 21). See run.sh and specs/benchmarks.md.
package bench
