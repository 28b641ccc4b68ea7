package feed

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// FromSettings returns the Config of one feed of FEEDS or of the spec's
// feeds: (both decoded by dsl into settings.Feed): its format, else the
// one of its URI's extension; appending unless overwrite is set; the empty
// document written unless store_empty is false (Scrapy's FEED_STORE_EMPTY
// since 2.9). A relative URI is the caller's to resolve first. It is
// Options{}.FromSettings: no crawl-wide defaults, no URI parameters.
func FromSettings(f settings.Feed) (Config, error) {
	return Options{}.FromSettings(f)
}

// Options are what every feed of a crawl shares: the crawl-wide defaults
// of the per-feed options (Scrapy's FEED_EXPORT_FIELDS,
// FEED_EXPORT_ENCODING, FEED_EXPORT_INDENT and
// FEED_EXPORT_BATCH_ITEM_COUNT, which a feed's own fields, encoding,
// indent and batch_item_count override) and the parameters of feed URIs.
type Options struct {
	Fields         []string
	Rename         map[string]string
	Encoding       string
	Indent         int
	BatchItemCount int
	Params         URIParams
}

// OptionsFromSettings reads FEED_EXPORT_FIELDS, FEED_EXPORT_ENCODING,
// FEED_EXPORT_INDENT and FEED_EXPORT_BATCH_ITEM_COUNT; the URI parameters
// are the caller's (the spider's name and arguments, the start time).
func OptionsFromSettings(v *settings.Values) Options {
	fields, rename := FieldsFromSettings(v.FeedExportFields)
	return Options{Fields: fields, Rename: rename, Encoding: v.FeedExportEncoding, Indent: v.FeedExportIndent,
		BatchItemCount: v.FeedExportBatchItemCount}
}

// FieldsFromSettings splits fields as dsl decodes them (field name →
// output name, in order) into the field names and the renamed ones.
func FieldsFromSettings(kvs []settings.KV) ([]string, map[string]string) {
	if len(kvs) == 0 {
		return nil, nil
	}
	var names []string
	var rename map[string]string
	for _, kv := range kvs {
		names = append(names, kv.Key)
		if o, ok := kv.Value.(string); ok && o != kv.Key {
			if rename == nil {
				rename = map[string]string{}
			}
			rename[kv.Key] = o
		}
	}
	return names, rename
}

// OptionError is a feed option that cannot be used: Option names it as
// the spec writes it below the feed (item_export_kwargs.indent,
// postprocessing[1], batch_item_count); Setting is the crawl-wide
// setting it came from, when the feed did not set it.
type OptionError struct {
	URI     string
	Option  string
	Setting string
	Msg     string
}

func (e *OptionError) Error() string {
	if e.Setting != "" {
		return fmt.Sprintf("feeds.%s: %s (from %s): %s", e.URI, e.Option, e.Setting, e.Msg)
	}
	return fmt.Sprintf("feeds.%s: %s: %s", e.URI, e.Option, e.Msg)
}

// batchParam is what Scrapy looks for in a batched feed's URI.
var batchParam = regexp.MustCompile(`%\(batch_time\)s|%\(batch_id\)`)

// FromSettings returns the Config of one feed of FEEDS or feeds: (see the
// package-level FromSettings), its unset fields, encoding, indent and
// batch_item_count taken from o and the parameters of its URI replaced
// (ExpandURI; a batched feed keeps its URI as the template of its
// files). Options that cannot be used are *OptionError values, joined.
func (o Options) FromSettings(f settings.Feed) (Config, error) {
	uri, err := ExpandURI(f.URI, o.Params)
	if err != nil {
		return Config{}, fmt.Errorf("feeds.%s: %w", f.URI, err)
	}
	c := Config{URI: uri, Encoding: f.Encoding, StoreEmpty: true, Indent: o.Indent, BatchItemCount: o.BatchItemCount}
	c.Fields, c.Rename = FieldsFromSettings(f.Fields)
	if c.Fields == nil {
		c.Fields, c.Rename = o.Fields, o.Rename
	}
	if c.Encoding == "" {
		c.Encoding = o.Encoding
	}
	if f.Overwrite != nil {
		c.Overwrite = *f.Overwrite
	}
	if f.StoreEmpty != nil {
		c.StoreEmpty = *f.StoreEmpty
	}
	if f.Indent != nil {
		c.Indent = *f.Indent
	}
	if f.Format != "" {
		if c.Format, err = ParseFormat(f.Format); err != nil {
			return c, fmt.Errorf("feeds.%s: %w", f.URI, err)
		}
	} else if c.Format, err = FormatFromPath(f.URI); err != nil {
		return c, err
	}
	var errs []error
	optErr := func(option, setting, msg string) {
		errs = append(errs, &OptionError{URI: f.URI, Option: option, Setting: setting, Msg: msg})
	}
	batchSetting := "FEED_EXPORT_BATCH_ITEM_COUNT"
	if f.BatchItemCount != nil {
		c.BatchItemCount, batchSetting = *f.BatchItemCount, ""
	}
	if c.BatchItemCount > 0 {
		if msg := c.batchProblem(f.URI, o.Params); msg != "" {
			optErr("batch_item_count", batchSetting, msg)
		} else {
			c.URI, c.Params = f.URI, o.Params
		}
	}
	if c.Export, err = ParseExportKwargs(c.Format, f.ItemExportKwargs); err != nil {
		before := len(errs)
		for _, k := range sortedKeys(f.ItemExportKwargs) {
			if _, kerr := ParseExportKwargs(c.Format, map[string]any{k: f.ItemExportKwargs[k]}); kerr != nil {
				optErr("item_export_kwargs."+k, "", strings.TrimPrefix(kerr.Error(), "item_export_kwargs."+k+": "))
			}
		}
		if len(errs) == before { // a conflict between two of them
			optErr("item_export_kwargs", "", strings.TrimPrefix(err.Error(), "item_export_kwargs: "))
		}
	}
	plugins, err := ParsePlugins(f.Postprocessing, pluginOptions(f))
	for _, e := range unjoin(err) {
		var pe *PluginError
		if errors.As(e, &pe) {
			optErr(pe.Option, "", pe.Msg)
		}
	}
	c.Postprocessing = plugins
	return c, errors.Join(errs...)
}

