package dsl

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// DecodeFeeds decodes the entries of the FEEDS setting into feeds, in
// order, with the options of the spec's feeds: key (decodeFeedSetting).
// Values are checked when they are set (spec, -s, Set), so no entry of a
// setting fails here; one that would is left out.
func DecodeFeeds(kvs []KV) Feeds {
	var out Feeds
	for _, kv := range kvs {
		if f, err := decodeFeedSetting(kv); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// decodeFeedSetting decodes one entry of FEEDS (URI → options, a JSON-like
// value from the spec's settings: or from -s) into a Feed: the same option
// names and types as the spec's feeds: key (FeedOptions), null meaning
// "not set". It is the one decoder of FEEDS: the setting's check
// (feedsSetting) and DecodeFeeds both use it. As in feeds:, Format
// stays empty when the URI's extension tells it.
func decodeFeedSetting(kv KV) (Feed, error) {
	m, ok := kv.Value.(map[string]any)
	if !ok {
		return Feed{}, fmt.Errorf("feed %q: options must be a mapping such as {format: jsonlines}, got %s", kv.Key, describeValue(kv.Value))
	}
	t := reflect.TypeOf(FeedOptions{})
	idx, names := yamlFields(t)
	sort.Strings(names)
	keys := sortedKeys(m)
	for _, k := range keys {
		if why, ok := refusedFeedOptions[k]; ok {
			return Feed{}, fmt.Errorf("feed %q: %s: not supported: %s", kv.Key, k, why)
		}
		if _, ok := idx[k]; !ok {
			return Feed{}, fmt.Errorf("feed %q: unknown option %q%s", kv.Key, k, didYouMean(k, names))
		}
	}
	f := Feed{URI: kv.Key}
	opts := reflect.ValueOf(&f.FeedOptions).Elem()
	for _, k := range keys {
		if err := setFeedOption(opts.Field(idx[k]), m[k]); err != nil {
			return Feed{}, fmt.Errorf("feed %q: %s: %w", kv.Key, k, err)
		}
	}
	if f.Indent != nil && *f.Indent < 0 {
		return Feed{}, fmt.Errorf("feed %q: indent: must not be negative", kv.Key)
	}
	if f.Format == "" && feedFormatFromURI(kv.Key) == "" {
		return Feed{}, fmt.Errorf("feed %q: cannot tell the format from the file name; set format (jsonlines, json, csv, xml)", kv.Key)
	}
	if f.Format != "" && !contains(feedFormats, f.Format) {
		return Feed{}, fmt.Errorf("feed %q: format must be one of %s, got %q", kv.Key, strings.Join(feedFormats, ", "), f.Format)
	}
	return f, nil
}

// setFeedOption stores a JSON-like value into a FeedOptions field by the
// field's type, as the YAML decoder does for feeds:: any scalar is text,
// booleans and integers are strict, a single string is a list of one.
func setFeedOption(field reflect.Value, v any) error {
	if v == nil {
		return nil
	}
	switch field.Interface().(type) {
	case string:
		s, ok := scalarText(v)
		if !ok {
			return fmt.Errorf("expected a string, got %s", gotValue(v))
		}
		field.SetString(s)
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("expected true or false, got %s", gotValue(v))
		}
		field.Set(reflect.ValueOf(&b))
	case *int:
		var i int
		switch n := v.(type) {
		case int64:
			i = int(n)
		case int:
			i = n
		default:
			return fmt.Errorf("expected an integer, got %s", gotValue(v))
		}
		field.Set(reflect.ValueOf(&i))
	case *string:
		s, ok := scalarText(v)
		if !ok {
			return fmt.Errorf("expected a string, got %s", gotValue(v))
		}
		field.Set(reflect.ValueOf(&s))
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("expected a mapping, got %s", gotValue(v))
		}
		field.Set(reflect.ValueOf(m))
	case FeedFields:
		ff, err := feedFieldsValue(v)
		if err != nil {
			return err
		}
		field.Set(reflect.ValueOf(ff))
	case nil: // an option of any type (lzma_format, lzma_check)
		field.Set(reflect.ValueOf(&v).Elem())
	case []string:
		if s, ok := v.(string); ok {
			field.Set(reflect.ValueOf([]string{s}))
			return nil
		}
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("expected a list, got %s", gotValue(v))
		}
		out := make([]string, len(list))
		for i, x := range list {
			s, ok := scalarText(x)
			if !ok {
				return fmt.Errorf("[%d]: expected a string, got %s", i, gotValue(x))
			}
			out[i] = s
		}
		field.Set(reflect.ValueOf(out))
	default:
		return fmt.Errorf("internal: option of type %s", field.Type())
	}
	return nil
}

// feedFieldsValue reads FEEDS' fields: a list of names (an entry may be
// a one-entry mapping {field: Output name}), a single name, or a mapping
// of one entry (a mapping of more has lost its order in the setting:
// refused, with the forms that keep it).
func feedFieldsValue(v any) (FeedFields, error) {
	out := FeedFields{}
	entry := func(k string, o any) error {
		s, ok := scalarText(o)
		if !ok {
			return fmt.Errorf("%s: expected an output name, got %s", k, gotValue(o))
		}
		out = append(out, KV{Key: k, Value: s})
		return nil
	}
	switch x := v.(type) {
	case string:
		return FeedFields{{Key: x, Value: x}}, nil
	case map[string]any:
		if len(x) > 1 {
			return nil, fmt.Errorf("a mapping of fields loses its order in the FEEDS setting: write it in the spec's feeds: key, or as a list [{field: Output name}, ...]")
		}
		for k, o := range x {
			if err := entry(k, o); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			switch y := e.(type) {
			case map[string]any:
				if len(y) != 1 {
					return nil, fmt.Errorf("[%d]: expected a field name or {field: output name}, got a mapping of %d entries", i, len(y))
				}
				for k, o := range y {
					if err := entry(k, o); err != nil {
						return nil, fmt.Errorf("[%d]: %w", i, err)
					}
				}
			default:
				s, ok := scalarText(e)
				if !ok {
					return nil, fmt.Errorf("[%d]: expected a string, got %s", i, gotValue(e))
				}
				out = append(out, KV{Key: s, Value: s})
			}
		}
	default:
		return nil, fmt.Errorf("expected a list of field names or a mapping, got %s", gotValue(v))
	}
	return out, nil
}

// scalarText is a scalar's text (a number or boolean as Go prints it).
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64, float64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

// gotValue names a wrong value in a message: a scalar as written, else
// its kind ("a list").
func gotValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case int64, float64, bool:
		return fmt.Sprint(x)
	}
	return describeValue(v)
}
