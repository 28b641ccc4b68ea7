package crawl

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Field is one key/value of an Item.
type Field struct {
	Key   string
	Value any
}

// Item is a scraped record: an ordered field map. Values are JSON-like: nil,
// bool, float64, int64, string, []any, *Item (nested object, ordered) or
// map[string]any. Field order is kept in every feed format.
type Item struct {
	Fields []Field
}

// NewItem builds an item from alternating key, value arguments.
func NewItem(kv ...any) *Item {
	it := &Item{}
	for i := 0; i+1 < len(kv); i += 2 {
		it.Set(fmt.Sprint(kv[i]), kv[i+1])
	}
	return it
}

// Get returns a field's value and whether it exists.
func (it *Item) Get(key string) (any, bool) {
	for _, f := range it.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Set sets a field, keeping its position when it already exists.
func (it *Item) Set(key string, v any) {
	for i := range it.Fields {
		if it.Fields[i].Key == key {
			it.Fields[i].Value = v
			return
		}
	}
	it.Fields = append(it.Fields, Field{key, v})
}

// Delete removes a field.
func (it *Item) Delete(key string) {
	for i := range it.Fields {
		if it.Fields[i].Key == key {
			it.Fields = append(it.Fields[:i], it.Fields[i+1:]...)
			return
		}
	}
}

// Keys returns the field names in order.
func (it *Item) Keys() []string {
	keys := make([]string, len(it.Fields))
	for i, f := range it.Fields {
		keys[i] = f.Key
	}
	return keys
}

// Len is the number of fields.
func (it *Item) Len() int { return len(it.Fields) }

// MarshalJSON writes the fields in order.
func (it *Item) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range it.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalValue(f.Value)
		if err != nil {
			return nil, fmt.Errorf("item.%s: %w", f.Key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalValue(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// UnmarshalJSON reads a JSON object keeping field order; nested objects
// become *Item.
func (it *Item) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return err
	}
	got, ok := v.(*Item)
	if !ok {
		return fmt.Errorf("item: want a JSON object")
	}
	*it = *got
	return nil
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			it := &Item{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				it.Fields = append(it.Fields, Field{kt.(string), v})
			}
			_, err := dec.Token()
			return it, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		return t.Float64()
	}
	return tok, nil
}

// Plain returns v with every *Item nested in it (in items, maps and
// slices) turned into a map[string]any, for Go code that reads values by
// key, such as meta, cb_kwargs or a session's identity; field order is
// lost. Slices are converted in place.
func Plain(v any) any {
	switch t := v.(type) {
	case *Item:
		m := make(map[string]any, len(t.Fields))
		for _, f := range t.Fields {
			m[f.Key] = Plain(f.Value)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = Plain(x)
		}
		return m
	case []any:
		for i := range t {
			t[i] = Plain(t[i])
		}
		return t
	}
	return v
}
