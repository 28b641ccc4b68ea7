package jsbridge

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// requestOptions are the keys `new Request({...})` accepts (DESIGN.md §3).
var requestOptions = []string{
	"url", "method", "params", "headers", "data", "json", "body", "cookies",
	"proxies", "proxy", "timeout", "max_retry_times", "retry_delay",
	"allow_redirects", "max_redirects", "verify", "impersonate", "http_version", "kind",
	"credentials", "meta", "cb_kwargs", "dont_filter", "priority", "callback", "errback",
	"session_id", "desc_text", "formdata", "formname", "formid", "formnumber",
	"formxpath", "formcss", "clickdata", "dont_click",
	"websocket_id", "send_message", "ping_data", "ping_interval",
	"render", "wait_for", "wait_for_js",
}

// optionGetter reads one option (from the options object or the request's
// own properties).
type optionGetter func(key string) goja.Value

// formOnly and wsOnly are options only FormRequest / WebSocketRequest take.
var (
	formOnly = []string{"formdata", "formname", "formid", "formnumber", "formxpath", "formcss", "clickdata", "dont_click"}
	wsOnly   = []string{"websocket_id", "send_message", "ping_data", "ping_interval"}
)

// checkOptions rejects unknown keys with a suggestion, and the options of
// another request class. It returns the keys, for optionsGetter.
func checkOptions(o *goja.Object, kind requestKind) ([]string, error) {
	keys := o.Keys()
	for _, k := range keys {
		found := slices.Contains(requestOptions, k)
		if found && kind != kindForm && slices.Contains(formOnly, k) {
			return nil, fmt.Errorf("%s: option %q is for FormRequest", kind, k)
		}
		if found && kind != kindWS && slices.Contains(wsOnly, k) {
			return nil, fmt.Errorf("%s: option %q is for WebSocketRequest", kind, k)
		}
		if !found {
			msg := fmt.Sprintf("%s: unknown option %q", kind, k)
			if s := suggest(k, requestOptions); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, fmt.Errorf("%s", msg)
		}
	}
	return keys, nil
}

