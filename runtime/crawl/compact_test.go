package crawl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullRequest sets every field of Request (Local and Lease aside, which
// keep a request whole), with nested values of every packable meta type.
func fullRequest() *Request {
	three, yes, no := 3, true, false
	return &Request{
		URL:     "https://shop.test/p/1?q=a%20b#frag",
		Method:  "POST",
		Headers: Headers{{"Referer", "https://shop.test/list"}, {"x-Case", "V"}, {"Empty", ""}},
		Body:    []byte("a=1&b=\x00\xff"),
		Cookies: []Cookie{{Name: "s", Value: "1", Domain: ".shop.test", Path: "/"}, {Name: "t"}},
		Meta: map[string]any{
			"nil": nil, "t": true, "f": false, "s": "str", "i": 7, "i64": int64(-1 << 40),
			"fl": 1.5, "negzero": math.Copysign(0, -1), "nan": math.NaN(), "inf": math.Inf(-1),
			"d": 3 * time.Second, "list": []any{1, "two", []any{3.0}, map[string]any{}},
			"nilslice": []any(nil), "nilmap": map[string]any(nil), "emptyslice": []any{},
			"map":  map[string]any{"k": map[string]any{"deep": int64(1)}},
			"ints": []int{200, 404}, "strs": []string{"a", ""}, "": "empty key",
		},
		CbKwargs:       map[string]any{"page": int64(2)},
		Priority:       -7,
		DontFilter:     true,
		Callback:       "parseItem",
		Errback:        "onError",
		SessionID:      "sess-1",
		DescText:       "item page",
		Proxy:          "socks5://127.0.0.1:1080",
		Timeout:        1500 * time.Millisecond,
		MaxRetryTimes:  &three,
		RetryDelay:     -time.Nanosecond,
		AllowRedirects: &no,
		MaxRedirects:   5,
		Verify:         &yes,
		Impersonate:    "chrome131",
		HTTPVersion:    "2",
		Kind:           KindForm,
		Credentials:    CredentialsInclude,
		WebSocket: &WebSocketSpec{ID: "ws", Send: []WSMessage{{Data: []byte("hi")}, {Data: []byte{}, Binary: true}, {}},
			PingData: []byte{1}, PingInterval: time.Minute},
		Depth:         math.MaxInt64,
		RetryTimes:    2,
		RedirectTimes: 1,
		RedirectURLs:  []string{"http://shop.test/a", ""},
		Start:         true,
		Parent:        "https://shop.test/list",
	}
}

// equalRequests is reflect.DeepEqual, except that NaN equals NaN (a NaN
// meta value must survive as NaN, which DeepEqual never finds equal).
func equalRequests(a, b *Request) bool {
	return reflect.DeepEqual(nanToString(reflect.ValueOf(a)).Interface(), nanToString(reflect.ValueOf(b)).Interface())
}

func nanToString(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Elem().Type())
		n.Elem().Set(nanToString(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := range v.NumField() {
			if n.Field(i).CanSet() {
				n.Field(i).Set(nanToString(v.Field(i)))
			}
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), nanToString(it.Value()))
		}
		return n
	case reflect.Slice:
		if v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8 {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(nanToString(v.Index(i)))
		}
		return n
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		if f, ok := v.Interface().(float64); ok && math.IsNaN(f) {
			return reflect.ValueOf(any("NaN"))
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(nanToString(v.Elem()))
		return n
	}
	return v
}

// TestPackCoversEveryField fails when a field is added to Request without
// being added to the encoding (or to fullRequest): every field but Local
// and Lease must be set in fullRequest and survive the round trip.
func TestPackCoversEveryField(t *testing.T) {
	r := fullRequest()
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Local" || name == "Lease" {
			continue
		}
		if v.Field(i).IsZero() {
			t.Errorf("fullRequest leaves %s unset: set it, and pack it in compact.go", name)
		}
	}
	p := Pack(r)
	if p.Whole() {
		t.Fatal("fullRequest was kept whole, not packed")
	}
	got, err := p.Unpack()
	if err != nil {
		t.Fatal(err)
	}
	if !equalRequests(got, fullRequest()) {
		t.Fatalf("round trip changed the request:\n got %#v\nwant %#v", got, fullRequest())
	}
	for k, want := range fullRequest().Meta {
		if reflect.TypeOf(got.Meta[k]) != reflect.TypeOf(want) {
			t.Errorf("meta %q: type %T, want %T", k, got.Meta[k], want)
		}
	}
	if f := got.Meta["negzero"].(float64); !math.Signbit(f) {
		t.Error("-0 lost its sign")
	}
	if p.URL() != r.URL {
		t.Errorf("URL() = %q", p.URL())
	}
}

