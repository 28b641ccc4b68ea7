package feed

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// ExportOptions are a feed's item_export_kwargs: the keyword arguments
// Scrapy 2.8's FeedExporter passes to the format's item exporter. Only the
// ones that change the output of our exporters are accepted
// (ParseExportKwargs); the zero value is every exporter's default.
type ExportOptions struct {
	// ExportEmpty is export_empty_fields (every format): with fields, a
	// listed field the item lacks is written as null (json, jsonlines) or
	// an empty element (xml); csv always writes it empty.
	ExportEmpty bool

	// ItemElement and RootElement are XmlItemExporter's item_element
	// ("item") and root_element ("items").
	ItemElement, RootElement string

	// NoHeader is CsvItemExporter's include_headers_line=False.
	NoHeader bool
	// Join is CsvItemExporter's join_multivalued: the separator of a list
	// of strings in one cell; nil is ",".
	Join *string
	// Delimiter, QuoteChar and LineTerminator are csv.writer's delimiter
	// (","), quotechar ('"') and lineterminator ("\r\n"); 0 / "" are the
	// defaults.
	Delimiter, QuoteChar rune
	LineTerminator       string
	// QuoteAll is csv.writer's quoting=csv.QUOTE_ALL (1); the default is
	// QUOTE_MINIMAL (0).
	QuoteAll bool

	// SortKeys, EnsureASCII and Separators are json.JSONEncoder's
	// sort_keys, ensure_ascii and separators (json and jsonlines).
	SortKeys    bool
	EnsureASCII bool
	Separators  *[2]string
}

// ExportKwargs lists the item_export_kwargs each format accepts, for
// messages and for the spec's checks.
var ExportKwargs = map[Format][]string{
	JSONLines: {"ensure_ascii", "export_empty_fields", "separators", "sort_keys"},
	JSON:      {"ensure_ascii", "export_empty_fields", "separators", "sort_keys"},
	CSV:       {"delimiter", "export_empty_fields", "include_headers_line", "join_multivalued", "lineterminator", "quotechar", "quoting"},
	XML:       {"export_empty_fields", "item_element", "root_element"},
}

// exportKwargHints are the item_export_kwargs Scrapy knows that we refuse,
// with what to write instead.
var exportKwargHints = map[string]string{
	"indent":           "set the feed's indent option (Scrapy raises TypeError: got multiple values for keyword argument 'indent')",
	"encoding":         "set the feed's encoding option (Scrapy raises TypeError: got multiple values for keyword argument 'encoding')",
	"fields_to_export": "set the feed's fields option (Scrapy raises TypeError: got multiple values for keyword argument 'fields_to_export')",
	"dont_fail":        "it is an internal argument of Scrapy's exporters",
	"errors":           "characters the encoding cannot represent are always replaced (see specs/feeds.md)",
	"escapechar":       "quoting: 3 (QUOTE_NONE) and escapechar are not supported",
	"doublequote":      "a quote character inside a value is always doubled",
	"dialect":          "set delimiter, quotechar, lineterminator and quoting instead",
	"skipinitialspace": "it only changes how CSV is read",
	"strict":           "it only changes how CSV is read",
	"skipkeys":         "item keys are always strings",
	"allow_nan":        "NaN and Infinity are written as JavaScript's JSON.stringify writes them",
	"check_circular":   "items cannot be circular",
	"default":          "a Python callable: convert values in a JS pipeline instead",
	"cls":              "a Python class: convert values in a JS pipeline instead",
	"binary":           "it belongs to PythonItemExporter",
	"protocol":         "it belongs to PickleItemExporter (no pickle format)",
}