// suggest returns the closest candidate within edit distance 2.
func suggest(k string, cands []string) string {
	best, bestD := "", 3
	for _, c := range cands {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// buildRequest converts options (or a request's own properties) to a
// *crawl.Request. fromOptions enables the construction-only keys (params,
// data, json).
func (s *Spider) buildRequest(get optionGetter, kind requestKind, fromOptions bool) (*crawl.Request, *jsLocal, error) {
	r := &crawl.Request{}
	str := func(k string) (string, error) {
		v := get(k)
		if !present(v) {
			return "", nil
		}
		if _, ok := v.(*goja.Object); ok {
			return "", fmt.Errorf("%s: %s must be a string", kind, k)
		}
		return v.String(), nil
	}
	var err error
	if r.URL, err = str("url"); err != nil {
		return nil, nil, err
	}
	if r.URL == "" {
		return nil, nil, fmt.Errorf("%s: url is required", kind)
	}
	scheme, err := requestScheme(r.URL, kind)
	if err != nil {
		return nil, nil, err
	}
	if r.Method, err = str("method"); err != nil {
		return nil, nil, err
	}
	r.Method = strings.ToUpper(r.Method)
	if h := get("headers"); present(h) {
		if r.Headers, err = s.headersFrom(h, kind); err != nil {
			return nil, nil, err
		}
	}
	if b := get("body"); present(b) {
		if r.Body, err = bytesOf(b); err != nil {
			return nil, nil, fmt.Errorf("%s: body: %w", kind, err)
		}
	}
	if fromOptions {
		if p := get("params"); present(p) {
			if r.URL, err = s.withParams(r.URL, p, kind); err != nil {
				return nil, nil, err
			}
		}
		if d := get("data"); present(d) && kind != kindForm {
			if r.Body, err = s.formBody(d, kind, "data"); err != nil {
				return nil, nil, err
			}
			if _, isObj := d.(*goja.Object); isObj {
				r.Headers.SetDefault("Content-Type", "application/x-www-form-urlencoded")
			}
			if r.Method == "" {
				r.Method = "POST"
			}
		}
		if j := get("json"); j != nil && !goja.IsUndefined(j) {
			x := s.exporter()
			v, verr := x.value(j, "json", 0)
			if verr != nil {
				return nil, nil, fmt.Errorf("%s: %w", kind, verr)
			}
			b, merr := json.Marshal(v)
			if merr != nil {
				return nil, nil, fmt.Errorf("%s: json: %w", kind, merr)
			}
			r.Body = b
			r.Headers.Set("Content-Type", "application/json")
			if r.Method == "" {
				r.Method = "POST"
			}
		}
	}
	if c := get("cookies"); present(c) {
		if r.Cookies, err = cookiesFrom(s.vm, c); err != nil {
			return nil, nil, fmt.Errorf("%s: cookies: %w", kind, err)
		}
	}
	var x *exporter // only for meta and cb_kwargs (it allocates)
	if m := get("meta"); present(m) {
		mo, ok := m.(*goja.Object)
		if !ok {
			return nil, nil, fmt.Errorf("%s: meta must be an object", kind)
		}
		keys := mo.Keys()
		if len(keys) > 0 {
			x = s.exporter()
			r.Meta = make(map[string]any, len(keys))
			for _, k := range keys {
				r.Meta[k] = x.metaValue(mo.Get(k))
			}
		}
	}
	// render, wait_for, wait_for_js: a page loaded in Chromium
	// (runtime/browser's RenderMiddleware reads them from meta, where a
	// downloader middleware can also set them).
	if v := get("render"); present(v) {
		r.SetMeta("render", v.ToBoolean())
	}
	for _, k := range []string{"wait_for", "wait_for_js"} {
		w, err := str(k)
		if err != nil {
			return nil, nil, err
		}
		if w != "" {
			r.SetMeta(k, w)
		}
	}
	if m := get("cb_kwargs"); present(m) {
		mo, ok := m.(*goja.Object)
		if !ok {
			return nil, nil, fmt.Errorf("%s: cb_kwargs must be an object", kind)
		}
		keys := mo.Keys()
		if len(keys) > 0 {
			if x == nil {
				x = s.exporter()
			}
			r.CbKwargs = make(map[string]any, len(keys))
			for _, k := range keys {
				r.CbKwargs[k] = x.metaValue(mo.Get(k))
			}
		}
	}
	if v := get("priority"); present(v) {
		r.Priority = int(v.ToInteger())
	}
	if v := get("dont_filter"); present(v) {
		r.DontFilter = v.ToBoolean()
	}
	var local *jsLocal
	cb, cbLocal, err := s.callbackRef(get("callback"), kind, "callback")
	if err != nil {
		return nil, nil, err
	}
	eb, ebLocal, err := s.callbackRef(get("errback"), kind, "errback")
	if err != nil {
		return nil, nil, err
	}
	r.Callback, r.Errback = cb, eb
	if cbLocal != nil || ebLocal != nil {
		local = &jsLocal{callback: cbLocal, errback: ebLocal, rt: s.vm}
		r.Local = local
	}
	if r.SessionID, err = str("session_id"); err != nil {
		return nil, nil, err
	}
	if r.DescText, err = str("desc_text"); err != nil {
		return nil, nil, err
	}
	if p := get("proxy"); present(p) {
		r.Proxy = p.String()
	} else if p := get("proxies"); present(p) {
		if r.Proxy, err = proxyFor(s.vm, p, scheme); err != nil {
			return nil, nil, fmt.Errorf("%s: proxies: %w", kind, err)
		}
	}
	if v := get("timeout"); present(v) {
		r.Timeout = seconds(v)
	}
	if v := get("max_retry_times"); present(v) {
		n := int(v.ToInteger())
		r.MaxRetryTimes = &n
	}
	if v := get("retry_delay"); present(v) {
		r.RetryDelay = seconds(v)
	}
	if v := get("allow_redirects"); present(v) {
		b := v.ToBoolean()
		r.AllowRedirects = &b
	}
	if v := get("max_redirects"); present(v) {
		r.MaxRedirects = int(v.ToInteger())
	}
	if v := get("verify"); present(v) {
		b := v.ToBoolean()
		r.Verify = &b
	}
	if r.Impersonate, err = str("impersonate"); err != nil {
		return nil, nil, err
	}
	if r.HTTPVersion, err = str("http_version"); err != nil {
		return nil, nil, err
	}
	if r.Kind, err = str("kind"); err != nil {
		return nil, nil, err
	} else if !crawl.ValidKind(r.Kind) {
		return nil, nil, fmt.Errorf("%s: kind %q (want one of %s)", kind, r.Kind, strings.Join(crawl.Kinds, ", "))
	}
	if r.Credentials, err = str("credentials"); err != nil {
		return nil, nil, err
	} else if !crawl.ValidCredentials(r.Credentials) {
		return nil, nil, fmt.Errorf("%s: credentials %q (want one of %s)", kind, r.Credentials, strings.Join(crawl.CredentialModes, ", "))
	}
	switch r.HTTPVersion {
	case "", "1.1", "2", "3", "auto":
	case "1", "http1", "HTTP/1.1":
		r.HTTPVersion = "1.1"
	case "http2", "HTTP/2", "h2":
		r.HTTPVersion = "2"
	case "http3", "HTTP/3", "h3":
		r.HTTPVersion = "3"
	default:
		return nil, nil, fmt.Errorf("%s: http_version %q (want \"1.1\", \"2\", \"3\" or \"auto\")", kind, r.HTTPVersion)
	}
	if kind == kindWS {
		ws := &crawl.WebSocketSpec{}
		if ws.ID, err = str("websocket_id"); err != nil {
			return nil, nil, err
		}
		if v := get("send_message"); present(v) {
			if ws.Send, err = wsMessages(s.vm, v); err != nil {
				return nil, nil, fmt.Errorf("%s: send_message: %w", kind, err)
			}
		}
		if v := get("ping_data"); present(v) {
			if ws.PingData, err = bytesOf(v); err != nil {
				return nil, nil, fmt.Errorf("%s: ping_data: %w", kind, err)
			}
		}
		if v := get("ping_interval"); present(v) {
			ws.PingInterval = seconds(v)
		}
		r.WebSocket = ws
		if scheme != "ws" && scheme != "wss" {
			return nil, nil, fmt.Errorf("%s: url must be ws:// or wss://, got %q", kind, r.URL)
		}
	}
	return r, local, nil
}

// plainURLs tells plain absolute http(s) URLs (see requestScheme).
var plainURLs = weburl.NewBase("http://plain.invalid/")

// requestScheme checks that raw is an absolute URL and returns its
// scheme, as url.Parse sees them. The URLs response.follow makes, and
// most others, are plain http(s) URLs — a lower-case host and nothing to
// quote: weburl.Base.QuickJoin returns exactly those unchanged — which
// url.Parse accepts with a host; they skip the parse.
func requestScheme(raw string, kind requestKind) (string, error) {
	if strings.HasPrefix(raw, "http") {
		if s, ok := plainURLs.QuickJoin(raw); ok && s == raw {
			return raw[:strings.IndexByte(raw, ':')], nil
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: invalid url %q: %v", kind, raw, err)
	}
	if u.Scheme == "" || (u.Host == "" && u.Scheme != "file" && u.Scheme != "data") {
		return "", fmt.Errorf("%s: url must be absolute, got %q (use response.follow or response.urljoin for relative links)", kind, raw)
	}
	return u.Scheme, nil
}

func seconds(v goja.Value) time.Duration {
	f := v.ToFloat()
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// callbackRef resolves a callback/errback option: an exported function (or
// its name) becomes the name; any other function stays local.
func (s *Spider) callbackRef(v goja.Value, kind requestKind, what string) (string, goja.Value, error) {
	if !present(v) {
		return "", nil, nil
	}
	if o, ok := v.(*goja.Object); ok {
		// Exported functions first: they are functions, and AssertFunction
		// allocates (twice per response.follow with a callback).
		if name, ok := s.exportNames[o]; ok {
			return name, nil, nil
		}
		if _, ok := goja.AssertFunction(o); !ok {
			return "", nil, fmt.Errorf("%s: %s must be a function or the name of an exported function", kind, what)
		}
		return "", v, nil
	}
	name := v.String()
	if _, ok := s.exportFns[name]; !ok {
		return "", nil, fmt.Errorf("%s: %s %q is not an exported function (exported: %s)", kind, what, name, strings.Join(s.exportList(), ", "))
	}
	return name, nil, nil
}

func (s *Spider) headersFrom(v goja.Value, kind requestKind) (crawl.Headers, error) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, fmt.Errorf("%s: headers must be an object", kind)
	}
	var h crawl.Headers
	if o.ClassName() == "Array" {
		// [[name, value], ...] keeps a chosen order, duplicates included.
		n := int(o.Get("length").ToInteger())
		for i := 0; i < n; i++ {
			pair, ok := o.Get(fmt.Sprint(i)).(*goja.Object)
			if !ok {
				return nil, fmt.Errorf("%s: headers[%d] must be a [name, value] pair", kind, i)
			}
			h.Add(pair.Get("0").String(), pair.Get("1").String())
		}
		return h, nil
	}
	for _, k := range o.Keys() {
		val := o.Get(k)
		if !present(val) {
			continue
		}
		if arr, ok := val.(*goja.Object); ok && arr.ClassName() == "Array" {
			n := int(arr.Get("length").ToInteger())
			for i := 0; i < n; i++ {
				h.Add(k, arr.Get(fmt.Sprint(i)).String())
			}
			continue
		}
		h.Add(k, val.String())
	}
	return h, nil
}

func bytesOf(v goja.Value) ([]byte, error) {
	if o, ok := v.(*goja.Object); ok {
		switch e := o.Export().(type) {
		case []byte:
			return append([]byte(nil), e...), nil
		case goja.ArrayBuffer:
			return append([]byte(nil), e.Bytes()...), nil
		}
		return nil, fmt.Errorf("want a string, Uint8Array or ArrayBuffer")
	}
	return []byte(v.String()), nil
}

// orderedPairs lists an object's (key, value) pairs in property order;
// array values repeat the key.
func orderedPairs(o *goja.Object) [][2]string {
	var out [][2]string
	for _, k := range o.Keys() {
		v := o.Get(k)
		if !present(v) {
			continue
		}
		if arr, ok := v.(*goja.Object); ok && arr.ClassName() == "Array" {
			n := int(arr.Get("length").ToInteger())
			for i := 0; i < n; i++ {
				out = append(out, [2]string{k, arr.Get(fmt.Sprint(i)).String()})
			}
			continue
		}
		out = append(out, [2]string{k, v.String()})
	}
	return out
}

func encodePairs(pairs [][2]string) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p[1]))
	}
	return b.String()
}

