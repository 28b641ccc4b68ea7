package extract

import "github.com/spiderrun/spiderrun/runtime/crawl"

// Parsed tells whether Root has already parsed resp (successfully or not),
// without parsing it.
func Parsed(resp *crawl.Response) bool {
	_, ok := resp.Cached(rootKey{})
	return ok
}
