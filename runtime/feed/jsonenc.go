package feed

import (
	"fmt"
	"strconv"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// appendItemJSON appends it as a JSON object, byte for byte what
// crawl.Item.MarshalJSON writes, without its per-value encoder: plain
// strings and integers (nearly every field of nearly every item) are
// written directly; anything else goes through encoding/json.
func appendItemJSON(b []byte, it *crawl.Item) ([]byte, error) {
	b = append(b, '{')
	for i, f := range it.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Key)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, f.Value); err != nil {
			return nil, fmt.Errorf("item.%s: %w", f.Key, err)
		}
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case *crawl.Item:
		return appendItemJSON(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	s, err := jsonText(v)
	if err != nil {
		return nil, err
	}
	return append(b, s...), nil
}

// appendJSONString copies printable ASCII strings as they are and lets
// encoding/json escape the rest (same rules: no HTML escaping).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t, _ := jsonText(s) // a string always encodes
			return append(b, t...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