func (s *Spider) withParams(raw string, p goja.Value, kind requestKind) (string, error) {
	o, ok := p.(*goja.Object)
	if !ok {
		return "", fmt.Errorf("%s: params must be an object", kind)
	}
	q := encodePairs(orderedPairs(o))
	if q == "" {
		return raw, nil
	}
	frag := ""
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw, frag = raw[:i], raw[i:]
	}
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
		if strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&") {
			sep = ""
		}
	}
	return raw + sep + q + frag, nil
}

func (s *Spider) formBody(d goja.Value, kind requestKind, what string) ([]byte, error) {
	if o, ok := d.(*goja.Object); ok {
		if b, err := bytesOf(d); err == nil {
			return b, nil
		}
		return []byte(encodePairs(orderedPairs(o))), nil
	}
	return []byte(d.String()), nil
}

func cookiesFrom(vm *goja.Runtime, v goja.Value) ([]crawl.Cookie, error) {
	o, ok := v.(*goja.Object)
	if !ok {
		// "a=1; b=2"
		var out []crawl.Cookie
		for _, part := range strings.Split(v.String(), ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, val, _ := strings.Cut(part, "=")
			out = append(out, crawl.Cookie{Name: strings.TrimSpace(name), Value: strings.TrimSpace(val)})
		}
		return out, nil
	}
	if o.ClassName() == "Array" {
		var out []crawl.Cookie
		n := int(o.Get("length").ToInteger())
		for i := 0; i < n; i++ {
			c, ok := o.Get(fmt.Sprint(i)).(*goja.Object)
			if !ok {
				return nil, fmt.Errorf("[%d] must be {name, value, domain?, path?}", i)
			}
			ck := crawl.Cookie{Name: c.Get("name").String(), Value: c.Get("value").String()}
			if d := c.Get("domain"); present(d) {
				ck.Domain = d.String()
			}
			if p := c.Get("path"); present(p) {
				ck.Path = p.String()
			}
			out = append(out, ck)
		}
		return out, nil
	}
	var out []crawl.Cookie
	for _, k := range o.Keys() {
		out = append(out, crawl.Cookie{Name: k, Value: o.Get(k).String()})
	}
	return out, nil
}

