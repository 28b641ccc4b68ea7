// Package crawl holds the plain data of a crawl: requests, responses, items and
// failures. It imports no other package of spiderrun, so every layer (engine,
// downloader, JS bridge, Redis backend) can share these types.
package crawl

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Header is one header line. Name keeps the case it was given: an
// impersonation profile may need "sec-ch-ua" lower-case on HTTP/1.1.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Headers is an ordered, case-insensitive header list. Order matters on the
// wire (browsers send a fixed order), so it is never a map.
type Headers []Header

// Get returns the first value of name, or "".
func (h Headers) Get(name string) string {
	for _, kv := range h {
		if strings.EqualFold(kv.Name, name) {
			return kv.Value
		}
	}
	return ""
}

// Has reports whether name is present.
func (h Headers) Has(name string) bool {
	for _, kv := range h {
		if strings.EqualFold(kv.Name, name) {
			return true
		}
	}
	return false
}

// Values returns every value of name in order.
func (h Headers) Values(name string) []string {
	var out []string
	for _, kv := range h {
		if strings.EqualFold(kv.Name, name) {
			out = append(out, kv.Value)
		}
	}
	return out
}

// Set replaces every value of name with value, keeping the position of the
// first occurrence (or appending when absent).
func (h *Headers) Set(name, value string) {
	out := (*h)[:0]
	done := false
	for _, kv := range *h {
		if strings.EqualFold(kv.Name, name) {
			if !done {
				out = append(out, Header{kv.Name, value})
				done = true
			}
			continue
		}
		out = append(out, kv)
	}
	if !done {
		out = append(out, Header{name, value})
	}
	*h = out
}

// SetDefault sets name only when it is absent.
func (h *Headers) SetDefault(name, value string) {
	if !h.Has(name) {
		*h = append(*h, Header{name, value})
	}
}

// Add appends a value.
func (h *Headers) Add(name, value string) { *h = append(*h, Header{name, value}) }

// Del removes every value of name.
func (h *Headers) Del(name string) {
	out := (*h)[:0]
	for _, kv := range *h {
		if !strings.EqualFold(kv.Name, name) {
			out = append(out, kv)
		}
	}
	*h = out
}

// Clone returns an independent copy.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	return append(Headers(nil), h...)
}

// HTTP converts to a net/http header map (order is lost; use only where the
// wire order does not matter).
func (h Headers) HTTP() http.Header {
	out := make(http.Header, len(h))
	for _, kv := range h {
		k := textproto.CanonicalMIMEHeaderKey(kv.Name)
		out[k] = append(out[k], kv.Value)
	}
	return out
}

// FromHTTP converts a net/http header map, sorted by name so the result is
// deterministic.
func FromHTTP(hh http.Header) Headers {
	keys := make([]string, 0, len(hh))
	for k := range hh {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out Headers
	for _, k := range keys {
		for _, v := range hh[k] {
			out = append(out, Header{k, v})
		}
	}
	return out
}