// batchProblem says why a URI cannot be batched: Scrapy requires
// %(batch_time)s or %(batch_id)d in it (else every batch would replace
// the last); standard output cannot be batched.
func (c Config) batchProblem(uri string, p URIParams) string {
	if uri == "-" {
		return "standard output cannot be split into batches"
	}
	if !batchParam.MatchString(uri) {
		return fmt.Sprintf("%d: %%(batch_time)s or %%(batch_id)d must be in the feed URI (e.g. items-%%(batch_id)d.jsonl), or every batch would replace the last", c.BatchItemCount)
	}
	if _, err := ExpandURI(uri, p); err != nil {
		return err.Error()
	}
	return ""
}

// pluginOptions are the postprocessing options of f as ParsePlugins
// takes them.
func pluginOptions(f settings.Feed) map[string]any {
	m := map[string]any{}
	intOpt := func(k string, v *int) {
		if v != nil {
			m[k] = int64(*v)
		}
	}
	intOpt("gzip_compresslevel", f.GzipCompresslevel)
	intOpt("gzip_mtime", f.GzipMtime)
	intOpt("bz2_compresslevel", f.Bz2Compresslevel)
	intOpt("lzma_preset", f.LzmaPreset)
	if f.GzipFilename != nil {
		m["gzip_filename"] = *f.GzipFilename
	}
	for k, v := range map[string]any{"lzma_format": f.LzmaFormat, "lzma_check": f.LzmaCheck} {
		if v != nil {
			if i, ok := v.(int); ok {
				v = int64(i)
			}
			m[k] = v
		}
	}
	return m
}

// unjoin lists the errors of errors.Join.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// CheckEncoding says why Open would refuse name as a feed's encoding
// (FEED_EXPORT_ENCODING, a feed's encoding), or nil: "" and UTF-8, a
// Python codec name as Scrapy users write it (latin-1, utf_8, cp1251) or a
// WHATWG label are accepted. validate runs it so that run cannot fail on
// it after validate said ok.
func CheckEncoding(name string) error {
	if name == "" || strings.EqualFold(name, "utf-8") || strings.EqualFold(name, "utf8") {
		return nil
	}
	if _, err := htmlindex.Get(encodingLabel(name)); err != nil {
		return fmt.Errorf("unknown encoding %q (write a Python codec name such as latin-1 or cp1251, or a WHATWG label)", name)
	}
	return nil
}

// Output completes the Config of an -o/-O feed (ParseOutput): fields,
// encoding, indent and FEED_EXPORT_BATCH_ITEM_COUNT from o, the
// parameters of its URI replaced (a batched one keeps its template).
func (o Options) Output(c Config) (Config, error) {
	if o.BatchItemCount > 0 && c.BatchItemCount == 0 {
		c.BatchItemCount = o.BatchItemCount
		if msg := c.batchProblem(c.URI, o.Params); msg != "" {
			return c, fmt.Errorf("FEED_EXPORT_BATCH_ITEM_COUNT %s", msg)
		}
		c.Params = o.Params
	} else {
		uri, err := ExpandURI(c.URI, o.Params)
		if err != nil {
			return c, err
		}
		c.URI = uri
	}
	if c.Fields == nil {
		c.Fields, c.Rename = o.Fields, o.Rename
	}
	if c.Encoding == "" {
		c.Encoding = o.Encoding
	}
	if c.Indent == 0 {
		c.Indent = o.Indent
	}
	return c, nil
}

