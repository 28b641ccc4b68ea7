// Package settings holds Values, the resolved and typed form of every
// setting of the settings table (dsl/settings_table.go, documented in
// specs/settings.md), and Defaults, the table's defaults.
//
// values_gen.go is generated from the table by `go run
// ./internal/gensettings` (`go generate .` at the module root runs it); a
// test fails when it is out of date. The root package's generated
// ResolveSettings is the only code that reads settings by name: it turns a
// spec's dsl.Settings (defaults < spec < -s) into Values. Each component
// reads its own settings from Values through a builder next to its code
// (downloader.FromSettings, middleware.BuiltinsFromSettings,
// engine.FromSettings, ...; Scrapy's from_crawler), and a test per
// component checks that the builder applied to Defaults gives the
// component's own documented defaults.
//
// The package imports nothing of ours, so every runtime package may use
// it; it knows nothing of YAML or of the spec.
package settings

import "encoding/json"

// KV is one entry of a mapping setting (DEFAULT_REQUEST_HEADERS,
// DEFAULT_COOKIES), in the order written. Value is a JSON-like Go value:
// string, int64, float64, bool, nil, []any or map[string]any.
type KV struct {
	Key   string
	Value any
}

// Text is the entry's value as header or cookie text: a string as it is,
// a number or a boolean as written in JSON (DNT: 1 gives "1").
func (kv KV) Text() string {
	if s, ok := kv.Value.(string); ok {
		return s
	}
	b, _ := json.Marshal(kv.Value)
	return string(b)
}
