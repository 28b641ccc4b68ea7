package feed

import (
	"fmt"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// FromSettings returns the Config of one feed of FEEDS or of the spec's
// feeds: (both decoded by dsl into settings.Feed): its format, else the
// one of its URI's extension; appending unless overwrite is set; the empty
// document written unless store_empty is false (Scrapy's FEED_STORE_EMPTY
// since 2.9). A relative URI is the caller's to resolve first.
func FromSettings(f settings.Feed) (Config, error) {
	c := Config{URI: f.URI, Fields: f.Fields, Encoding: f.Encoding, StoreEmpty: true}
	if f.Overwrite != nil {
		c.Overwrite = *f.Overwrite
	}
	if f.StoreEmpty != nil {
		c.StoreEmpty = *f.StoreEmpty
	}
	if f.Indent != nil {
		c.Indent = *f.Indent
	}
	var err error
	if f.Format != "" {
		if c.Format, err = ParseFormat(f.Format); err != nil {
			return c, fmt.Errorf("feeds.%s: %w", f.URI, err)
		}
	} else if c.Format, err = FormatFromPath(f.URI); err != nil {
		return c, err
	}
	return c, nil
}
