// Package dsl loads spider specs (spider.yaml): strict YAML decoding with
// the position of every key, all problems collected and reported as
// "file:line:col: key.path: message", and the typed settings table with
// Scrapy's names and precedence (defaults < spec < -s KEY=VALUE).
//
// Load and Parse check the structure of a spec: keys, types, ranges,
// enums, file references (script, js_path). What needs other packages —
// compiling the script, checking exported callbacks, regexes, XPath and CSS —
// is spiderrun.Check in the root package, so that dsl imports nothing of
// ours.
//
// Hostile input is bounded: specs over MaxSpecSize are refused before
// parsing, alias expansion is measured before anything walks the tree
// (the YAML library limits aliases only when it decodes into Go values
// itself), every walk spends from a node budget, and at most 100 errors are
// reported.
//
//	spec, err := dsl.Load("spider.yaml")
//	if err != nil {
//		for _, e := range err.(dsl.ErrorList) { fmt.Println(e) }
//	}
//	_ = spec.Settings.SetFromCLI("CONCURRENT_REQUESTS=4")
//	n := spec.Settings.Int("CONCURRENT_REQUESTS")
package dsl