// TestPackNilAndEmpty: a nil slice or map and an empty one stay distinct.
func TestPackNilAndEmpty(t *testing.T) {
	for _, r := range []*Request{
		{URL: "u"},
		{URL: "u", Headers: Headers{}, Body: []byte{}, Cookies: []Cookie{}, Meta: map[string]any{},
			CbKwargs: map[string]any{}, RedirectURLs: []string{}, WebSocket: &WebSocketSpec{Send: []WSMessage{}, PingData: []byte{}}},
		{URL: "", WebSocket: &WebSocketSpec{}},
	} {
		got, err := Pack(r).Unpack()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, r)
		}
	}
}

// TestPackRoundTripRandom is the property: for random requests with random
// subsets of fields set, Unpack(Pack(r)) equals r.
func TestPackRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	str := func() string {
		const alphabet = "ab/:?=%é\x00\xff"
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		k := rng.IntN(12)
		if depth > 3 && k >= 7 {
			k = 0
		}
		switch k {
		case 0:
			return nil
		case 1:
			return rng.IntN(2) == 0
		case 2:
			return str()
		case 3:
			return int(rng.Int64()) - math.MaxInt32
		case 4:
			return -rng.Int64()
		case 5:
			return rng.NormFloat64() * 1e300
		case 6:
			return time.Duration(rng.Int64())
		case 7:
			v := []any{}
			for range rng.IntN(4) {
				v = append(v, value(depth+1))
			}
			return v
		case 8:
			v := map[string]any{}
			for range rng.IntN(4) {
				v[str()] = value(depth + 1)
			}
			return v
		case 9:
			return []int{rng.IntN(600), -1}
		case 10:
			return []string{str()}
		default:
			return []any(nil)
		}
	}
	some := func() bool { return rng.IntN(3) == 0 }
	for i := range 3000 {
		r := &Request{URL: str()}
		if some() {
			r.Parent = "http://p.test/" + str()
		}
		if some() {
			r.Method = str()
		}
		if some() {
			r.Headers = Headers{}
			for range rng.IntN(4) {
				val := str()
				if some() {
					val = r.Parent
				}
				r.Headers = append(r.Headers, Header{str(), val})
			}
		}
		if some() {
			r.Body = []byte(str())
		}
		if some() {
			r.Cookies = []Cookie{{str(), str(), str(), str()}}
		}
		if some() {
			r.Meta = map[string]any{}
			for range rng.IntN(5) {
				r.Meta[str()] = value(0)
			}
		}
		if some() {
			r.CbKwargs = map[string]any{str(): value(0)}
		}
		if some() {
			r.Priority = rng.IntN(200) - 100
			r.Depth = rng.IntN(50)
			r.Callback = str()
		}
		if some() {
			n, b := rng.IntN(9)-2, some()
			r.MaxRetryTimes, r.AllowRedirects, r.Verify = &n, &b, &b
			r.Timeout, r.RetryDelay = time.Duration(rng.Int64()), -time.Duration(rng.IntN(9))
		}
		if some() {
			r.DontFilter, r.Start = some(), some()
			r.Errback, r.SessionID, r.DescText, r.Proxy = str(), str(), str(), str()
			r.Impersonate, r.HTTPVersion, r.Kind, r.Credentials = str(), str(), str(), str()
			r.MaxRedirects, r.RetryTimes, r.RedirectTimes = rng.IntN(9), rng.IntN(9), rng.IntN(9)
		}
		if some() {
			r.RedirectURLs = []string{str(), str()}
		}
		if some() {
			r.WebSocket = &WebSocketSpec{ID: str(), Send: []WSMessage{{Data: []byte(str()), Binary: some()}},
				PingInterval: time.Duration(rng.IntN(1e9))}
		}
		want := *r
		p := Pack(r)
		if p.Whole() {
			t.Fatalf("request %d kept whole: %#v", i, r)
		}
		got, err := p.Unpack()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if !equalRequests(got, &want) {
			t.Fatalf("request %d: round trip changed it:\n got %#v\nwant %#v", i, got, &want)
		}
	}
}

