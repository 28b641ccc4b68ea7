package crawl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Packed is a pending request in a compact form, for a frontier that keeps
// many of them in memory (issue #21: a 408-byte Request plus its headers
// and strings cost ~1.45 KB of RSS per pending request). It holds the URL
// and only the fields that are set, encoded in one immutable string, and
// the parent page's URL as a separate string that every request found on
// that page shares (its Referer header, most of the time, is the same
// string and is stored as a reference to it). Unpack rebuilds a Request
// equal to the packed one in every field.
//
// A request that cannot be packed exactly (Request.Local or Lease set, or
// meta or cb_kwargs holding a value of a type the encoding does not know,
// such as a JavaScript object) is kept whole: memory mode never loses or
// changes a request to save space.
//
// The zero Packed is not a request; Packed values are immutable and safe to
// share.
type Packed struct {
	b      string
	parent string
	full   *Request
}

// Whole reports whether p keeps its request whole (it could not be packed).
func (p Packed) Whole() bool { return p.full != nil }

// URL is the packed request's URL, without unpacking it.
func (p Packed) URL() string {
	if p.full != nil {
		return p.full.URL
	}
	d := decoder{s: p.b}
	return d.str()
}

// Size is the number of bytes p holds besides its own header and the shared
// parent URL (for tests and capacity estimates; a whole request counts 0).
func (p Packed) Size() int { return len(p.b) }

// Field tags of the encoding. A tag is written only when its field is set
// (non-zero, or a non-nil empty slice or map, so that nil and empty stay
// distinct). The order is the struct's; a decoder accepts any order.
const (
	tagMethod byte = iota + 1
	tagHeaders
	tagBody
	tagCookies
	tagMeta
	tagCbKwargs
	tagPriority
	tagDontFilter
	tagCallback
	tagErrback
	tagSessionID
	tagDescText
	tagProxy
	tagTimeout
	tagMaxRetryTimes
	tagRetryDelay
	tagAllowRedirects
	tagMaxRedirects
	tagVerify
	tagImpersonate
	tagHTTPVersion
	tagKind
	tagWebSocket
	tagDepth
	tagRetryTimes
	tagRedirectTimes
	tagRedirectURLs
	tagStart
	tagCredentials // after the older tags: packed requests already stored keep their meaning
)

// Value types of meta and cb_kwargs values. Only these are packed; any
// other type keeps the request whole. Each is decoded to the very Go type
// it was encoded from (an int stays an int, an int64 an int64).
const (
	valNil byte = iota
	valFalse
	valTrue
	valString
	valInt
	valInt64
	valFloat64
	valSlice    // []any
	valNilSlice // []any(nil)
	valMap      // map[string]any
	valNilMap   // map[string]any(nil)
	valInts     // []int
	valStrings  // []string
	valDuration // time.Duration
)

// maxValueDepth bounds the nesting of meta values that are packed: deeper
// (or cyclic) values keep the request whole instead of recursing forever.
const maxValueDepth = 32

var errUnpackable = errors.New("value cannot be packed")

var packBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Pack returns the compact form of r. The caller must not change r
// afterwards (a request that cannot be packed is kept as r itself).
func Pack(r *Request) Packed {
	if r.Local != nil || r.Lease != nil {
		return Packed{full: r}
	}
	bp := packBufs.Get().(*[]byte)
	b, err := appendRequest((*bp)[:0], r)
	p := Packed{full: r}
	if err == nil {
		p = Packed{b: string(b), parent: r.Parent}
	}
	if cap(b) <= 64<<10 { // do not keep one huge body's buffer forever
		*bp = b[:0]
		packBufs.Put(bp)
	}
	return p
}

