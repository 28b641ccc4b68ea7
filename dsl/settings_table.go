package dsl

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// table is every setting spiderrun knows, in one place (like Scrapy's
// default_settings.py). specs/settings.md and the JSON Schema are generated
// from it; add a setting here and nowhere else.
var table = []SettingDef{
	// Concurrency and politeness.
	{Name: "CONCURRENT_REQUESTS", Kind: KindInt, Default: 16, Min: minOf(1),
		Doc: "Maximum number of requests in flight for the whole spider."},
	{Name: "CONCURRENT_REQUESTS_PER_DOMAIN", Kind: KindInt, Default: 8, Min: minOf(1),
		Doc: "Maximum number of requests in flight to one domain (download slot)."},
	{Name: "CONCURRENT_ITEMS", Kind: KindInt, Default: 100, Min: minOf(1),
		Doc: "Maximum number of items processed by the pipelines at once, per response."},
	{Name: "SCRAPER_SLOT_MAX_ACTIVE_SIZE", Kind: KindSize, Default: int64(100_000), Min: minOf(1),
		Doc: "Stop fetching while responses waiting for or in callbacks hold more than this many bytes (Scrapy's setting; Scrapy defaults to 5 MB). Smaller here because JavaScript callbacks run one at a time on one event loop: responses queued beyond what it can parse only cost memory (20 000-page benchmark: peak RSS 215 MB with 5 MB, 56 MB with 100 KB, same pages/s). Callbacks waiting on other requests' results (ResultHolder) never deadlock on it: the engine lets the requests they wait for through."},
	{Name: "DOWNLOAD_DELAY", Kind: KindDuration, Default: time.Duration(0),
		Doc: "Delay between two requests to the same domain. A number is seconds (0.5), or a duration (\"500ms\")."},
	{Name: "RANDOMIZE_DOWNLOAD_DELAY", Kind: KindBool, Default: true,
		Doc: "Multiply DOWNLOAD_DELAY by a random factor between 0.5 and 1.5 for each request."},
	{Name: "AUTOTHROTTLE_ENABLED", Kind: KindBool, Default: false,
		Doc: "Adapt the per-domain delay to the server's latency (Scrapy's AutoThrottle), and slow down on 429/503."},
	{Name: "AUTOTHROTTLE_START_DELAY", Kind: KindDuration, Default: 5 * time.Second,
		Doc: "Initial download delay of AutoThrottle."},
	{Name: "AUTOTHROTTLE_MAX_DELAY", Kind: KindDuration, Default: 60 * time.Second,
		Doc: "Highest delay AutoThrottle may set."},
	{Name: "AUTOTHROTTLE_TARGET_CONCURRENCY", Kind: KindFloat, Default: 1.0, Check: positiveFloat,
		Doc: "Average number of requests AutoThrottle aims to have in flight to each domain."},
	{Name: "AUTOTHROTTLE_DEBUG", Kind: KindBool, Default: false,
		Doc: "Log every delay adjustment AutoThrottle makes."},

	// Downloading.
	{Name: "DOWNLOAD_TIMEOUT", Kind: KindDuration, Default: 30 * time.Second, Aliases: []string{"TIMEOUT"}, Check: positiveDuration,
		Doc: "Total time allowed for one download, body included (Scrapy: 180 s; shorter here so slow or endless bodies free their slot sooner)."},
	{Name: "DOWNLOAD_MAXSIZE", Kind: KindSize, Default: int64(32 << 20),
		Doc: "Largest response body accepted (after decompression); larger downloads are aborted. 0 = no limit. Bytes, or a size such as \"32MiB\" (Scrapy: 1 GiB, which 16 concurrent downloads can turn into 16 GiB)."},
	{Name: "DOWNLOAD_WARNSIZE", Kind: KindSize, Default: int64(8 << 20),
		Doc: "Response body size (after decompression) above which a warning is logged. 0 = never (Scrapy: 32 MiB)."},
	{Name: "DOWNLOAD_MEMORY_BUDGET", Kind: KindSize, Default: int64(256 << 20),
		Doc: "Most bytes the bodies of all downloads in progress may hold at once. A download that would go over waits (within DOWNLOAD_TIMEOUT); a body that alone needs more fails with MaxSizeExceeded. 0 = no bound. Not in Scrapy."},
	{Name: "DOWNLOAD_FAIL_ON_DATALOSS", Kind: KindBool, Default: true,
		Doc: "Treat a truncated body (fewer bytes than Content-Length, broken chunking) as a failure instead of a response flagged dataloss."},
	{Name: "DNS_TIMEOUT", Kind: KindDuration, Default: 60 * time.Second, Check: positiveDuration,
		Doc: "Time allowed for resolving a host name."},
	{Name: "URLLENGTH_LIMIT", Kind: KindInt, Default: 2083, Min: minOf(0),
		Doc: "Requests with longer URLs are dropped. 0 = no limit."},
	{Name: "USER_AGENT", Kind: KindString, Default: "spiderrun/1 (+https://github.com/spiderrun/spiderrun)",
		Doc: "User-Agent header of requests that do not set one. With IMPERSONATE the profile's browser User-Agent is used instead."},
	{Name: "DEFAULT_REQUEST_HEADERS", Kind: KindMap, Aliases: []string{"DEFAULT_HEADERS"},
		Default: []KV{{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, {"Accept-Language", "en"}},
		Check:   stringValues,
		Doc:     "Headers added to every request that does not set them, in this order."},
	{Name: "IMPERSONATE", Kind: KindString, Default: "",
		Doc: "Browser whose TLS and HTTP/2 fingerprint and default headers requests imitate: chrome, firefox, safari, edge, a versioned name such as chrome_156, random, or the path of a profile file. Empty = Go's own stack."},
	{Name: "TLS_VERIFY", Kind: KindBool, Default: true,
		Doc: "Verify server certificates. Turn off only for test servers."},
	{Name: "PROXIES", Kind: KindStrings, Default: []string{},
		Doc: "Proxy URL, or a list of proxy URLs rotated per request (http://, https://, socks5://; credentials in the URL are never logged)."},
	{Name: "NO_PROXY", Kind: KindStrings, Default: []string{},
		Doc: "Hosts reached directly in spite of PROXIES: example.com (and its subdomains), .example.com (subdomains only), an IP or CIDR prefix, or *. A request's own proxy wins."},
	{Name: "DENY_PRIVATE_NETWORKS", Kind: KindBool, Default: false,
		Doc: "Refuse to connect to loopback, private, link-local and other non-public addresses (checked after DNS resolution)."},
	{Name: "NETWORK_ALLOW", Kind: KindStrings, Default: []string{}, Check: cidrList,
		Doc: "Address prefixes (CIDR, e.g. 10.0.0.0/8) still allowed when DENY_PRIVATE_NETWORKS is on. Cloud metadata addresses stay blocked unless listed one by one (/32 or /128)."},

	// Cookies and sessions.
	{Name: "COOKIES_ENABLED", Kind: KindBool, Default: true,
		Doc: "Keep cookies per session (a cookie jar per session_id), send them and update them from Set-Cookie."},
	{Name: "COOKIES_DEBUG", Kind: KindBool, Default: false,
		Doc: "Log the cookies sent and received."},
	{Name: "DEFAULT_COOKIES", Kind: KindMap, Default: []KV{}, Check: stringValues,
		Doc: "Cookies (name → value) sent with every request of the default session."},

	// Retries, redirects, errors.
	{Name: "RETRY_ENABLED", Kind: KindBool, Default: true,
		Doc: "Retry failed downloads and responses with a status in RETRY_HTTP_CODES."},
	{Name: "RETRY_TIMES", Kind: KindInt, Default: 2, Min: minOf(0),
		Doc: "Maximum number of retries of one request (in addition to the first download)."},
	{Name: "RETRY_HTTP_CODES", Kind: KindInts, Default: []int{500, 502, 503, 504, 522, 524, 408, 429}, Check: httpCodes,
		Doc: "Response statuses that are retried."},
	{Name: "RETRY_PRIORITY_ADJUST", Kind: KindInt, Default: -1,
		Doc: "Added to a request's priority when it is retried."},
	{Name: "REDIRECT_ENABLED", Kind: KindBool, Default: true,
		Doc: "Follow HTTP redirects (301, 302, 303, 307, 308)."},
	{Name: "REDIRECT_MAX_TIMES", Kind: KindInt, Default: 20, Min: minOf(0),
		Doc: "Maximum number of redirects followed for one request."},
	{Name: "REDIRECT_PRIORITY_ADJUST", Kind: KindInt, Default: 2,
		Doc: "Added to a request's priority when it is redirected."},
	{Name: "REDIRECT_SENSITIVE_HEADERS", Kind: KindStrings, Default: []string{},
		Doc: "Extra credential headers (e.g. X-Api-Key) dropped when a redirect changes origin, like Authorization and Cookie."},
	{Name: "METAREFRESH_ENABLED", Kind: KindBool, Default: true,
		Doc: "Follow <meta http-equiv=\"refresh\"> redirects."},
	{Name: "METAREFRESH_MAXDELAY", Kind: KindDuration, Default: 100 * time.Second,
		Doc: "Meta refreshes with a longer delay are not followed."},
	{Name: "HTTPERROR_ALLOWED_CODES", Kind: KindInts, Default: []int{}, Check: httpCodes,
		Doc: "Non-2xx statuses passed to callbacks instead of becoming HttpError failures."},
	{Name: "HTTPERROR_ALLOW_ALL", Kind: KindBool, Default: false,
		Doc: "Pass every response to callbacks, whatever its status."},
	{Name: "REFERER_ENABLED", Kind: KindBool, Default: true,
		Doc: "Set the Referer header of followed requests to the URL of the page they came from."},

	// robots.txt.
	{Name: "ROBOTSTXT_OBEY", Kind: KindBool, Default: false,
		Doc: "Fetch each host's robots.txt (with the spec's robot_scheme) and drop disallowed requests."},
	{Name: "ROBOTSTXT_USER_AGENT", Kind: KindString, Default: "",
		Doc: "User agent matched against robots.txt rules. Empty = the User-Agent header's product token."},

	// Crawl shape.
	{Name: "DEPTH_LIMIT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Maximum link depth followed from the start requests. 0 = no limit."},
	{Name: "DEPTH_PRIORITY", Kind: KindInt, Default: 0,
		Doc: "Added to a request's priority per depth level: positive values crawl breadth-first, negative depth-first."},
	{Name: "DEPTH_STATS_VERBOSE", Kind: KindBool, Default: false,
		Doc: "Count requests per depth in the stats (request_depth_count/N)."},
	{Name: "DONT_FILTER", Kind: KindBool, Default: false,
		Doc: "Turn off duplicate filtering for every request."},
	{Name: "DUPEFILTER", Kind: KindEnum, Default: "exact", Enum: []string{"exact", "bloom"},
		Doc: "Duplicate filter: exact (every fingerprint kept) or bloom (a Bloom filter, for very large crawls; a small share of new URLs is wrongly skipped)."},
	{Name: "DUPEFILTER_DEBUG", Kind: KindBool, Default: false,
		Doc: "Log every filtered duplicate request, not only the first."},
	{Name: "DUPEFILTER_BLOOM_CAPACITY", Kind: KindInt, Default: 100_000_000, Min: minOf(1),
		Doc: "Number of URLs the Bloom filter is sized for (DUPEFILTER: bloom)."},
	{Name: "DUPEFILTER_BLOOM_ERROR_RATE", Kind: KindFloat, Default: 0.001, Check: unitInterval,
		Doc: "False-positive rate the Bloom filter is sized for, between 0 and 1 exclusive."},
	{Name: "CRAWLSPIDER_FOLLOW_LINKS", Kind: KindBool, Default: true,
		Doc: "Whether CrawlSpider rules with follow: true follow links at all."},
	{Name: "LINKEXTRACTOR_MAX_LINKS", Kind: KindInt, Default: 10_000, Min: minOf(0),
		Doc: "Most links a CrawlSpider rule reads from one page (in document order, before duplicates are removed and filters apply); the rest of the page is skipped with one warning and the stat linkextractor/pages_truncated. 0 = no cap. Not in Scrapy."},

	// Closing.
	{Name: "CLOSESPIDER_ITEMCOUNT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Close the spider (reason closespider_itemcount) after this many items. 0 = off."},
	{Name: "CLOSESPIDER_PAGECOUNT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Close the spider (reason closespider_pagecount) after this many responses. 0 = off."},
	{Name: "CLOSESPIDER_ERRORCOUNT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Close the spider (reason closespider_errorcount) after this many errors. 0 = off."},
	{Name: "CLOSESPIDER_TIMEOUT", Kind: KindDuration, Default: time.Duration(0),
		Doc: "Close the spider (reason closespider_timeout) after it has run this long. 0 = off."},
	{Name: "CLOSESPIDER_TIMEOUT_NO_ITEM", Kind: KindDuration, Default: time.Duration(0),
		Doc: "Close the spider (reason closespider_timeout_no_item) when no item was scraped for this long. 0 = off."},
	{Name: "MAX_IDLE_TIME_BEFORE_CLOSE", Kind: KindDuration, Default: time.Duration(0),
		Doc: "RedisSpider: close (reason idle) after this long with no work anywhere. 0 = wait forever."},

	// JavaScript.
	{Name: "JS_TIMEOUT", Kind: KindDuration, Default: 30 * time.Second, Check: positiveDuration,
		Doc: "Longest time one turn of a JavaScript callback may run before it is interrupted and counted as an error."},
	{Name: "JS_MEMORY_LIMIT", Kind: KindSize, Default: int64(512 << 20),
		Doc: "Heap growth at which a runaway callback is stopped with an error. 0 = no limit."},
	{Name: "CALLBACK_TIMEOUT", Kind: KindDuration, Default: 10 * time.Minute,
		Doc: "Longest time one callback (or errback, pipeline, middleware method, hook) may take from its start to its end, awaits included. One still running then — awaiting a promise nothing settles, kept alive by a setInterval — ends with a CALLBACK_TIMEOUT error naming it and its source line, its timers are cleared, and the crawl goes on. Long enough for a callback that awaits other requests (ResultHolder) through their retries, each up to DOWNLOAD_TIMEOUT. 0 = no limit. Not in Scrapy."},

	// Output, logs, stats.
	{Name: "FEEDS", Kind: KindMap, Default: []KV{}, Check: feedsSetting,
		Doc: "Feed exports as in Scrapy (URI → options); the spec's feeds: key is the checked form of the same thing."},
	{Name: "LOG_LEVEL", Kind: KindEnum, Default: "INFO", Enum: []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"},
		Doc: "Lowest level of log messages written (to stderr, or LOG_FILE). The final stats are printed at INFO, so at WARNING and above they are not shown. `-L LEVEL` sets it."},
	{Name: "LOG_ENABLED", Kind: KindBool, Default: true,
		Doc: "Write log messages at all. `--nolog` sets it to false."},
	{Name: "LOG_FILE", Kind: KindString, Default: "",
		Doc: "File the log messages go to instead of stderr (created with its directory; appended to unless LOG_FILE_APPEND is false). \"\" = stderr. `--logfile FILE` sets it."},
	{Name: "LOG_FILE_APPEND", Kind: KindBool, Default: true,
		Doc: "Append to LOG_FILE rather than truncate it."},
	{Name: "LOG_FORMAT", Kind: KindString, Default: "text", Check: logFormat,
		Doc: "`text`: Scrapy's line layout, `2026-12-07 06:16:00 [spiderrun] INFO: message key=value`; `json`: one JSON object per line (time, level, msg and the attributes). A Scrapy format string (`%(asctime)s ...`) is accepted and ignored with a warning: the text layout is Scrapy's default one."},
	{Name: "LOGSTATS_INTERVAL", Kind: KindDuration, Default: 60 * time.Second,
		Doc: "How often the INFO line `Crawled N pages (at N pages/min), scraped N items (at N items/min)` is logged (Scrapy's LogStats; a number is seconds). 0 = never."},
	{Name: "STATS_DUMP", Kind: KindBool, Default: true,
		Doc: "Print the stats when the spider closes."},
	{Name: "MEMUSAGE_ENABLED", Kind: KindBool, Default: true,
		Doc: "Watch the process's memory and apply MEMUSAGE_LIMIT_MB / MEMUSAGE_WARNING_MB."},
	{Name: "MEMUSAGE_LIMIT_MB", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Close the spider (reason memusage_exceeded) when the process uses more memory than this. 0 = off."},
	{Name: "MEMUSAGE_WARNING_MB", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Log a warning when the process uses more memory than this. 0 = off."},
	{Name: "MEMUSAGE_CHECK_INTERVAL_SECONDS", Kind: KindDuration, Default: 60 * time.Second, Check: positiveDuration,
		Doc: "How often memory use is checked."},
	{Name: "HTTPCACHE_ENABLED", Kind: KindBool, Default: false,
		Doc: "Cache responses on disk and serve repeated requests from the cache."},
	{Name: "HTTPCACHE_DIR", Kind: KindString, Default: "httpcache",
		Doc: "Directory of the HTTP cache, relative to the spec's directory."},
	{Name: "HTTPCACHE_EXPIRATION_SECS", Kind: KindDuration, Default: time.Duration(0),
		Doc: "Cached responses older than this are fetched again. 0 = never expire."},
	{Name: "HTTPCACHE_IGNORE_HTTP_CODES", Kind: KindInts, Default: []int{}, Check: httpCodes,
		Doc: "Responses with these statuses are not cached."},

	// Scheduling and state.
	{Name: "SCHEDULER", Kind: KindEnum, Default: "memory", Enum: []string{"memory", "disk", "redis"},
		Doc: "Where the request queue and the duplicate filter live: memory, disk (JOBDIR, resumable) or redis (shared by many workers)."},
	{Name: "JOBDIR", Kind: KindString, Default: "",
		Doc: "Directory that keeps the crawl's state so a paused crawl can resume (disk scheduler; setting it selects SCHEDULER disk). Relative to the spec when set in the spec, to the working directory on the command line (--jobdir)."},
	{Name: "JOBDIR_FSYNC", Kind: KindBool, Default: false,
		Doc: "Sync the JOBDIR to disk on every commit: the state then survives a power loss, not only a killed process, at 5-12x lower queue throughput."},
	{Name: "SCHEDULER_PERSIST", Kind: KindBool, Default: false,
		Doc: "Redis: keep the queue and the duplicate filter when the spider closes."},
	{Name: "SCHEDULER_FLUSH_ON_START", Kind: KindBool, Default: false,
		Doc: "Redis: delete the queue and the duplicate filter when the spider starts."},
	{Name: "SCHEDULER_QUEUE_KEY", Kind: KindString, Default: "{name}:requests",
		Doc: "Redis key of the request queue; {name} is the spider's name."},
	{Name: "SCHEDULER_DUPEFILTER_KEY", Kind: KindString, Default: "{name}:dupefilter",
		Doc: "Redis key of the duplicate filter; {name} is the spider's name."},
	{Name: "REDIS_URL", Kind: KindString, Default: "redis://127.0.0.1:6379/0", Check: redisURL,
		Doc: "Redis server used by SCHEDULER: redis and by RedisSpiders (redis://, rediss:// or unix://)."},
	{Name: "REDIS_TLS_CA_FILE", Kind: KindString, Default: "",
		Doc: "PEM file of the certificate authorities trusted for a rediss:// server (a private CA), relative to the spec; empty = the system's. Verification is never turned off."},
	{Name: "REDIS_ITEMS_KEY", Kind: KindString, Default: "",
		Doc: "Redis list that receives every item as JSON, e.g. {name}:items. Empty = off."},
	{Name: "REDIS_START_URLS_KEY", Kind: KindString, Default: "{name}:start_urls",
		Doc: "Redis key a RedisSpider reads its tasks from when the spec has no redis_key."},
	{Name: "REDIS_START_URLS_AS_SET", Kind: KindBool, Default: false,
		Doc: "Read tasks from a Redis set instead of a list."},
	{Name: "REDIS_START_URLS_AS_ZSET", Kind: KindBool, Default: false,
		Doc: "Read tasks from a Redis sorted set (highest score first) instead of a list."},
	{Name: "REDIS_START_URLS_BATCH_SIZE", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Number of tasks taken from Redis at once. 0 = CONCURRENT_REQUESTS."},
	{Name: "REDIS_LEASE_TIMEOUT", Kind: KindDuration, Default: 60 * time.Second, Check: leaseTimeout,
		Doc: "A request taken by a worker that does not finish (or renew its lease) within this time goes back to the queue."},

	// WebSocket.
	{Name: "WS_END_TAG", Kind: KindString, Default: "websocket end",
		Doc: "A WebSocket message equal to this ends the conversation (scrapy_cffi's convention)."},
	{Name: "WS_IDLE_TIMEOUT", Kind: KindDuration, Default: 60 * time.Second,
		Doc: "A WebSocket connection with no message for this long is closed. 0 = never."},
}

func minOf(v float64) *float64 { return &v }

func positiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be greater than 0")
	}
	return nil
}

// leaseTimeout checks REDIS_LEASE_TIMEOUT against the shortest lease the
// Redis scheduler can renew in time (redisq.New refuses shorter ones).
func leaseTimeout(v any) error {
	if v.(time.Duration) < 300*time.Millisecond {
		return fmt.Errorf("must be at least 300ms (a lease is renewed every third of it)")
	}
	return nil
}

func positiveFloat(v any) error {
	if v.(float64) <= 0 {
		return fmt.Errorf("must be greater than 0")
	}
	return nil
}

func unitInterval(v any) error {
	if f := v.(float64); f <= 0 || f >= 1 {
		return fmt.Errorf("must be between 0 and 1 (exclusive)")
	}
	return nil
}

func httpCodes(v any) error {
	for _, c := range v.([]int) {
		if c < 100 || c > 599 {
			return fmt.Errorf("%d is not an HTTP status code (100-599)", c)
		}
	}
	return nil
}

func redisURL(v any) error {
	s := v.(string)
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	}
	return fmt.Errorf("scheme must be redis, rediss or unix, got %q", u.Scheme)
}

// stringValues accepts header and cookie values written as strings, or as
// numbers and booleans (DNT: 1), which Settings.StringPairs renders as text.
func stringValues(v any) error {
	for _, kv := range v.([]KV) {
		switch kv.Value.(type) {
		case string, int64, float64, bool:
		default:
			return fmt.Errorf("value of %q must be a string, got %s", kv.Key, describeValue(kv.Value))
		}
	}
	return nil
}

func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// feedsSetting checks FEEDS (Scrapy's form of the spec's feeds: key) by
// decoding it (decodeFeedSetting), with the same option names, types and
// formats.
func feedsSetting(v any) error {
	for _, kv := range v.([]KV) {
		if _, err := decodeFeedSetting(kv); err != nil {
			return err
		}
	}
	return nil
}

var feedFormats = []string{"jsonlines", "jsonl", "json", "csv", "xml"}

// cidrList checks NETWORK_ALLOW entries.
func cidrList(v any) error {
	for _, s := range v.([]string) {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not an address prefix such as 10.0.0.0/8", s)
		}
	}
	return nil
}

// logFormat checks LOG_FORMAT: text, json, or a Scrapy format string
// (accepted, ignored with a warning when the crawl starts).
func logFormat(v any) error {
	s := v.(string)
	switch {
	case s == "text", s == "json", strings.Contains(s, "%("):
		return nil
	}
	return fmt.Errorf("%q: want text or json", s)
}