// URIParams are the values of the %(NAME)s parameters of a feed URI, as
// Scrapy's default FEED_URI_PARAMS gives them: %(name)s the spider's
// name, %(time)s the crawl's start time in UTC as Scrapy writes it
// (2026-12-07T06-16-00), and %(ARG)s each spider argument (-a ARG=VALUE,
// which Scrapy makes a spider attribute).
type URIParams struct {
	Name string
	Time time.Time
	Args map[string]string
	// BatchID and BatchTime are %(batch_id)d (from 1; 0 is 1) and
	// %(batch_time)s (the batch's start in UTC, with microseconds, as
	// Scrapy writes it: 2026-12-07T06-16-00.123456; zero is now).
	BatchID   int
	BatchTime time.Time
}

// BatchTimeFormat formats %(batch_time)s: Scrapy's
// datetime.utcnow().isoformat().replace(":", "-"), whose microseconds
// Python leaves out when they are 0.
func BatchTimeFormat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format(TimeFormat)
	}
	return t.Format(TimeFormat + ".000000")
}

// TimeFormat is how %(time)s writes the start time: Scrapy's
// datetime.utcnow().replace(microsecond=0).isoformat().replace(":", "-").
const TimeFormat = "2006-01-02T15-04-05"

// ExpandURI replaces the %(NAME)s parameters of a feed URI (see
// URIParams) and %% by %, as Python's uri % params does; a zero Time is
// the current time. A parameter that is not known, a conversion other
// than s, or a "%(" without its ")" is an error that names it and lists
// the known ones. A URI without "%" is returned as it is.
func ExpandURI(uri string, p URIParams) (string, error) {
	if !strings.Contains(uri, "%") {
		return uri, nil
	}
	var b strings.Builder
	for rest := uri; ; {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			b.WriteByte('%')
			rest = rest[2:]
			continue
		case !strings.HasPrefix(rest, "%("):
			// Not a parameter (Python would refuse it; a path may hold a
			// plain % such as 100%.jsonl): kept as written.
			b.WriteByte('%')
			rest = rest[1:]
			continue
		}
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", fmt.Errorf("%q has no closing \")\" (write %%(name)s)", rest)
		}
		key := rest[2:end]
		if key == "batch_id" {
			// %(batch_id)d, with Python's flags and width (%(batch_id)05d).
			spec := batchIDSpec.FindString(rest[end+1:])
			if spec == "" {
				return "", fmt.Errorf("%s: write %%(batch_id)d (or %%(batch_id)05d)", rest[:min(end+2, len(rest))])
			}
			id := max(p.BatchID, 1)
			verb := spec[len(spec)-1:]
			if verb == "s" || verb == "i" {
				verb = "d"
			}
			fmt.Fprintf(&b, "%"+spec[:len(spec)-1]+verb, id)
			rest = rest[end+1+len(spec):]
			continue
		}
		conv := ""
		if end+1 < len(rest) {
			conv = rest[end+1 : end+2]
		}
		if conv != "s" {
			return "", fmt.Errorf("%s: only %%(%s)s is supported (a parameter is inserted as text)", rest[:min(end+2, len(rest))], key)
		}
		v, ok := p.value(key)
		if !ok {
			return "", fmt.Errorf("unknown parameter %%(%s)s (known: %s)", key, p.known())
		}
		b.WriteString(v)
		rest = rest[end+2:]
	}
	return b.String(), nil
}

// batchIDSpec is the rest of a %(batch_id) conversion: Python's flags,
// width and an integer (or string) conversion.
var batchIDSpec = regexp.MustCompile(`^[-0 +]*[0-9]*[dis]`)

// value is the text of one parameter: the spider's name and the start
// time win over spider arguments of the same name (as Scrapy's time does;
// its name is the spider's attribute).
func (p URIParams) value(key string) (string, bool) {
	switch key {
	case "name":
		if p.Name != "" {
			return p.Name, true
		}
	case "time":
		t := p.Time
		if t.IsZero() {
			t = time.Now()
		}
		return t.UTC().Format(TimeFormat), true
	case "batch_time":
		t := p.BatchTime
		if t.IsZero() {
			t = time.Now()
		}
		return BatchTimeFormat(t), true
	}
	v, ok := p.Args[key]
	return v, ok
}

// known lists the parameters a URI may use, for messages.
func (p URIParams) known() string {
	names := []string{"time", "batch_id", "batch_time"}
	if p.Name != "" {
		names = []string{"name", "time", "batch_id", "batch_time"}
	}
	var args []string
	for k := range p.Args {
		if k != "name" && k != "time" && k != "batch_id" && k != "batch_time" {
			args = append(args, k)
		}
	}
	sort.Strings(args)
	s := strings.Join(names, ", ")
	if len(args) == 0 {
		return s + "; no spider arguments given with -a"
	}
	return s + "; spider arguments: " + strings.Join(args, ", ")
}