func appendRequest(b []byte, r *Request) ([]byte, error) {
	b = appendStr(b, r.URL)
	b = optStr(b, tagMethod, r.Method)
	if r.Headers != nil {
		b = append(b, tagHeaders)
		b = binary.AppendUvarint(b, uint64(len(r.Headers)))
		for _, h := range r.Headers {
			b = appendStr(b, h.Name)
			b = appendStrRef(b, h.Value, r.Parent)
		}
	}
	if r.Body != nil {
		b = append(b, tagBody)
		b = appendStr(b, string(r.Body))
	}
	if r.Cookies != nil {
		b = append(b, tagCookies)
		b = binary.AppendUvarint(b, uint64(len(r.Cookies)))
		for _, c := range r.Cookies {
			b = appendStr(b, c.Name)
			b = appendStr(b, c.Value)
			b = appendStr(b, c.Domain)
			b = appendStr(b, c.Path)
		}
	}
	var err error
	if r.Meta != nil {
		b = append(b, tagMeta)
		if b, err = appendMap(b, r.Meta, 0); err != nil {
			return nil, err
		}
	}
	if r.CbKwargs != nil {
		b = append(b, tagCbKwargs)
		if b, err = appendMap(b, r.CbKwargs, 0); err != nil {
			return nil, err
		}
	}
	b = optInt(b, tagPriority, int64(r.Priority))
	b = optBool(b, tagDontFilter, r.DontFilter)
	b = optStr(b, tagCallback, r.Callback)
	b = optStr(b, tagErrback, r.Errback)
	b = optStr(b, tagSessionID, r.SessionID)
	b = optStr(b, tagDescText, r.DescText)
	b = optStr(b, tagProxy, r.Proxy)
	b = optInt(b, tagTimeout, int64(r.Timeout))
	if r.MaxRetryTimes != nil {
		b = append(b, tagMaxRetryTimes)
		b = binary.AppendVarint(b, int64(*r.MaxRetryTimes))
	}
	b = optInt(b, tagRetryDelay, int64(r.RetryDelay))
	if r.AllowRedirects != nil {
		b = append(b, tagAllowRedirects, boolByte(*r.AllowRedirects))
	}
	b = optInt(b, tagMaxRedirects, int64(r.MaxRedirects))
	if r.Verify != nil {
		b = append(b, tagVerify, boolByte(*r.Verify))
	}
	b = optStr(b, tagImpersonate, r.Impersonate)
	b = optStr(b, tagHTTPVersion, r.HTTPVersion)
	b = optStr(b, tagKind, r.Kind)
	b = optStr(b, tagCredentials, r.Credentials)
	if ws := r.WebSocket; ws != nil {
		b = append(b, tagWebSocket)
		b = appendStr(b, ws.ID)
		b = appendNilFlag(b, ws.Send == nil)
		b = binary.AppendUvarint(b, uint64(len(ws.Send)))
		for _, m := range ws.Send {
			b = appendNilFlag(b, m.Data == nil)
			b = appendStr(b, string(m.Data))
			b = append(b, boolByte(m.Binary))
		}
		b = appendNilFlag(b, ws.PingData == nil)
		b = appendStr(b, string(ws.PingData))
		b = binary.AppendVarint(b, int64(ws.PingInterval))
	}
	b = optInt(b, tagDepth, int64(r.Depth))
	b = optInt(b, tagRetryTimes, int64(r.RetryTimes))
	b = optInt(b, tagRedirectTimes, int64(r.RedirectTimes))
	if r.RedirectURLs != nil {
		b = append(b, tagRedirectURLs)
		b = binary.AppendUvarint(b, uint64(len(r.RedirectURLs)))
		for _, u := range r.RedirectURLs {
			b = appendStr(b, u)
		}
	}
	b = optBool(b, tagStart, r.Start)
	return b, nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendStrRef writes s as a reference to parent (length 0) when it is
// parent, so that a Referer header costs one byte; otherwise its length
// plus one and its bytes.
func appendStrRef(b []byte, s, parent string) []byte {
	if parent != "" && s == parent {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func optStr(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendStr(append(b, tag), s)
}

func optInt(b []byte, tag byte, v int64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendVarint(append(b, tag), v)
}

func optBool(b []byte, tag byte, v bool) []byte {
	if !v {
		return b
	}
	return append(b, tag)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendNilFlag(b []byte, isNil bool) []byte { return append(b, boolByte(isNil)) }

func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, errUnpackable
	}
	b = binary.AppendUvarint(b, uint64(len(m)))
	var err error
	for k, v := range m {
		b = appendStr(b, k)
		if b, err = appendValue(b, v, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, errUnpackable
	}
	switch v := v.(type) {
	case nil:
		return append(b, valNil), nil
	case bool:
		if v {
			return append(b, valTrue), nil
		}
		return append(b, valFalse), nil
	case string:
		return appendStr(append(b, valString), v), nil
	case int:
		return binary.AppendVarint(append(b, valInt), int64(v)), nil
	case int64:
		return binary.AppendVarint(append(b, valInt64), v), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, valFloat64), math.Float64bits(v)), nil
	case time.Duration:
		return binary.AppendVarint(append(b, valDuration), int64(v)), nil
	case []any:
		if v == nil {
			return append(b, valNilSlice), nil
		}
		b = binary.AppendUvarint(append(b, valSlice), uint64(len(v)))
		var err error
		for _, e := range v {
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		if v == nil {
			return append(b, valNilMap), nil
		}
		return appendMap(append(b, valMap), v, depth)
	case []int:
		if v == nil {
			return nil, errUnpackable
		}
		b = binary.AppendUvarint(append(b, valInts), uint64(len(v)))
		for _, n := range v {
			b = binary.AppendVarint(b, int64(n))
		}
		return b, nil
	case []string:
		if v == nil {
			return nil, errUnpackable
		}
		b = binary.AppendUvarint(append(b, valStrings), uint64(len(v)))
		for _, s := range v {
			b = appendStr(b, s)
		}
		return b, nil
	}
	return nil, errUnpackable
}

// ErrCorruptPacked is matched by the error of Unpack on bytes it did not
// write; it means a bug, never bad input, since Packed is only built by Pack.
var ErrCorruptPacked = errors.New("corrupt packed request")

// Unpack rebuilds the request. Its strings share the packed bytes (no copy);
// its byte slices, slices and maps are its own, so the caller may change
// them. A request kept whole is returned as is.
func (p Packed) Unpack() (*Request, error) {
	if p.full != nil {
		return p.full, nil
	}
	d := decoder{s: p.b, parent: p.parent}
	r := &Request{Parent: p.parent}
	r.URL = d.str()
	for d.err == nil && d.i < len(d.s) {
		tag := d.s[d.i]
		d.i++
		switch tag {
		case tagMethod:
			r.Method = d.str()
		case tagHeaders:
			n := d.count()
			r.Headers = make(Headers, 0, n)
			for range n {
				name := d.str()
				r.Headers = append(r.Headers, Header{Name: name, Value: d.strRef()})
			}
		case tagBody:
			r.Body = []byte(d.str())
		case tagCookies:
			n := d.count()
			r.Cookies = make([]Cookie, 0, n)
			for range n {
				r.Cookies = append(r.Cookies, Cookie{Name: d.str(), Value: d.str(), Domain: d.str(), Path: d.str()})
			}
		case tagMeta:
			r.Meta = d.mapValue(0)
		case tagCbKwargs:
			r.CbKwargs = d.mapValue(0)
		case tagPriority:
			r.Priority = int(d.varint())
		case tagDontFilter:
			r.DontFilter = true
		case tagCallback:
			r.Callback = d.str()
		case tagErrback:
			r.Errback = d.str()
		case tagSessionID:
			r.SessionID = d.str()
		case tagDescText:
			r.DescText = d.str()
		case tagProxy:
			r.Proxy = d.str()
		case tagTimeout:
			r.Timeout = time.Duration(d.varint())
		case tagMaxRetryTimes:
			n := int(d.varint())
			r.MaxRetryTimes = &n
		case tagRetryDelay:
			r.RetryDelay = time.Duration(d.varint())
		case tagAllowRedirects:
			v := d.byte() == 1
			r.AllowRedirects = &v
		case tagMaxRedirects:
			r.MaxRedirects = int(d.varint())
		case tagVerify:
			v := d.byte() == 1
			r.Verify = &v
		case tagImpersonate:
			r.Impersonate = d.str()
		case tagHTTPVersion:
			r.HTTPVersion = d.str()
		case tagKind:
			r.Kind = d.str()
		case tagCredentials:
			r.Credentials = d.str()
		case tagWebSocket:
			ws := &WebSocketSpec{ID: d.str()}
			sendNil := d.byte() == 1
			n := d.count()
			if !sendNil {
				ws.Send = make([]WSMessage, 0, n)
			}
			for range n {
				dataNil := d.byte() == 1
				m := WSMessage{Data: d.bytes(dataNil)}
				m.Binary = d.byte() == 1
				ws.Send = append(ws.Send, m)
			}
			ws.PingData = d.bytes(d.byte() == 1)
			ws.PingInterval = time.Duration(d.varint())
			r.WebSocket = ws
		case tagDepth:
			r.Depth = int(d.varint())
		case tagRetryTimes:
			r.RetryTimes = int(d.varint())
		case tagRedirectTimes:
			r.RedirectTimes = int(d.varint())
		case tagRedirectURLs:
			n := d.count()
			r.RedirectURLs = make([]string, 0, n)
			for range n {
				r.RedirectURLs = append(r.RedirectURLs, d.str())
			}
		case tagStart:
			r.Start = true
		default:
			d.fail("unknown field tag %d", tag)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

type decoder struct {
	s      string
	i      int
	parent string
	err    error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w at byte %d of %d: %s", ErrCorruptPacked, d.i, len(d.s), fmt.Sprintf(format, args...))
	}
	d.i = len(d.s)
}

func (d *decoder) byte() byte {
	if d.i >= len(d.s) {
		d.fail("truncated")
		return 0
	}
	c := d.s[d.i]
	d.i++
	return c
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for k := 0; k < binary.MaxVarintLen64; k++ {
		c := d.byte()
		if d.err != nil {
			return 0
		}
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail("varint overflow")
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a length that must fit in what is left (each element takes
// at least one byte), so a corrupt length cannot make a huge allocation.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail("count %d past the end", n)
		return 0
	}
	return int(n)
}

func (d *decoder) strN(n uint64) string {
	if n > uint64(len(d.s)-d.i) {
		d.fail("string of %d bytes past the end", n)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *decoder) str() string { return d.strN(d.uvarint()) }

func (d *decoder) strRef() string {
	n := d.uvarint()
	if n == 0 && d.err == nil {
		return d.parent
	}
	return d.strN(n - 1)
}

func (d *decoder) bytes(isNil bool) []byte {
	s := d.str()
	if isNil {
		return nil
	}
	return []byte(s)
}

func (d *decoder) mapValue(depth int) map[string]any {
	n := d.count()
	m := make(map[string]any, n)
	for range n {
		k := d.str()
		m[k] = d.value(depth + 1)
	}
	return m
}

func (d *decoder) value(depth int) any {
	if depth > maxValueDepth {
		d.fail("values nested deeper than %d", maxValueDepth)
		return nil
	}
	switch t := d.byte(); t {
	case valNil:
		return nil
	case valFalse:
		return false
	case valTrue:
		return true
	case valString:
		return d.str()
	case valInt:
		return int(d.varint())
	case valInt64:
		return d.varint()
	case valFloat64:
		s := d.strN(8)
		if d.err != nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64([]byte(s)))
	case valDuration:
		return time.Duration(d.varint())
	case valSlice:
		n := d.count()
		v := make([]any, 0, n)
		for range n {
			v = append(v, d.value(depth+1))
		}
		return v
	case valNilSlice:
		return []any(nil)
	case valMap:
		return d.mapValue(depth)
	case valNilMap:
		return map[string]any(nil)
	case valInts:
		n := d.count()
		v := make([]int, 0, n)
		for range n {
			v = append(v, int(d.varint()))
		}
		return v
	case valStrings:
		n := d.count()
		v := make([]string, 0, n)
		for range n {
			v = append(v, d.str())
		}
		return v
	default:
		d.fail("unknown value type %d", t)
		return nil
	}
}