// ParseExportKwargs checks and reads the item_export_kwargs of a feed of
// format f: a name the format's exporter does not take, or one we do not
// implement, is an error that says what to use instead. Values are
// JSON-like (string, int64, bool, []any); quoting also takes the names
// QUOTE_MINIMAL and QUOTE_ALL.
func ParseExportKwargs(f Format, kw map[string]any) (ExportOptions, error) {
	var o ExportOptions
	var errs []string
	for _, k := range sortedKeys(kw) {
		if err := o.set(f, k, kw[k]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return o, nil
}

// CheckExportKwarg says why one item_export_kwargs entry is refused for
// format f (a format name as written), or nil.
func CheckExportKwarg(format, key string, v any) error {
	f, err := ParseFormat(format)
	if err != nil {
		return nil // the format's own check says it
	}
	var o ExportOptions
	return o.set(f, key, v)
}

func (o *ExportOptions) set(f Format, k string, v any) error {
	if !slices.Contains(ExportKwargs[f], k) {
		if hint, ok := exportKwargHints[k]; ok {
			return fmt.Errorf("item_export_kwargs.%s: not supported: %s", k, hint)
		}
		return fmt.Errorf("item_export_kwargs.%s: not an option of the %s exporter (known: %s)", k, f, strings.Join(ExportKwargs[f], ", "))
	}
	bad := func(want string) error {
		return fmt.Errorf("item_export_kwargs.%s: expected %s, got %s", k, want, describe(v))
	}
	switch k {
	case "export_empty_fields", "include_headers_line", "sort_keys", "ensure_ascii":
		b, ok := v.(bool)
		if !ok {
			return bad("true or false")
		}
		switch k {
		case "export_empty_fields":
			o.ExportEmpty = b
		case "include_headers_line":
			o.NoHeader = !b
		case "sort_keys":
			o.SortKeys = b
		default:
			o.EnsureASCII = b
		}
	case "item_element", "root_element":
		s, ok := v.(string)
		if !ok || s == "" {
			return bad("a non-empty string")
		}
		if xmlName(s) != s {
			return fmt.Errorf("item_export_kwargs.%s: %q is not an XML element name", k, s)
		}
		if k == "item_element" {
			o.ItemElement = s
		} else {
			o.RootElement = s
		}
	case "join_multivalued":
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		o.Join = &s
	case "delimiter", "quotechar":
		s, ok := v.(string)
		if !ok || utf8.RuneCountInString(s) != 1 || s == "\r" || s == "\n" {
			return bad("one character (not a line break)")
		}
		r, _ := utf8.DecodeRuneInString(s)
		if k == "delimiter" {
			o.Delimiter = r
		} else {
			o.QuoteChar = r
		}
	case "lineterminator":
		s, ok := v.(string)
		if !ok || s == "" {
			return bad("a non-empty string")
		}
		o.LineTerminator = s
	case "quoting":
		switch v {
		case int64(0), "QUOTE_MINIMAL", "csv.QUOTE_MINIMAL":
			o.QuoteAll = false
		case int64(1), "QUOTE_ALL", "csv.QUOTE_ALL":
			o.QuoteAll = true
		case int64(2), int64(3), "QUOTE_NONNUMERIC", "QUOTE_NONE", "csv.QUOTE_NONNUMERIC", "csv.QUOTE_NONE":
			return fmt.Errorf("item_export_kwargs.quoting: only 0 (QUOTE_MINIMAL) and 1 (QUOTE_ALL) are supported, got %s", describe(v))
		default:
			return bad("0 (QUOTE_MINIMAL) or 1 (QUOTE_ALL)")
		}
	case "separators":
		l, ok := v.([]any)
		if !ok || len(l) != 2 {
			return bad("a list of two strings such as [\", \", \": \"]")
		}
		var sep [2]string
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return bad("a list of two strings such as [\", \", \": \"]")
			}
			if strings.Trim(s, " \t") != [2]string{",", ":"}[i] {
				return fmt.Errorf("item_export_kwargs.separators: %q must be %q with spaces around it (the output must stay JSON, one item a line in jsonlines)", s, [2]string{",", ":"}[i])
			}
			sep[i] = s
		}
		o.Separators = &sep
	}
	if (o.Delimiter != 0 || o.QuoteChar != 0) && cmp.Or(o.Delimiter, ',') == cmp.Or(o.QuoteChar, '"') {
		return fmt.Errorf("item_export_kwargs: delimiter and quotechar must differ")
	}
	return nil
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
