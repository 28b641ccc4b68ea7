// Package spiderrun wires a spec (dsl), its JavaScript (jsbridge) and the
// crawl engine (runtime/...) into a runnable crawl. cmd/spiderrun is a thin
// CLI over this package.
package spiderrun
