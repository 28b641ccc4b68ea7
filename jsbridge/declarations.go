package jsbridge

import _ "embed"

//go:embed spiderrun.d.ts
var declarations []byte

// Declarations returns spiderrun.d.ts, the TypeScript declarations of the
// JavaScript API (specs/js-api.md) this binary implements: what
// `spiderrun types` prints and `spiderrun new --template ts` writes. The
// caller gets its own copy.
func Declarations() []byte { return append([]byte(nil), declarations...) }
