package feed

import (
	"fmt"
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
// FEED_EXPORT_ENCODING and FEED_EXPORT_INDENT, which a feed's own fields,
// encoding and indent override) and the parameters of feed URIs.
type Options struct {
	Fields   []string
	Encoding string
	Indent   int
	Params   URIParams
}

// OptionsFromSettings reads FEED_EXPORT_FIELDS, FEED_EXPORT_ENCODING and
// FEED_EXPORT_INDENT; the URI parameters are the caller's (the spider's
// name and arguments, the start time).
func OptionsFromSettings(v *settings.Values) Options {
	return Options{Fields: v.FeedExportFields, Encoding: v.FeedExportEncoding, Indent: v.FeedExportIndent}
}

// FromSettings returns the Config of one feed of FEEDS or feeds: (see the
// package-level FromSettings), its unset fields, encoding and indent taken
// from o and the parameters of its URI replaced (ExpandURI).
func (o Options) FromSettings(f settings.Feed) (Config, error) {
	uri, err := ExpandURI(f.URI, o.Params)
	if err != nil {
		return Config{}, fmt.Errorf("feeds.%s: %w", f.URI, err)
	}
	c := Config{URI: uri, Fields: f.Fields, Encoding: f.Encoding, StoreEmpty: true, Indent: o.Indent}
	if c.Fields == nil {
		c.Fields = o.Fields
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
	return c, nil
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
// encoding and indent from o, the parameters of its URI replaced.
func (o Options) Output(c Config) (Config, error) {
	uri, err := ExpandURI(c.URI, o.Params)
	if err != nil {
		return c, err
	}
	c.URI = uri
	if c.Fields == nil {
		c.Fields = o.Fields
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
	}
	v, ok := p.Args[key]
	return v, ok
}

// known lists the parameters a URI may use, for messages.
func (p URIParams) known() string {
	names := []string{"time"}
	if p.Name != "" {
		names = []string{"name", "time"}
	}
	var args []string
	for k := range p.Args {
		if k != "name" && k != "time" {
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
