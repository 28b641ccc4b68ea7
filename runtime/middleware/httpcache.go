package middleware

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// FlagCached marks a response served from the HTTP cache (Scrapy adds
// "cached" to response.flags).
const FlagCached = "cached"

// HTTPCache serves repeated requests from a disk cache (Scrapy's
// HttpCacheMiddleware with FilesystemCacheStorage and DummyPolicy): every
// response is stored under the request's fingerprint, unless its status is
// in IgnoreHTTPCodes, and a later request with the same fingerprint gets
// the stored response without a download until Expiration has passed.
//
// Entries live in Dir/Spider/<first 2 hex>/<32 hex>/ as meta.json
// (status, URLs, ordered headers, flags, timestamp, body size and CRC)
// and response_body. An entry is written in a temporary directory and
// renamed into place, and read through one handle on its directory, so a
// crash or a concurrent store never yields a half entry; an entry that
// does not check out is a miss with a warning.
//
// Requests with meta dont_cache, WebSocket requests and URLs whose scheme
// is in IgnoreSchemes are neither served nor stored.
type HTTPCache struct {
	// Dir is the cache root (HTTPCACHE_DIR, resolved by the caller).
	Dir string
	// Spider is the sub-directory of Dir for this spider (Scrapy uses the
	// spider's name); "" stores right under Dir.
	Spider string
	// Expiration is HTTPCACHE_EXPIRATION_SECS: entries older than this are
	// misses (and are replaced by the next store). 0 never expires.
	Expiration time.Duration
	// IgnoreHTTPCodes is HTTPCACHE_IGNORE_HTTP_CODES: responses with these
	// statuses are not stored.
	IgnoreHTTPCodes []int
	// IgnoreSchemes are URL schemes never cached (Scrapy's
	// HTTPCACHE_IGNORE_SCHEMES default: file). ws and wss are never cached
	// whatever this says.
	IgnoreSchemes []string
	Stats         stats.Collector
	Logger        *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time

	// stores serializes stores of one key (striped by its first byte)
	// within the process, so concurrent downloads of one URL do not
	// fight over the rename; other processes sharing Dir are handled by
	// publish.
	stores [64]sync.Mutex
}

