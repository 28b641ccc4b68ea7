// Package schema holds the JSON Schema of spider.yaml
// (spider.schema.json), generated from the dsl package's Spec structs and
// settings table. Editors use it through a
// "# yaml-language-server: $schema=..." comment; `spiderrun schema` prints it.
//
// Regenerate after changing dsl: go test ./schema -update
package schema

import _ "embed"

//go:embed spider.schema.json
var spiderSchema []byte

// JSON returns the schema document (JSON Schema 2020-12).
func JSON() []byte { return append([]byte(nil), spiderSchema...) }
