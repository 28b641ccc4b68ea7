package crawlspider

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the CrawlSpider options of the settings:
// CRAWLSPIDER_FOLLOW_LINKS and LINKEXTRACTOR_MAX_LINKS. The rules, the
// hooks and the rest are the caller's. The zero Options cap no links (as
// Scrapy); a crawl caps them at LINKEXTRACTOR_MAX_LINKS (10 000; a test
// keeps the difference).
func FromSettings(v *settings.Values) Options {
	follow := v.CrawlSpiderFollowLinks
	return Options{FollowLinks: &follow, MaxLinks: v.LinkExtractorMaxLinks}
}

// SitemapFromSettings returns the SitemapSpider options of the settings:
// DOWNLOAD_MAXSIZE bounds a gunzipped sitemap.
func SitemapFromSettings(v *settings.Values) SitemapOptions {
	return SitemapOptions{MaxSize: v.DownloadMaxSize}
}
