package dsl

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
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
	{Name: "SCRAPER_SLOT_MAX_ACTIVE_SIZE", Kind: KindSize, Default: int64(1_000_000), Min: minOf(1),
		Doc: "Stop fetching while responses waiting for or in callbacks hold more than this many bytes (Scrapy's setting). 1 MB here, 5 MB in Scrapy: JavaScript callbacks run one at a time on one event loop, so responses queued beyond what it can work through only cost memory (5 MB: 215-240 MB peak RSS on the 20 000-page benchmark), while too small a bound stops the downloads whenever a burst of responses arrives (100 KB, the earlier default, is about 4 pages of 23 KB). Measured in specs/benchmarks.md (issue 20 section): at 50 ms of server latency 1 MB reached the floor crawler's pages/s, 100 KB 96 % of that, at the same peak RSS. Callbacks waiting on other requests' results (ResultHolder) never deadlock on it: the engine lets the requests they wait for through."},
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
		Doc: "Requests a callback yields with longer URLs are dropped (logged at INFO, urllength/request_ignored_count), as Scrapy's UrlLengthMiddleware; redirect targets longer than this are refused. 0 = no limit."},
	{Name: "HOST_REPORT_FILE", Kind: KindString, Default: "",
		Doc: "When the crawl ends, write one JSON line per host (the busiest first, at most 4 096): requests, ok, blocked, failed, bytes, avg_latency_ms, degraded (specs/crawling.md). Relative to the spec. A write error fails the run. \"\" = off. Not in Scrapy."},
	{Name: "URL_PATH_REPEAT_LIMIT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Drop requests a callback yields whose path repeats one run of up to 8 segments more than this many times in a row (/a/b/a/b/a/b/: 3): the traps of relative links and calendars in broad crawls (traps/path_repeats_ignored_count). 2 is what Heritrix uses. 0 = off. Not in Scrapy."},
	{Name: "URL_STRIP_SESSION_IDS", Kind: KindBool, Default: false,
		Doc: "Remove session ids from the URLs of requests a callback yields, before the dupefilter: jsessionid, phpsessid and sid with a 32-character alphanumeric value, aspsessionidXXXXXXXX, ColdFusion's CFID with CFTOKEN (Heritrix's StripSessionIDs and StripSessionCFIDs rules) and the ;jsessionid= path parameter (urlclean/session_ids_stripped_count). Start requests and redirects are left alone. Not in Scrapy."},
	{Name: "URL_STRIP_PARAMS", Kind: KindStrings, Default: []string{}, Check: stripParamRules,
		Doc: "Query parameters removed from the URLs of requests a callback yields, before the dupefilter: NAME (case-insensitive; a trailing * matches any suffix, as in utm_*), or HOST:NAME for one host and its subdomains (urlclean/params_stripped_count). Not in Scrapy."},
	{Name: "HOST_REQUEST_LIMIT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Drop requests a callback yields to a host that already got this many (hostlimit/request_ignored_count; the first capped host logged at INFO): a per-host page cap for broad crawls. Start requests are not counted. 0 = no limit. Not in Scrapy."},
	{Name: "USER_AGENT", Kind: KindString, Default: "spiderrun/1 (+https://github.com/spiderrun/spiderrun)",
		Doc: "User-Agent header of requests that do not set one. With IMPERSONATE the profile's browser User-Agent is used instead."},
	{Name: "DEFAULT_REQUEST_HEADERS", Kind: KindMap, Aliases: []string{"DEFAULT_HEADERS"},
		Default: []KV{{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, {"Accept-Language", "en"}},
		Check:   stringValues,
		Doc:     "Headers added to every request that does not set them, in this order."},
	{Name: "IMPERSONATE", Kind: KindString, Default: "",
		Doc: "Browser whose TLS and HTTP/2 fingerprint and default headers requests imitate: chrome, firefox, safari, edge, a versioned name such as chrome_156, random, or the path of a profile file. Empty = Go's own stack."},
	{Name: "HTTP_VERSION", Kind: KindString, Default: "", Check: httpVersion,
		Doc: "HTTP version of requests that do not set http_version: \"\" negotiates HTTP/2 or HTTP/1.1 by ALPN (as before), \"1.1\", \"2\", \"3\" (HTTP/3 over QUIC, https only, fails without fallback), or \"auto\" (like Chromium: TCP first, then HTTP/3 once the origin announces it in Alt-Svc, QUIC racing TCP until a QUIC connection is up, back to TCP when QUIC fails). HTTP/3 needs a profile with an http3 section (chrome, edge, or the plain client); through a socks5 proxy it goes over the proxy's UDP relay (UDP ASSOCIATE), through an http(s) proxy it falls back to TCP."},
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
	{Name: "BLOCK_DETECTORS", Kind: KindStrings, Default: []string{"cloudflare", "datadome", "perimeterx", "akamai", "kasada"},
		Doc: "Built-in detectors of anti-bot answers (specs/sessions.md#blocks): `cloudflare`, `datadome`, `perimeterx`, `akamai`, `kasada`, and `captcha` (off by default: a login form with a captcha widget is content); `js:NAME` runs the script's exported predicate `NAME(response)`, a block when it returns a reason. A detected block never reaches a callback: it is sent again, as another identity of its session group. [] = off. Not in Scrapy."},
	{Name: "BLOCK_RULES", Kind: KindMap, Default: []KV{},
		Doc: "Your own block detectors, tried before the built-ins: name → `{status: [403], header: \"Name: regex\", body: \"regex\"}`; a response is a block when every part given matches (the body regex sees its first 64 KiB). Not in Scrapy."},
	{Name: "BLOCK_RETRY_TIMES", Kind: KindInt, Default: 5, Min: minOf(0),
		Doc: "How many times a blocked request is sent again (each time as another identity when it has a session group) before it fails with a BlockedError. Not in Scrapy."},
	{Name: "BLOCK_BACKOFF", Kind: KindDuration, Default: time.Second,
		Doc: "Wait before a blocked request is sent again: doubles with each attempt, times a random 0.5-1.5, at most 60 s. 0 = no wait. Not in Scrapy."},
	{Name: "BLOCK_RETIRE_SCORE", Kind: KindFloat, Default: 3.0, Check: positiveFloat,
		Doc: "A session member is retired when its error score reaches this: each block adds 1, each page served takes 0.5 off (down to 0). Not in Scrapy."},
	{Name: "SESSION_ROTATION", Kind: KindEnum, Default: "random", Enum: []string{"random", "round_robin", "least_used", "sticky_domain"},
		Doc: "How a request of a session group picks its member (specs/sessions.md): `random` (uniformly), `round_robin` (each in turn), `least_used` (the one with the fewest requests), `sticky_domain` (one member per domain while it is active). A retried, redirected or pinned request keeps its member. Not in Scrapy."},
	{Name: "SESSION_MAX_USES", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Retire a session member after this many requests. 0 = no limit. Not in Scrapy."},
	{Name: "SESSION_MAX_AGE", Kind: KindDuration, Default: time.Duration(0),
		Doc: "Retire a session member this long after its first request. 0 = no limit. Not in Scrapy."},
	{Name: "SESSION_POOL_SIZE", Kind: KindInt, Default: 3, Min: minOf(1),
		Doc: "How many members an identity pool (`spider.hooks.session.register_factory` without `size`) keeps active: its factory creates them at the start and a new one for each member retired. Not in Scrapy."},
	{Name: "SESSION_FACTORY_TRIES", Kind: KindInt, Default: 3, Min: minOf(1),
		Doc: "How many times an identity pool's factory is tried for one member (each time as a fresh identity) before the crawl stops with the factory's error. Not in Scrapy."},
	{Name: "SESSION_FACTORY_BACKOFF", Kind: KindDuration, Default: time.Second,
		Doc: "Wait before an identity factory is tried again, doubling after each failure. Not in Scrapy."},
	{Name: "SESSION_PROFILES", Kind: KindString, Default: "",
		Doc: "A directory of captured browser profiles that `spider.hooks.session.register_profiles()` makes a session group of, one member per `NAME.yaml`/`.json` profile, with `NAME.cookies.txt` (Netscape) or `NAME.cookies.json` cookies and `NAME.headers.txt` headers beside it (specs/sessions.md#captured-browser-profiles). Relative to the spec. Not in Scrapy."},
	{Name: "SESSION_SLOT", Kind: KindEnum, Default: "domain", Enum: []string{"domain", "member"},
		Doc: "`domain`: the members of a group share each domain's download slot (DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_DOMAIN, AutoThrottle hold per domain). `member`: each member has its own slot on each domain, so those limits hold per identity, as for one browser each (scrapy_cffi's per-session rate). Not in Scrapy."},
	{Name: "SESSION_DOMAIN_CONCURRENCY", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "At most this many requests in flight to one domain as a whole, over all its download slots: with SESSION_SLOT: member each member keeps its own DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN, and the domain sees no more than this (specs/sessions.md#rotation-limits-and-rates). Per process (not shared by the workers of a Redis crawl). 0 = no domain-wide bound. Not in Scrapy."},
	{Name: "SESSION_DOMAIN_DELAY", Kind: KindDuration, Default: time.Duration(0),
		Doc: "At least this long between two requests to one domain as a whole, over all its download slots (every member's with SESSION_SLOT: member): a floor, not randomized, not moved by AutoThrottle. Per process. 0 = none. Not in Scrapy."},
	{Name: "BLOCK_BROWSER", Kind: KindBool, Default: false,
		Doc: "Hand a JavaScript challenge (a block whose detector is in BLOCK_BROWSER_DETECTORS) to a real headless Chromium first: it passes the challenge as the same identity (session member: proxy, cookies, the User-Agent of its profile), its cookies go into the member's jar, and the request is sent again as that member over plain HTTP (specs/sessions.md#browser-hand-off). Needs Chromium (`apt-get install chromium`). Not in Scrapy."},
	{Name: "BLOCK_BROWSER_DETECTORS", Kind: KindStrings, Default: []string{"cloudflare"},
		Doc: "The block detectors (built-in names or BLOCK_RULES names) whose blocks BLOCK_BROWSER sends to the browser: those that answer with a JavaScript challenge a browser can pass. Not in Scrapy."},
	{Name: "BROWSER_PATH", Kind: KindString, Default: "",
		Doc: "The Chromium binary of the browser hand-off and of meta render requests: a path or a name on PATH. Empty = chromium, then chromium-browser. Not in Scrapy."},
	{Name: "BROWSER_MAX", Kind: KindInt, Default: 2, Min: minOf(1),
		Doc: "At most this many browsers (BLOCK_BROWSER challenges and meta render requests) run at once; each is about 365 MiB and 8-9 processes; more wait for one. Not in Scrapy."},
	{Name: "BROWSER_TIMEOUT", Kind: KindDuration, Default: 30 * time.Second, Check: positiveDuration,
		Doc: "Bounds one browser (a challenge, from its start to the cookies, or a rendered request); at the deadline the browser is killed: a challenge's block is then handled as usual (another identity), a rendered request fails. Not in Scrapy."},
	{Name: "BROWSER_WAIT_COOKIE", Kind: KindString, Default: "",
		Doc: "The cookie whose arrival means the challenge has cleared. Empty = cf_clearance for the cloudflare detector, otherwise any cookie the identity did not have. Not in Scrapy."},
	{Name: "BROWSER_WAIT_JS", Kind: KindString, Default: "",
		Doc: "A JavaScript expression that is true in the page once the challenge has cleared: with BROWSER_WAIT_COOKIE (or cf_clearance for the cloudflare detector) both must hold; without one it decides alone (\"true\": once the page has loaded). Not in Scrapy."},
	{Name: "BROWSER_EXTRACT_JS", Kind: KindString, Default: "",
		Doc: "A JavaScript expression evaluated in the page once the challenge has cleared, giving an object of strings — tokens the page holds (a CSRF or API token), such as ({\"X-Csrf-Token\": document.querySelector(\"meta[name=csrf-token]\").content}): each becomes a header of the identity's later requests. Its names must be header names. Not in Scrapy."},
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
	{Name: "METAREFRESH_IGNORE_TAGS", Kind: KindStrings, Default: []string{},
		Doc: "Elements whose content is not searched for <meta http-equiv=\"refresh\"> (e.g. [noscript]), as in Scrapy."},
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
	{Name: "DUPEFILTER_EXPECTED_URLS", Kind: KindInt, Default: 1_000_000, Min: minOf(1),
		Doc: "SCHEDULER: disk (JOBDIR): number of URLs the in-memory filter in front of the exact dupefilter on disk is sized for (1.25 B each at the default DUPEFILTER_FP_RATE). A URL the filter has never seen skips the disk read; a crawl past this count makes the filter grow, at about twice the memory per URL (logged once). Never drops a URL, unlike DUPEFILTER: bloom. Not in Scrapy."},
	{Name: "DUPEFILTER_FP_RATE", Kind: KindFloat, Default: 0.01, Check: unitInterval,
		Doc: "SCHEDULER: disk (JOBDIR): share of new URLs for which the filter of DUPEFILTER_EXPECTED_URLS says \"maybe seen\", between 0 and 1 exclusive; each costs one disk read (the exact set decides), never a URL. Past the expected count it stays below twice this. Not in Scrapy."},
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
		Doc: "Redis crawl: close (reason idle) after this long with no work anywhere. 0: a RedisSpider (redis_key) waits for tasks forever; a shared crawl of start_urls closes as soon as no work is left."},
	{Name: "SHUTDOWN_GRACE_PERIOD", Kind: KindDuration, Default: 10 * time.Second, Check: positiveDuration,
		Doc: "After a first SIGINT or SIGTERM (or a close asked for by CLOSESPIDER_* or spider.close), how long requests in flight and running callbacks may take to finish before they are cancelled; feeds are flushed and the JOBDIR saved either way. A second signal aborts at once. Not in Scrapy (whose graceful stop waits without a bound); a name Scrapy does not use."},

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
	{Name: "FEED_EXPORT_BATCH_ITEM_COUNT", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Items per file of every feed that does not set batch_item_count: after that many items a feed goes on in a new file, whose URI must hold %(batch_id)d or %(batch_time)s. 0 = one file."},
	{Name: "FEED_EXPORT_FIELDS", Kind: KindFields, Default: []KV{},
		Doc: "Fields exported by every feed (-o, FEEDS, feeds:) that does not list its own fields, in this order: a list, or a mapping of field name to output name ({price: Price in EUR}) that renames JSON keys, XML elements and CSV headers. Empty = every field, in item order."},
	{Name: "FEED_EXPORT_ENCODING", Kind: KindString, Default: "",
		Doc: "Encoding of every feed that does not set its own encoding: a Python codec name as Scrapy users write it (latin-1, utf_8, cp1251) or a WHATWG label. Empty = UTF-8 (what the settings.py of `scrapy startproject` sets; Scrapy's own default writes JSON with \\u escapes)."},
	{Name: "FEED_EXPORT_INDENT", Kind: KindInt, Default: 0,
		Doc: "Spaces per level in json and xml feeds that do not set their own indent; 0 (or negative) = one item per line. jsonlines and csv ignore it."},
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
	{Name: "METRICS_ADDR", Kind: KindString, Default: "", Check: metricsAddr,
		Doc: "Serve Prometheus metrics of the running crawl at http://ADDR/metrics (`spiderrun run` only; specs/operate.md lists them). `HOST:PORT`, or a port alone (`9090`, `:9090`), which listens on 127.0.0.1. The metrics have no authentication: an address other than loopback is logged at WARNING. \"\" = off. `--metrics-addr ADDR` sets it. Not in Scrapy."},
	{Name: "UI_ADDR", Kind: KindString, Default: "", Check: metricsAddr,
		Doc: "Serve the crawl's live dashboard (the job view of `spiderrun serve`: figures, pages/s chart, errors by type, per-domain health, latest items, log tail, a Stop button) at http://ADDR/ while it runs (`spiderrun run` only; specs/operate.md). `HOST:PORT`, or a port alone, which listens on 127.0.0.1. An address other than loopback needs credentials (SPIDERRUN_BASIC_AUTH or SPIDERRUN_TOKEN, or `--ui-basic-auth-file` / `--ui-token-file`) unless `--ui-no-auth`. \"\" = off. `--ui-addr ADDR` sets it. Not in Scrapy."},
	{Name: "STATS_SNAPSHOT_FILE", Kind: KindString, Default: "",
		Doc: "Write a JSON snapshot of the running crawl (its stats and progress: queued, in flight, pages, items, errors) to this file every STATS_SNAPSHOT_INTERVAL, replacing it atomically (a reader never sees half a file), and a last one with the close reason and the final stats (those of --stats-json) when the spider closes. `spiderrun serve` sets it for every job to show live figures (specs/operate.md has the format). Relative to the working directory. \"\" = off. Not in Scrapy."},
	{Name: "STATS_SNAPSHOT_INTERVAL", Kind: KindDuration, Default: 5 * time.Second, Check: positiveDuration,
		Doc: "How often STATS_SNAPSHOT_FILE is rewritten while the crawl runs, and how often each worker of a Redis crawl stores its snapshot in Redis for `spiderrun status` (key N:workers:ID:stats, expiring after three intervals). Not in Scrapy."},
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
		Doc: "Where the request queue and the duplicate filter live: memory, disk (JOBDIR, resumable; without a JOBDIR a temporary directory, removed at the end: a frontier too big for memory) or redis (shared by many workers)."},
	{Name: "JOBDIR", Kind: KindString, Default: "",
		Doc: "Directory that keeps the crawl's state so a paused crawl can resume (disk scheduler; setting it selects SCHEDULER disk). Relative to the spec when set in the spec, to the working directory on the command line (--jobdir)."},
	{Name: "JOBDIR_FSYNC", Kind: KindBool, Default: false,
		Doc: "Sync the JOBDIR to disk on every commit: the state then survives a power loss, not only a killed process, at 5-12x lower queue throughput."},
	{Name: "SCHEDULER_WAITING_MAX", Kind: KindInt, Default: 256, Min: minOf(0),
		Doc: "Requests taken from the queue whose download slot cannot start now (DOWNLOAD_DELAY, a robots.txt Crawl-delay, AutoThrottle, a Retry-After pause, CONCURRENT_REQUESTS_PER_DOMAIN reached, a retry backoff) wait in the engine, at most this many, instead of holding one of CONCURRENT_REQUESTS: a slow or polite host at the head of the queue no longer blocks the others (Scrapy's DownloaderAwarePriorityQueue problem). A waiting request costs about 650 B of heap. 0 = off: such requests wait inside the downloader, holding a fetch place. See specs/engine.md (ready hosts)."},
	{Name: "SCHEDULER_PRIORITY_QUEUE", Kind: KindEnum, Default: "scrapy.pqueues.DownloaderAwarePriorityQueue",
		Enum: []string{"scrapy.pqueues.DownloaderAwarePriorityQueue", "scrapy.pqueues.ScrapyPriorityQueue"},
		Doc:  "How the queue picks the next request (Scrapy's class names). DownloaderAwarePriorityQueue (the default, unlike Scrapy's ScrapyPriorityQueue): one priority queue per download slot, and the next request comes from a slot that can start a download now — the highest priority among those slots' heads, then the slot with the fewest downloads in progress (Scrapy's rule), then round-robin — so a backlog of one polite or slow host never starves the others. ScrapyPriorityQueue: one queue for the whole crawl, the highest priority first, FIFO within a priority, whatever the host. Within a host both keep priority then FIFO order (DEPTH_PRIORITY: 1 stays breadth-first). Memory and disk (JOBDIR) schedulers; a JOBDIR resumed with the other value is converted. The Redis queue is one global queue whatever this says. See specs/engine.md (per-host queues)."},
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
	{Name: "REDIS_SENTINELS", Kind: KindStrings, Default: []string{}, Check: hostPorts,
		Doc: "Redis Sentinel: host:port of the Sentinels that watch the primary REDIS_MASTER_NAME; workers follow a failover. REDIS_URL then gives only the password, database and TLS (its host is not used). scrapy-redis/scrapy_cffi name."},
	{Name: "REDIS_MASTER_NAME", Kind: KindString, Default: "",
		Doc: "Redis Sentinel: name of the monitored primary (sentinel monitor <name> ...); required with REDIS_SENTINELS."},
	{Name: "REDIS_SENTINEL_PASSWORD", Kind: KindString, Default: "",
		Doc: "Redis Sentinel: password of the Sentinels themselves, when they require one (the data nodes' is REDIS_URL's)."},
	{Name: "REDIS_CLUSTER_NODES", Kind: KindStrings, Default: []string{}, Check: hostPorts,
		Doc: "Redis Cluster: host:port of some nodes of the cluster (the others are discovered; MOVED/ASK and failovers are followed). Every key of a crawl is then hash-tagged with the spider's name ({name} expands to {<name>}), so a crawl lives in one slot. REDIS_URL then gives only the password and TLS; its database must be 0."},
	{Name: "REDIS_WAIT_REPLICAS", Kind: KindInt, Default: 0, Min: minOf(0),
		Doc: "Each enqueue, lease and acknowledgement waits until this many replicas hold it (Redis WAIT), so a Sentinel or Cluster failover cannot lose what a worker was told is done; while fewer replicas answer, the workers pause. 0 = asynchronous replication (a failover can lose the last writes before the crash: see specs/distributed.md). Not in Scrapy."},
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

	// Go runtime (the process's garbage collector: the first crawl of a process sets it).
	{Name: "GC_HEAP_TARGET", Kind: KindSize, Default: int64(40 << 20),
		Doc: "Heap size the Go garbage collector lets the crawl reach before collecting, however little of it is live: a crawl keeps little (the pages in callbacks, the queue) but allocates a lot, and Go's default (GOGC=100, collect at twice the live data) collected every few dozen pages. Once half of it is live the collector runs as Go's default again, so the heap never exceeds the larger of this and twice the live data. 0 = Go's default throughout. GOGC in the environment wins over it. Not in Scrapy."},
	{Name: "GC_MEMORY_LIMIT", Kind: KindSize, Default: int64(0),
		Doc: "Soft memory limit of the Go runtime (Go's GOMEMLIMIT): near it the garbage collector runs more often (up to half the CPU) to stay under it. 0 = derived: 90 % of MEMUSAGE_LIMIT_MB when that is set (and at least 64 MiB), else three quarters of the memory available (the smaller of the cgroup's limit and the physical memory; none where neither can be read). GOMEMLIMIT in the environment wins over it (GOMEMLIMIT=off: no limit). Not in Scrapy."},
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

// hostPorts accepts a list of host:port addresses (each element may itself
// be a comma-separated list, as -s NAME=a:1,b:2 gives).
func hostPorts(v any) error {
	for _, e := range v.([]string) {
		for _, a := range strings.Split(e, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			host, port, err := net.SplitHostPort(a)
			if err != nil || host == "" {
				return fmt.Errorf("%q is not host:port", a)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("%q: port must be a number from 1 to 65535", a)
			}
		}
	}
	return nil
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
// httpVersion accepts the values runtime/impersonate's transport knows.
func httpVersion(v any) error {
	switch s := v.(string); s {
	case "", "1.1", "2", "3", "auto":
		return nil
	default:
		return fmt.Errorf("%q is not an HTTP version (want \"\", \"1.1\", \"2\", \"3\" or \"auto\")", s)
	}
}

// stripParamRules checks URL_STRIP_PARAMS entries ([HOST:]NAME, read by
// spidermw.ParseParamRule).
func stripParamRules(v any) error {
	for _, s := range v.([]string) {
		host, name, hasHost := strings.Cut(s, ":")
		if !hasHost {
			name = host
		}
		switch {
		case hasHost && strings.Trim(host, "*.") == "":
			return fmt.Errorf("%q: the host before \":\" is empty (want NAME or HOST:NAME)", s)
		case strings.TrimSuffix(name, "*") == "":
			return fmt.Errorf("%q: no parameter name (want NAME or HOST:NAME, e.g. utm_* or example.com:ref)", s)
		case strings.ContainsAny(name, "=&?#/ ") || strings.Contains(strings.TrimSuffix(name, "*"), "*"):
			return fmt.Errorf("%q: %q is not a parameter name (a trailing * is the only wildcard)", s, name)
		}
	}
	return nil
}

func cidrList(v any) error {
	for _, s := range v.([]string) {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not an address prefix such as 10.0.0.0/8", s)
		}
	}
	return nil
}

// metricsAddr accepts "", PORT, :PORT and HOST:PORT (a port from 0 to
// 65535); runtime/metrics.ResolveAddr reads it the same way.
func metricsAddr(v any) error {
	s := v.(string)
	if s == "" {
		return nil
	}
	addr := s
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: want HOST:PORT, :PORT or PORT", s)
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

// ScrapyStatus says what spiderrun does with one of Scrapy's settings that
// its table does not implement (the table's own Scrapy names are
// implemented: same name, same meaning).
type ScrapyStatus string

// Statuses of ScrapySettings.
const (
	// ScrapyIgnored settings are accepted (kept as custom settings, visible
	// in spider.settings) and change nothing: Scrapy-only machinery a
	// settings.py carries along (Twisted, Python class paths, the project
	// layout), or a knob whose behaviour is fixed here.
	ScrapyIgnored ScrapyStatus = "ignored"
	// ScrapyRefused settings are errors: ignoring them would change the
	// crawl the user asked for. Why says what to use instead. A refused
	// setting whose Unless is set is accepted (and ignored) with that
	// value, Scrapy's default.
	ScrapyRefused ScrapyStatus = "refused"
)

// ScrapySetting classifies one of Scrapy 2.8's default settings that the
// table does not implement.
type ScrapySetting struct {
	Name   string
	Status ScrapyStatus
	Why    string // for users: why, and what to use instead
	// Unless, for a refused setting, is the value (JSON-like, as the spec or
	// -s gives it) that is accepted anyway: Scrapy's default, which a
	// settings.py copied whole carries.
	Unless any
}

// scrapySettings classifies every setting of Scrapy 2.8's
// default_settings.py (testdata/reference/settings/expected.json) that the
// table does not have; TestScrapySettingsClassified keeps both complete,
// and specs/settings.md lists them.
var scrapySettings = []ScrapySetting{
	// Twisted and the Python process.
	{Name: "TWISTED_REACTOR", Status: ScrapyIgnored, Why: "no Twisted reactor: the engine runs on goroutines."},
	{Name: "ASYNCIO_EVENT_LOOP", Status: ScrapyIgnored, Why: "no asyncio loop: the engine runs on goroutines, JavaScript on one event loop per spider."},
	{Name: "REACTOR_THREADPOOL_MAXSIZE", Status: ScrapyIgnored, Why: "no Twisted thread pool (DNS resolution runs on goroutines)."},
	{Name: "DNS_RESOLVER", Status: ScrapyIgnored, Why: "a Python class: host names are resolved by Go's resolver (DNS_TIMEOUT applies)."},
	{Name: "DNSCACHE_ENABLED", Status: ScrapyIgnored, Why: "Go's resolver and connection reuse stand in for Scrapy's DNS cache."},
	{Name: "DNSCACHE_SIZE", Status: ScrapyIgnored, Why: "see DNSCACHE_ENABLED."},
	{Name: "TELNETCONSOLE_ENABLED", Status: ScrapyIgnored, Why: "no telnet console (`spiderrun shell` is the interactive tool)."},
	{Name: "TELNETCONSOLE_HOST", Status: ScrapyIgnored, Why: "no telnet console."},
	{Name: "TELNETCONSOLE_PORT", Status: ScrapyIgnored, Why: "no telnet console."},
	{Name: "TELNETCONSOLE_USERNAME", Status: ScrapyIgnored, Why: "no telnet console."},
	{Name: "TELNETCONSOLE_PASSWORD", Status: ScrapyIgnored, Why: "no telnet console."},
	{Name: "MEMDEBUG_ENABLED", Status: ScrapyIgnored, Why: "Python's gc/trackref debugging; use --cpuprofile/--memprofile."},
	{Name: "MEMDEBUG_NOTIFY", Status: ScrapyIgnored, Why: "no mail: see MEMDEBUG_ENABLED."},

	// The Scrapy project and its command line.
	{Name: "BOT_NAME", Status: ScrapyIgnored, Why: "Scrapy puts it in its default USER_AGENT and log lines; set USER_AGENT."},
	{Name: "SPIDER_MODULES", Status: ScrapyIgnored, Why: "a spider is a spec file, not a Python module."},
	{Name: "NEWSPIDER_MODULE", Status: ScrapyIgnored, Why: "`spiderrun new` writes the spider where it is run."},
	{Name: "COMMANDS_MODULE", Status: ScrapyIgnored, Why: "no custom Python commands."},
	{Name: "SPIDER_LOADER_CLASS", Status: ScrapyIgnored, Why: "a Python class: spiders are loaded from their spec."},
	{Name: "SPIDER_LOADER_WARN_ONLY", Status: ScrapyIgnored, Why: "see SPIDER_LOADER_CLASS."},
	{Name: "TEMPLATES_DIR", Status: ScrapyIgnored, Why: "`spiderrun new` templates are built in (--template)."},
	{Name: "EDITOR", Status: ScrapyIgnored, Why: "no `scrapy edit` command."},
	{Name: "SPIDER_CONTRACTS", Status: ScrapyIgnored, Why: "no `scrapy check` contracts (`spiderrun validate` checks specs)."},
	{Name: "SPIDER_CONTRACTS_BASE", Status: ScrapyIgnored, Why: "see SPIDER_CONTRACTS."},
	{Name: "DEFAULT_ITEM_CLASS", Status: ScrapyIgnored, Why: "items are plain JavaScript objects."},
	{Name: "ITEM_PROCESSOR", Status: ScrapyIgnored, Why: "a Python class: pipelines are run by the engine (spec pipelines:)."},
	{Name: "STATS_CLASS", Status: ScrapyIgnored, Why: "a Python class: stats are kept in memory and dumped as Scrapy's (STATS_DUMP, --stats-json)."},
	{Name: "SCHEDULER_DEBUG", Status: ScrapyIgnored, Why: "requests that cannot be serialized are an error here, never silently kept in memory."},
	{Name: "LOG_DATEFORMAT", Status: ScrapyIgnored, Why: "text logs use Scrapy's default date format; LOG_FORMAT json writes RFC 3339 times."},
	{Name: "LOG_ENCODING", Status: ScrapyIgnored, Why: "logs are written in UTF-8."},
	{Name: "LOG_FORMATTER", Status: ScrapyIgnored, Why: "a Python class: the Crawled/Scraped/Dropped lines keep Scrapy's default wording."},
	{Name: "LOG_SHORT_NAMES", Status: ScrapyIgnored, Why: "log lines name the component as [spiderrun]."},
	{Name: "LOG_STDOUT", Status: ScrapyIgnored, Why: "there is no Python print to redirect: console.log goes to the log."},
	{Name: "MAIL_FROM", Status: ScrapyIgnored, Why: "no mail sender."},
	{Name: "MAIL_HOST", Status: ScrapyIgnored, Why: "no mail sender."},
	{Name: "MAIL_PORT", Status: ScrapyIgnored, Why: "no mail sender."},
	{Name: "MAIL_USER", Status: ScrapyIgnored, Why: "no mail sender."},
	{Name: "MAIL_PASS", Status: ScrapyIgnored, Why: "no mail sender."},
	{Name: "MEMUSAGE_NOTIFY_MAIL", Status: ScrapyIgnored, Why: "no mail sender: MEMUSAGE_WARNING_MB logs a warning."},
	{Name: "STATSMAILER_RCPTS", Status: ScrapyIgnored, Why: "no mail sender: use --stats-json."},

	// Components named by Python class paths.
	{Name: "DOWNLOADER", Status: ScrapyIgnored, Why: "a Python class: the Go downloader is the only one."},
	{Name: "DOWNLOADER_HTTPCLIENTFACTORY", Status: ScrapyIgnored, Why: "a Twisted class: see DOWNLOADER."},
	{Name: "DOWNLOADER_CLIENTCONTEXTFACTORY", Status: ScrapyIgnored, Why: "a Twisted class: TLS is Go's crypto/tls or the IMPERSONATE profile's (TLS_VERIFY turns verification off)."},
	{Name: "DOWNLOADER_CLIENT_TLS_CIPHERS", Status: ScrapyIgnored, Why: "cipher suites are Go's, or the IMPERSONATE profile's."},
	{Name: "DOWNLOADER_CLIENT_TLS_METHOD", Status: ScrapyIgnored, Why: "TLS 1.2 and 1.3 are negotiated (Go's crypto/tls or the IMPERSONATE profile)."},
	{Name: "DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING", Status: ScrapyIgnored, Why: "the negotiated protocol is on each response (response.protocol)."},
	{Name: "DOWNLOADER_STATS", Status: ScrapyIgnored, Why: "downloader stats are always kept."},
	{Name: "DOWNLOADER_MIDDLEWARES_BASE", Status: ScrapyIgnored, Why: "Scrapy's built-in list: the built-ins run in Scrapy's order and are switched by their own settings (RETRY_ENABLED, REDIRECT_ENABLED, COOKIES_ENABLED, ...)."},
	{Name: "SPIDER_MIDDLEWARES_BASE", Status: ScrapyIgnored, Why: "see DOWNLOADER_MIDDLEWARES_BASE."},
	{Name: "EXTENSIONS_BASE", Status: ScrapyIgnored, Why: "see DOWNLOADER_MIDDLEWARES_BASE (CLOSESPIDER_*, MEMUSAGE_*, LOGSTATS_INTERVAL)."},
	{Name: "ITEM_PIPELINES_BASE", Status: ScrapyIgnored, Why: "empty in Scrapy too."},
	{Name: "DOWNLOAD_HANDLERS_BASE", Status: ScrapyIgnored, Why: "see DOWNLOAD_HANDLERS."},
	{Name: "FEED_EXPORTERS_BASE", Status: ScrapyIgnored, Why: "see FEED_EXPORTERS."},
	{Name: "FEED_STORAGES_BASE", Status: ScrapyIgnored, Why: "see FEED_STORAGES."},
	{Name: "DOWNLOADER_MIDDLEWARES", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "middlewares are JavaScript functions: list them under the spec's downloader_middlewares: key (the built-ins are switched by their own settings)."},
	{Name: "SPIDER_MIDDLEWARES", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "middlewares are JavaScript functions: list them under the spec's spider_middlewares: key."},
	{Name: "ITEM_PIPELINES", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "pipelines are JavaScript functions: list them under the spec's pipelines: key."},
	{Name: "EXTENSIONS", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "extensions are Python classes: connect JavaScript functions to signals under the spec's hooks: key."},
	{Name: "DOWNLOAD_HANDLERS", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "download handlers are Python classes: http, https, ws and wss are built in."},
	{Name: "FEED_EXPORTERS", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "exporters are Python classes: the formats are jsonlines, json, csv and xml."},
	{Name: "FEED_STORAGES", Status: ScrapyRefused, Unless: map[string]any{},
		Why: "storages are Python classes: feeds are local files, file:// URLs or - (standard output)."},
	{Name: "DUPEFILTER_CLASS", Status: ScrapyRefused, Unless: "scrapy.dupefilters.RFPDupeFilter",
		Why: "a Python class: choose the filter with DUPEFILTER (exact | bloom) and where it lives with SCHEDULER; DONT_FILTER turns it off."},
	{Name: "REQUEST_FINGERPRINTER_CLASS", Status: ScrapyRefused, Unless: "scrapy.utils.request.RequestFingerprinter",
		Why: "a Python class: requests are fingerprinted as Scrapy's default fingerprinter does."},
	{Name: "REQUEST_FINGERPRINTER_IMPLEMENTATION", Status: ScrapyIgnored, Why: "fingerprints are always Scrapy's \"2.7\" implementation (what `scrapy startproject` sets)."},
	{Name: "SCHEDULER_DISK_QUEUE", Status: ScrapyIgnored, Why: "a Python class: the JOBDIR queue orders requests by priority (DEPTH_PRIORITY: 1 crawls breadth-first)."},
	{Name: "SCHEDULER_MEMORY_QUEUE", Status: ScrapyIgnored, Why: "a Python class: the memory queue orders requests by priority (DEPTH_PRIORITY: 1 crawls breadth-first)."},
	{Name: "ROBOTSTXT_PARSER", Status: ScrapyIgnored, Why: "robots.txt is parsed by a port of Protego, Scrapy's default parser."},
	{Name: "REFERRER_POLICY", Status: ScrapyRefused, Unless: "scrapy.spidermiddlewares.referer.DefaultReferrerPolicy",
		Why: "only Scrapy's default policy is implemented (REFERER_ENABLED: false sends no Referer); set the Referer header of requests to do otherwise."},
	{Name: "CONCURRENT_REQUESTS_PER_IP", Status: ScrapyRefused, Unless: int64(0),
		Why: "download slots are per domain: use CONCURRENT_REQUESTS_PER_DOMAIN (0, Scrapy's default, is accepted)."},
	{Name: "AJAXCRAWL_ENABLED", Status: ScrapyRefused, Unless: false,
		Why: "Google's retired AJAX crawling scheme (#!) is not implemented."},
	{Name: "COMPRESSION_ENABLED", Status: ScrapyRefused, Unless: true,
		Why: "responses are always requested compressed and decompressed (gzip, deflate, br, zstd); set the request's Accept-Encoding header to ask for identity."},
	{Name: "HTTPPROXY_ENABLED", Status: ScrapyIgnored, Why: "proxies come from PROXIES and the request's proxies only, never from the environment; an empty PROXIES means no proxy."},
	{Name: "HTTPPROXY_AUTH_ENCODING", Status: ScrapyIgnored, Why: "credentials in a proxy URL are sent as UTF-8."},

	// Feeds.
	{Name: "FEED_URI_PARAMS", Status: ScrapyRefused, Unless: nil,
		Why: "a Python function: feed paths take %(name)s (the spider's name), %(time)s (the start time, as 2026-12-07T06-16-00), %(batch_id)d and %(batch_time)s (batch_item_count) and %(ARG)s for each spider argument (-a ARG=...)."},
	{Name: "FEED_STORE_EMPTY", Status: ScrapyIgnored, Why: "set store_empty on each feed (feeds:, FEEDS); -o writes the empty document, as Scrapy 2.9 does by default."},
	{Name: "FEED_TEMPDIR", Status: ScrapyIgnored, Why: "feeds are written in place, not through a temporary file."},
	{Name: "FEED_STORAGE_FTP_ACTIVE", Status: ScrapyIgnored, Why: "no FTP feed storage."},
	{Name: "FEED_STORAGE_S3_ACL", Status: ScrapyIgnored, Why: "no S3 feed storage."},
	{Name: "FEED_STORAGE_GCS_ACL", Status: ScrapyIgnored, Why: "no Google Cloud Storage feed storage."},
	{Name: "FILES_STORE_S3_ACL", Status: ScrapyIgnored, Why: "no media pipelines (FilesPipeline): download files from a callback."},
	{Name: "FILES_STORE_GCS_ACL", Status: ScrapyIgnored, Why: "no media pipelines."},
	{Name: "IMAGES_STORE_S3_ACL", Status: ScrapyIgnored, Why: "no media pipelines (ImagesPipeline)."},
	{Name: "IMAGES_STORE_GCS_ACL", Status: ScrapyIgnored, Why: "no media pipelines."},
	{Name: "GCS_PROJECT_ID", Status: ScrapyIgnored, Why: "no Google Cloud Storage."},
	{Name: "FTP_USER", Status: ScrapyIgnored, Why: "no ftp:// downloads or feeds."},
	{Name: "FTP_PASSWORD", Status: ScrapyIgnored, Why: "no ftp:// downloads or feeds."},
	{Name: "FTP_PASSIVE_MODE", Status: ScrapyIgnored, Why: "no ftp:// downloads or feeds."},

	// HTTP cache.
	{Name: "HTTPCACHE_POLICY", Status: ScrapyRefused, Unless: "scrapy.extensions.httpcache.DummyPolicy",
		Why: "only Scrapy's default DummyPolicy (cache every response, HTTPCACHE_EXPIRATION_SECS) is implemented, not RFC2616Policy."},
	{Name: "HTTPCACHE_STORAGE", Status: ScrapyIgnored, Why: "a Python class: responses are stored on disk under HTTPCACHE_DIR in spiderrun's own layout."},
	{Name: "HTTPCACHE_DBM_MODULE", Status: ScrapyIgnored, Why: "see HTTPCACHE_STORAGE."},
	{Name: "HTTPCACHE_GZIP", Status: ScrapyIgnored, Why: "see HTTPCACHE_STORAGE."},
	{Name: "HTTPCACHE_ALWAYS_STORE", Status: ScrapyIgnored, Why: "an RFC2616Policy option: DummyPolicy stores every response."},
	{Name: "HTTPCACHE_IGNORE_RESPONSE_CACHE_CONTROLS", Status: ScrapyIgnored, Why: "an RFC2616Policy option (see HTTPCACHE_POLICY)."},
	{Name: "HTTPCACHE_IGNORE_SCHEMES", Status: ScrapyIgnored, Why: "only http and https responses are cached."},
	{Name: "HTTPCACHE_IGNORE_MISSING", Status: ScrapyRefused, Unless: false,
		Why: "requests missing from the cache are always downloaded."},
}

var scrapyByName = map[string]*ScrapySetting{}

func init() {
	for i := range scrapySettings {
		scrapyByName[scrapySettings[i].Name] = &scrapySettings[i]
	}
}

// ScrapySettings returns the classification of Scrapy's settings that the
// table does not implement, sorted by name.
func ScrapySettings() []ScrapySetting {
	out := append([]ScrapySetting(nil), scrapySettings...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