// jsObject stands for a value Go cannot copy or encode (a goja object or a
// ResultHolder a JavaScript callback put in meta).
type jsObject struct{ handle *int }

// TestPackKeepsUnpackableWhole: a request carrying process-local state or
// a meta value of a type the encoding does not know comes back as the very
// same request, so memory mode keeps such meta working.
func TestPackKeepsUnpackableWhole(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	deep := any("leaf")
	for range maxValueDepth + 2 {
		deep = []any{deep}
	}
	for name, r := range map[string]*Request{
		"local":    {URL: "u", Local: func() {}},
		"lease":    {URL: "u", Lease: 1},
		"jsobject": {URL: "u", Meta: map[string]any{"holder": jsObject{new(int)}}},
		"nested":   {URL: "u", CbKwargs: map[string]any{"l": []any{1, &jsObject{}}}},
		"uint":     {URL: "u", Meta: map[string]any{"n": uint(1)}},
		"cyclic":   {URL: "u", Meta: cyclic},
		"deep":     {URL: "u", Meta: map[string]any{"d": deep}},
		"nilints":  {URL: "u", Meta: map[string]any{"d": []int(nil)}},
	} {
		p := Pack(r)
		if !p.Whole() {
			t.Errorf("%s: packed, want kept whole", name)
			continue
		}
		got, err := p.Unpack()
		if err != nil || got != r {
			t.Errorf("%s: Unpack = %p, %v; want the original %p", name, got, err, r)
		}
	}
}

// TestPackSharesParent: the Referer header equal to the parent URL costs
// one byte, and unpacked requests share the parent's bytes.
func TestPackSharesParent(t *testing.T) {
	parent := "https://shop.test/category/with/a/rather/long/path?page=12"
	r := &Request{URL: "https://shop.test/p/1", Parent: parent, Headers: Headers{{"Referer", parent}}, Callback: "parse", Depth: 3}
	p := Pack(r)
	if want := 1 + len(r.URL) + 1 + 1 + 1 + len("Referer") + 1 + 1 + 1 + len("parse") + 2; p.Size() != want {
		t.Errorf("packed size = %d, want %d", p.Size(), want)
	}
	got, err := p.Unpack()
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers[0].Value != parent || got.Parent != parent {
		t.Fatalf("got %#v", got)
	}
}

func TestUnpackCorrupt(t *testing.T) {
	good := Pack(fullRequest()).b
	for i := range len(good) {
		_, err := Packed{b: good[:i]}.Unpack()
		if err == nil {
			continue // a prefix that ends between fields is a valid request
		}
		if !errors.Is(err, ErrCorruptPacked) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	if _, err := (Packed{b: "\x01u\xee"}).Unpack(); !errors.Is(err, ErrCorruptPacked) {
		t.Fatalf("unknown tag: err = %v", err)
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add(Pack(fullRequest()).b)
	f.Add(Pack(&Request{URL: "http://a.test/"}).b)
	f.Fuzz(func(t *testing.T, b string) {
		r, err := Packed{b: b, parent: "p"}.Unpack()
		if err == nil && r == nil {
			t.Fatal("nil request without error")
		}
	})
}

func BenchmarkPackUnpack(b *testing.B) {
	parent := "http://127.0.0.1:8080/category/17?page=3"
	r := &Request{URL: "http://127.0.0.1:8080/product/123456", Parent: parent,
		Headers: Headers{{"Referer", parent}}, Callback: "parse", Depth: 2}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Pack(r).Unpack(); err != nil {
			b.Fatal(err)
		}
	}
}

func ExamplePack() {
	r := &Request{URL: "http://shop.test/p/1", Parent: "http://shop.test/", Callback: "parse", Depth: 1}
	p := Pack(r)
	back, _ := p.Unpack()
	fmt.Println(back.URL, back.Callback, back.Depth, back.Parent)
	// Output: http://shop.test/p/1 parse 1 http://shop.test/
}
