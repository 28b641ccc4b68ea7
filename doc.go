// Package spiderrun wires a spec (dsl), its JavaScript (jsbridge) and the
// crawl engine (runtime/...) into a runnable crawl. cmd/spiderrun is a thin
// CLI over this package.
package spiderrun

// The typed settings (runtime/settings.Values, and ResolveSettings here)
// are generated from the settings table, dsl/settings_table.go.
//go:generate go run ./internal/gensettings
