// Package bench holds the crawl benchmark of issue 3: the spiderrun engine
// with a Go spider against a minimal hand-written Go crawler (the "floor":
// net/http + htmlquery worker pool + in-memory seen set), both run as
// subprocesses against the same generated local site so that CPU time and
// peak RSS are measured per crawler. See run.sh and specs/engine.md.
package bench