// NewHTTPCache returns a cache under dir/spider with Scrapy's defaults
// (no expiration, every status stored, file:// ignored) and creates the
// directory, so an unusable HTTPCACHE_DIR fails before the crawl starts.
func NewHTTPCache(dir, spider string, st stats.Collector, log *slog.Logger) (*HTTPCache, error) {
	if dir == "" {
		return nil, errors.New("httpcache: empty HTTPCACHE_DIR")
	}
	if spider != "" && (spider != filepath.Base(spider) || !filepath.IsLocal(spider) || strings.ContainsAny(spider, `/\`)) {
		return nil, fmt.Errorf("httpcache: spider name %q cannot be used as a directory name", spider)
	}
	m := &HTTPCache{Dir: dir, Spider: spider, IgnoreSchemes: []string{"file"}, Stats: st, Logger: log}
	if err := os.MkdirAll(m.root(), 0o755); err != nil {
		return nil, fmt.Errorf("httpcache: creating the cache directory: %w", err)
	}
	return m, nil
}

// cacheMeta is meta.json. Version changes when the layout does; other
// versions are ignored (a miss), never misread.
type cacheMeta struct {
	Version     int           `json:"version"`
	URL         string        `json:"url"`
	Method      string        `json:"method"`
	Status      int           `json:"status"`
	ResponseURL string        `json:"response_url"`
	Protocol    string        `json:"protocol,omitempty"`
	IP          string        `json:"ip,omitempty"`
	Flags       []string      `json:"flags,omitempty"`
	Headers     crawl.Headers `json:"headers"`
	Timestamp   time.Time     `json:"timestamp"`
	BodySize    int           `json:"body_size"`
	BodyCRC32C  uint32        `json:"body_crc32c"`
}

const (
	cacheVersion  = 1
	cacheMetaFile = "meta.json"
	cacheBodyFile = "response_body"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ProcessRequest implements RequestProcessor: a fresh entry is returned
// as the response, which skips the download.
func (m *HTTPCache) ProcessRequest(_ context.Context, r *crawl.Request) (Result, error) {
	if !m.cacheable(r) {
		return Result{}, nil
	}
	dir, _ := m.entryDir(r)
	resp := m.retrieve(r, dir)
	if resp == nil {
		m.inc("httpcache/miss")
		return Result{}, nil
	}
	m.inc("httpcache/hit")
	return Result{Response: resp}, nil
}

// ProcessResponse implements ResponseProcessor: a downloaded response is
// stored unless its status is ignored. Responses served from the cache
// pass through untouched (the chain runs every process_response on them,
// this one included).
func (m *HTTPCache) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	if !m.cacheable(r) || slices.Contains(resp.Flags, FlagCached) || resp.Stream != nil || resp.WebSocket != nil {
		return Result{}, nil
	}
	// Scrapy adds a Date when the server sent none (RFC 2616 requires
	// one), so a cached entry always tells its age.
	if !resp.Headers.Has("Date") {
		resp.Headers.Add("Date", m.now().UTC().Format(http.TimeFormat))
	}
	m.inc("httpcache/firsthand")
	if slices.Contains(m.IgnoreHTTPCodes, resp.Status) {
		m.inc("httpcache/uncacheable")
		return Result{}, nil
	}
	dir, stripe := m.entryDir(r)
	mu := &m.stores[stripe%len(m.stores)]
	mu.Lock()
	err := m.store(r, resp, dir)
	mu.Unlock()
	if err != nil {
		m.inc("httpcache/errors")
		m.log().Warn("httpcache: could not store the response", "url", weburl.Redact(r.URL), "error", err)
		return Result{}, nil
	}
	m.inc("httpcache/store")
	return Result{}, nil
}

func (m *HTTPCache) cacheable(r *crawl.Request) bool {
	if r.MetaBool("dont_cache") || r.WebSocket != nil {
		return false
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme != "ws" && scheme != "wss" && !slices.Contains(m.IgnoreSchemes, scheme)
}

func (m *HTTPCache) root() string { return filepath.Join(m.Dir, m.Spider) }

// entryDir is the entry's directory: the request fingerprint (the
// dupefilter's, so the cache and the dupefilter agree on what "the same
// request" is), fanned out by its first byte, which is also returned.
func (m *HTTPCache) entryDir(r *crawl.Request) (string, int) {
	fp := scheduler.Fingerprint(r)
	key := hex.EncodeToString(fp[:])
	return filepath.Join(m.root(), key[:2], key), int(fp[0])
}

// retrieve returns the fresh entry in dir as a response to r, or nil.
func (m *HTTPCache) retrieve(r *crawl.Request, dir string) *crawl.Response {
	// One handle on the directory: if a concurrent store swaps the entry
	// while we read, both files still come from the same entry.
	root, err := os.OpenRoot(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.corrupt(r, dir, err)
		}
		return nil
	}
	defer root.Close()
	raw, err := root.ReadFile(cacheMetaFile)
	if err != nil {
		// Not there: the entry was moved aside by a concurrent store.
		if !errors.Is(err, fs.ErrNotExist) {
			m.corrupt(r, dir, err)
		}
		return nil
	}
	var meta cacheMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		m.corrupt(r, dir, fmt.Errorf("reading %s: %w", cacheMetaFile, err))
		return nil
	}
	if meta.Version != cacheVersion || meta.Status < 100 || meta.Status > 999 || meta.Timestamp.IsZero() || meta.BodySize < 0 {
		m.corrupt(r, dir, fmt.Errorf("%s: unknown version %d or bad status %d, timestamp or size", cacheMetaFile, meta.Version, meta.Status))
		return nil
	}
	// Scrapy: 0 < HTTPCACHE_EXPIRATION_SECS < now - stored.
	if m.Expiration > 0 && m.now().Sub(meta.Timestamp) > m.Expiration {
		return nil
	}
	body, err := root.ReadFile(cacheBodyFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.corrupt(r, dir, err)
		}
		return nil
	}
	if len(body) != meta.BodySize || crc32.Checksum(body, castagnoli) != meta.BodyCRC32C {
		m.corrupt(r, dir, fmt.Errorf("%s: %d bytes, want %d with CRC-32C %08x", cacheBodyFile, len(body), meta.BodySize, meta.BodyCRC32C))
		return nil
	}
	// The downloader answers with the request's URL, so an entry whose
	// response URL was its request URL takes this request's URL: another
	// spelling of the same canonical URL (query order, fragment) gets its
	// own URL back, as a download would give it.
	u := meta.ResponseURL
	if u == meta.URL {
		u = r.URL
	}
	return &crawl.Response{
		URL:      u,
		Status:   meta.Status,
		Headers:  meta.Headers,
		Body:     body,
		Protocol: meta.Protocol,
		Request:  r,
		IP:       meta.IP,
		Flags:    append(meta.Flags, FlagCached),
	}
}

func (m *HTTPCache) corrupt(r *crawl.Request, dir string, err error) {
	m.inc("httpcache/errors")
	m.log().Warn("httpcache: ignoring unreadable cache entry", "url", weburl.Redact(r.URL), "entry", dir, "error", err)
}

// store writes resp as the entry in dir: both files in a fresh temporary
// directory next to it, then one rename publishes them together.
func (m *HTTPCache) store(r *crawl.Request, resp *crawl.Response, dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// MkdirTemp's 0700 keeps cached pages (which may be behind a login)
	// private to the user.
	tmp, err := os.MkdirTemp(parent, ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	// After a successful publish tmp no longer exists and this is a no-op.
	defer os.RemoveAll(tmp)
	respURL := resp.URL
	if respURL == "" {
		respURL = r.URL
	}
	var flags []string
	for _, f := range resp.Flags {
		if f != FlagCached {
			flags = append(flags, f)
		}
	}
	meta := cacheMeta{
		Version: cacheVersion, URL: r.URL, Method: r.GetMethod(), Status: resp.Status, ResponseURL: respURL,
		Protocol: resp.Protocol, IP: resp.IP, Flags: flags, Headers: resp.Headers, Timestamp: m.now().UTC(),
		BodySize: len(resp.Body), BodyCRC32C: crc32.Checksum(resp.Body, castagnoli),
	}
	raw, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, cacheBodyFile), resp.Body, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, cacheMetaFile), raw, 0o600); err != nil {
		return err
	}
	return publish(tmp, dir)
}

// publish renames the directory tmp to dir. A directory cannot be renamed
// over a non-empty one, so an existing entry is first moved aside under a
// unique name and removed; a concurrent store may slip its own entry in
// between, hence the few attempts. Readers see the old entry, no entry
// (a miss) or the new one, never a mix.
func publish(tmp, dir string) error {
	var err error
	for range 32 {
		if err = os.Rename(tmp, dir); err == nil {
			return nil
		}
		old := filepath.Join(filepath.Dir(dir), ".old-"+filepath.Base(dir)+"-"+strconv.FormatUint(rand.Uint64(), 36))
		if os.Rename(dir, old) == nil {
			os.RemoveAll(old)
		}
	}
	return fmt.Errorf("publishing cache entry %s: %w", dir, err)
}

func (m *HTTPCache) inc(key string) {
	if m.Stats != nil {
		m.Stats.Inc(key, 1)
	}
}

func (m *HTTPCache) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *HTTPCache) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}