func proxyFor(vm *goja.Runtime, v goja.Value, scheme string) (string, error) {
	o, ok := v.(*goja.Object)
	if !ok {
		return v.String(), nil
	}
	for _, k := range []string{scheme, strings.TrimSuffix(scheme, "s"), "all", "http", "https"} {
		if p := o.Get(k); present(p) {
			return p.String(), nil
		}
	}
	return "", fmt.Errorf("no proxy for scheme %s", scheme)
}

func wsMessages(vm *goja.Runtime, v goja.Value) ([]crawl.WSMessage, error) {
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
		var out []crawl.WSMessage
		n := int(o.Get("length").ToInteger())
		for i := 0; i < n; i++ {
			m, err := wsMessageOf(o.Get(fmt.Sprint(i)))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
	m, err := wsMessageOf(v)
	if err != nil {
		return nil, err
	}
	return []crawl.WSMessage{m}, nil
}

// ownGetter reads only own properties of o (absent ones are defaults), so
// reading a request never materializes its lazy objects.
func ownGetter(o *goja.Object) optionGetter { return keyedGetter(o, o.Keys()) }

// keyedGetter reads the properties of o named in keys (its own enumerable
// keys, as checkOptions returned them). buildRequest asks for some thirty
// options; a goja property lookup for each, on objects that usually hold
// one to three, was a measurable part of every response.follow.
func keyedGetter(o *goja.Object, keys []string) optionGetter {
	return func(k string) goja.Value {
		for _, have := range keys {
			if have == k {
				return o.Get(k)
			}
		}
		return nil
	}
}
