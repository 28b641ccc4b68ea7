package impersonate

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/referrer"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// RequestInfo is what decides the headers of one request beyond the
// profile: how the browser would have made it, from which page, and with
// what body.
type RequestInfo struct {
	// Kind is a crawl.Kind* value ("" = crawl.KindNavigate).
	Kind string
	// Method is the HTTP method ("" = GET).
	Method string
	// URL is the target.
	URL *url.URL
	// Initiator is the page the request was made from (crawl.Request's
	// Parent); "" for a typed navigation. A fetch, XHR or form without one
	// is taken as made by a page of the target's own origin.
	Initiator string
	// BodyLen is the length of the request body.
	BodyLen int
	// Chain are the URLs the request was redirected from, first to last
	// (crawl.Request's RedirectURLs): Sec-Fetch-Site and the Referer are
	// computed over the whole chain, as browsers do.
	Chain []string
	// ReferrerPolicy is the initiator page's referrer policy (its
	// Referrer-Policy header or <meta name="referrer">, carried in the
	// request's meta referrer_policy by the Referer spider middleware);
	// "" is the browsers' default, strict-origin-when-cross-origin.
	ReferrerPolicy string
	// HopPolicies are the Referrer-Policy headers of the redirect
	// responses, one per URL of Chain ("" = the header was absent): a
	// redirect's own policy applies to the hops after it (Fetch, "set
	// request's referrer policy on redirect"). The redirect middleware
	// keeps them in the request's meta redirect_referrer_policies.
	HopPolicies []string
	// Credentials is the credentials mode of a fetch or XHR
	// (crawl.Credentials*; "" = same-origin).
	Credentials string
	// Preflight, when set, makes the request the CORS preflight (OPTIONS)
	// of a fetch or XHR with that method and those author headers.
	Preflight *Preflight
}

// InfoOf describes a crawl request (nil: a typed GET navigation of u).
func InfoOf(r *crawl.Request, method string, u *url.URL, bodyLen int) RequestInfo {
	info := RequestInfo{Kind: crawl.KindNavigate, Method: method, URL: u, BodyLen: bodyLen}
	if r != nil {
		info.Kind = crawl.DefaultKind(r)
		info.Initiator = r.Parent
		info.Chain = r.RedirectURLs
		info.ReferrerPolicy, _ = r.Meta["referrer_policy"].(string)
		info.HopPolicies = metaStrings(r.Meta["redirect_referrer_policies"])
		info.Credentials = r.Credentials
	}
	return info
}

// metaStrings reads a list of strings from meta: []string, or []any as
// JSON and JavaScript hand it over.
func metaStrings(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i], _ = x.(string)
		}
		return out
	}
	return nil
}

// family is a browser engine whose per-kind rules were measured.
type family int

const (
	familyOther family = iota
	familyChromium
	familyFirefox
)

func familyOf(p *Profile) family {
	switch p.Browser {
	case "chrome", "edge":
		return familyChromium
	case "firefox":
		return familyFirefox
	}
	return familyOther
}

// shape groups kinds that share a header order.
type shape int

const (
	shapeDocument shape = iota // navigate, link, form
	shapeFetch
	shapeXHR
)

// kindOrder is a browser's header order for one shape of request, as
// captured (internal/livebrowser TestRequestKinds; the captures are in
// testdata/reference/kinds_*.json). Names not in the profile or the request
// are skipped. With reorder, the profile's own headers are put in this
// order too (Chromium's fetch/XHR order is not its navigation's); without,
// the profile's order is kept and request headers are placed after the
// nearest header that precedes them here.
type kindOrder struct {
	reorder bool
	names   []string
}

type orderKey struct {
	f     family
	s     shape
	http1 bool
}

// kindOrders are Chromium 148's and Firefox ESR 140's and 153's orders, HTTP/2 (names
// lower-case) and HTTP/1.1 (the browser's case; Host is written first by
// the HTTP/1.1 client).
var kindOrders = map[orderKey]kindOrder{
	{familyChromium, shapeDocument, false}: {names: strings.Fields(`content-length cache-control sec-ch-ua
		sec-ch-ua-mobile sec-ch-ua-platform upgrade-insecure-requests content-type user-agent origin accept
		sec-fetch-site sec-fetch-mode sec-fetch-user sec-fetch-dest referer accept-encoding accept-language
		cookie priority`)},
	{familyChromium, shapeDocument, true}: {names: strings.Fields(`Connection Content-Length Cache-Control
		sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform Upgrade-Insecure-Requests Content-Type User-Agent Origin
		Accept Sec-Fetch-Site Sec-Fetch-Mode Sec-Fetch-User Sec-Fetch-Dest Referer Accept-Encoding
		Accept-Language Cookie`)},
	{familyChromium, shapeFetch, false}: {reorder: true, names: strings.Fields(`content-length
		sec-ch-ua-platform user-agent sec-ch-ua * content-type sec-ch-ua-mobile accept origin sec-fetch-site
		sec-fetch-mode sec-fetch-dest sec-fetch-storage-access referer accept-encoding accept-language cookie
		priority`)},
	{familyChromium, shapeFetch, true}: {reorder: true, names: strings.Fields(`Connection Content-Length
		sec-ch-ua-platform User-Agent sec-ch-ua * Content-Type sec-ch-ua-mobile Accept Origin Sec-Fetch-Site
		Sec-Fetch-Mode Sec-Fetch-Dest Sec-Fetch-Storage-Access Referer Accept-Encoding Accept-Language Cookie`)},
	{familyFirefox, shapeDocument, false}: {names: strings.Fields(`user-agent accept accept-language
		accept-encoding content-type content-length origin referer cookie upgrade-insecure-requests
		sec-fetch-dest sec-fetch-mode sec-fetch-site sec-fetch-user priority te`)},
	{familyFirefox, shapeDocument, true}: {names: strings.Fields(`User-Agent Accept Accept-Language
		Accept-Encoding Content-Type Content-Length Origin Connection Referer Cookie Upgrade-Insecure-Requests
		Sec-Fetch-Dest Sec-Fetch-Mode Sec-Fetch-Site Sec-Fetch-User Priority`)},
	{familyFirefox, shapeFetch, false}: {names: strings.Fields(`user-agent accept accept-language
		accept-encoding referer content-type * content-length origin sec-fetch-storage-access cookie
		sec-fetch-dest sec-fetch-mode sec-fetch-site priority te`)},
	{familyFirefox, shapeFetch, true}: {names: strings.Fields(`User-Agent Accept Accept-Language
		Accept-Encoding Referer Content-Type * Content-Length Origin Sec-Fetch-Storage-Access Connection
		Cookie Sec-Fetch-Dest Sec-Fetch-Mode Sec-Fetch-Site Priority`)},
	{familyFirefox, shapeXHR, false}: {names: strings.Fields(`user-agent accept accept-language
		accept-encoding content-type * content-length origin referer cookie sec-fetch-dest sec-fetch-mode
		sec-fetch-site priority te`)},
	{familyFirefox, shapeXHR, true}: {names: strings.Fields(`User-Agent Accept Accept-Language
		Accept-Encoding Content-Type * Content-Length Origin Connection Referer Cookie Sec-Fetch-Dest
		Sec-Fetch-Mode Sec-Fetch-Site Priority`)},
}

func shapeOf(f family, kind string) shape {
	switch kind {
	case crawl.KindFetch:
		return shapeFetch
	case crawl.KindXHR:
		if f == familyChromium {
			return shapeFetch // Chromium sends XHR exactly as fetch
		}
		return shapeXHR
	}
	return shapeDocument
}

// majorAtLeast reports whether the profile's major version is at least v
// (a version that does not parse is not).
func (p *Profile) majorAtLeast(v int) bool {
	major, _, _ := strings.Cut(p.Version, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= v
}

// KindHeaders returns the headers p's browser sends for the request info
// describes, merged with the request's own headers req (request values
// win; an empty value removes a header), in the browser's order: for
// HTTP/1.1 when http1, else for HTTP/2. Browsers whose rules were not
// measured (Safari, the plain Go client) get MergeHeaders' result with
// only the sec-fetch-* values adjusted.
func (p *Profile) KindHeaders(info RequestInfo, req crawl.Headers, http1 bool) crawl.Headers {
	base := p.headers
	if http1 {
		base = p.h1
	}
	f := familyOf(p)
	kind := info.Kind
	if kind == "" {
		kind = crawl.KindNavigate
	}
	if f == familyOther && kind == crawl.KindNavigate {
		return MergeHeaders(base, req)
	}
	if info.Preflight != nil {
		return p.preflightHeaders(info, req, http1)
	}
	method := strings.ToUpper(info.Method)
	if method == "" {
		method = "GET"
	}
	var initiator *url.URL
	if info.Initiator != "" {
		initiator, _ = url.Parse(info.Initiator)
	}
	if initiator == nil && info.URL != nil && kind != crawl.KindNavigate {
		initiator = info.URL // a script or form of the target's own origin
	}
	getHead := method == "GET" || method == "HEAD"

	// The profile's headers with the kind's values, in the profile's order.
	h := base.Clone()
	set := func(name, value string) {
		for i := range h {
			if strings.EqualFold(h[i].Name, name) {
				h[i].Value = value
			}
		}
	}
	del := func(name string) {
		h = slices.DeleteFunc(h, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, name) })
	}
	// extras are headers the kind adds that the profile does not carry.
	var extras crawl.Headers
	sendsFetchMetadata := base.Has("sec-fetch-mode")
	if kind != crawl.KindNavigate && sendsFetchMetadata && info.URL != nil {
		set("sec-fetch-site", chainSite(initiator, info.Chain, info.URL))
	}
	switch kind {
	case crawl.KindLink, crawl.KindForm:
		// A click on a link or a form button: user activation.
		if sendsFetchMetadata && !base.Has("sec-fetch-user") && f != familyOther {
			extras = append(extras, crawl.Header{Name: "sec-fetch-user", Value: "?1"})
		}
		if kind == crawl.KindForm && !getHead {
			if f == familyChromium {
				extras = append(extras, crawl.Header{Name: "cache-control", Value: "max-age=0"})
			}
			o := serializeOrigin(initiator)
			if (f == familyChromium || (f == familyFirefox && p.majorAtLeast(153))) && info.URL != nil && taintedOrigin(initiator, info.Chain, info.URL) {
				// Chromium and Firefox ESR 153 send the Fetch spec's
				// "null" for a form posted through a redirect that left
				// the page's origin; Firefox ESR 140 kept the page's
				// origin (all three measured: TestRequestKinds'
				// form-post-redir-cross; the Firefox versions between were
				// not, so the change is placed at 153).
				o = "null"
			}
			if o != "" {
				extras = append(extras, crawl.Header{Name: "origin", Value: o})
			}
			extras = append(extras, crawl.Header{Name: "content-type", Value: "application/x-www-form-urlencoded"})
		}
	case crawl.KindFetch, crawl.KindXHR:
		set("accept", "*/*")
		del("upgrade-insecure-requests")
		del("sec-fetch-user")
		set("sec-fetch-mode", "cors")
		set("sec-fetch-dest", "empty")
		switch {
		case f == familyChromium:
			set("priority", "u=1, i")
		case f == familyFirefox && kind == crawl.KindFetch:
			set("priority", "u=4")
		case f == familyFirefox:
			del("priority")
		}
		if info.URL != nil && (!getHead || corsTainted(initiator, info.Chain, info.URL)) {
			o := serializeOrigin(initiator)
			if taintedOrigin(initiator, info.Chain, info.URL) {
				o = "null" // both browsers (fetch-redir-get, fetch-redir-post)
			}
			if o != "" {
				extras = append(extras, crawl.Header{Name: "origin", Value: o})
			}
		}
		if sendsFetchMetadata && info.Credentials == crawl.CredentialsInclude && info.URL != nil &&
			chainSite(initiator, info.Chain, info.URL) == "cross-site" {
			// A credentialed cross-site request says whether it has
			// storage access (samesite-fetch-cred): Chromium 148 blocks
			// third-party cookies ("none"); Firefox ESR 153 had it
			// ("active": the crawl had visited that site first-party, and
			// its cookies went along, see middleware's cookie rules);
			// Firefox ESR 140 sent no such header.
			switch {
			case f == familyChromium:
				extras = append(extras, crawl.Header{Name: "sec-fetch-storage-access", Value: "none"})
			case f == familyFirefox && p.majorAtLeast(153):
				extras = append(extras, crawl.Header{Name: "sec-fetch-storage-access", Value: "active"})
			}
		}
		if info.BodyLen > 0 {
			extras = append(extras, crawl.Header{Name: "content-type", Value: "text/plain;charset=UTF-8"})
		}
	}
	if f == familyOther {
		extras = slices.DeleteFunc(extras, func(kv crawl.Header) bool { return req.Has(kv.Name) })
		return MergeHeaders(h, append(extras, req...))
	}
	// A script's POST or PUT without a body still says content-length: 0
	// (cors-two-headers): Chromium in its usual place, Firefox last.
	emptyBody := info.BodyLen == 0 && (kind == crawl.KindFetch || kind == crawl.KindXHR) && (method == "POST" || method == "PUT")
	if info.BodyLen > 0 || emptyBody && f == familyChromium {
		extras = append(extras, crawl.Header{Name: "content-length", Value: strconv.Itoa(info.BodyLen)})
	}

	// The request's own headers: replace in place, or add.
	req = browserReferer(req, kind, info)
	var added crawl.Headers
	seen := map[string]bool{}
	for _, rh := range req {
		name := strings.ToLower(rh.Name)
		if seen[name] {
			// A repeated request header keeps all its values: the later
			// ones go after the first.
			added = append(added, rh)
			continue
		}
		seen[name] = true
		if i := slices.IndexFunc(h, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, rh.Name) }); i >= 0 {
			if rh.Value == "" {
				h = slices.Delete(h, i, i+1)
			} else {
				h[i].Value = rh.Value
			}
			continue
		}
		if i := slices.IndexFunc(extras, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, rh.Name) }); i >= 0 {
			extras[i].Value = rh.Value
			continue
		}
		added = append(added, rh)
	}
	extras = slices.DeleteFunc(append(extras, added...), func(kv crawl.Header) bool { return kv.Value == "" })
	if !http1 {
		extras = crumbleCookies(extras)
	}
	key := orderKey{f, shapeOf(f, kind), http1}
	o := kindOrders[key]
	if r, ok := redirectedOrders[key]; ok && len(info.Chain) > 0 {
		o = r
	}
	if r, ok := earlyRefererOrders[key]; ok && (len(info.Chain) > 0 || info.ReferrerPolicy != "") {
		o = r
	}
	out := placeHeaders(h, extras, o)
	switch {
	case f == familyChromium && key.s == shapeFetch:
		out = blinkReorder(out, o)
	case f == familyFirefox && (key.s == shapeFetch || key.s == shapeXHR):
		out = scriptOrder(out, o, req)
	}
	if emptyBody && f == familyFirefox && !req.Has("content-length") {
		// After priority, before a trailing te.
		name := "content-length"
		if http1 {
			name = "Content-Length"
		}
		at := len(out)
		if i := slices.IndexFunc(out, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, "te") }); i >= 0 {
			at = i
		}
		out = slices.Insert(out, at, crawl.Header{Name: name, Value: "0"})
	}
	if !http1 {
		for i := range out {
			out[i].Name = strings.ToLower(out[i].Name) // as HTTP/2 sends them
		}
	}
	return out
}

// scriptOrder puts Content-Type and the headers the kind's order o does
// not know (the script's own) in the order the request lists them, in the
// places they took: Firefox sends a script's headers, Content-Type among
// them, in the order the script set them (TestRequestKinds'
// xhr-three-headers: Authorization, Content-Type, X-Requested-With).
func scriptOrder(out crawl.Headers, o kindOrder, req crawl.Headers) crawl.Headers {
	known := func(name string) bool {
		return slices.ContainsFunc(o.names, func(n string) bool { return strings.EqualFold(n, name) })
	}
	var at []int
	for i, kv := range out {
		if strings.EqualFold(kv.Name, "content-type") || !known(kv.Name) {
			at = append(at, i)
		}
	}
	if len(at) < 2 {
		return out
	}
	pos := func(name string) int {
		if i := slices.IndexFunc(req, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, name) }); i >= 0 {
			return i
		}
		return len(req) // not the request's: after its own, in place
	}
	group := make(crawl.Headers, len(at))
	for j, i := range at {
		group[j] = out[i]
	}
	slices.SortStableFunc(group, func(a, b crawl.Header) int { return pos(a.Name) - pos(b.Name) })
	res := out.Clone()
	for j, i := range at {
		res[i] = group[j]
	}
	return res
}

// redirectedOrders are the orders after a redirect: Chromium 148's
// navigations add the client hints again for the new URL, after
// sec-fetch-dest (TestRequestKinds' link-redir-* steps, both HTTP
// versions).
var redirectedOrders = map[orderKey]kindOrder{
	{familyChromium, shapeDocument, false}: {reorder: true, names: strings.Fields(`content-length cache-control
		upgrade-insecure-requests content-type user-agent origin accept sec-fetch-site sec-fetch-mode
		sec-fetch-user sec-fetch-dest sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform referer accept-encoding
		accept-language cookie priority`)},
	{familyChromium, shapeDocument, true}: {reorder: true, names: strings.Fields(`Connection Content-Length
		Cache-Control Upgrade-Insecure-Requests Content-Type User-Agent Origin Accept Sec-Fetch-Site
		Sec-Fetch-Mode Sec-Fetch-User Sec-Fetch-Dest sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform Referer
		Accept-Encoding Accept-Language Cookie`)},
	// Firefox ESR 140 sets a redirected fetch's Referer after its Origin
	// (fetch-redir-get, fetch-redir-post).
	{familyFirefox, shapeFetch, false}: {names: strings.Fields(`user-agent accept accept-language
		accept-encoding content-type * content-length origin referer cookie sec-fetch-dest sec-fetch-mode
		sec-fetch-site priority te`)},
	{familyFirefox, shapeFetch, true}: {names: strings.Fields(`User-Agent Accept Accept-Language
		Accept-Encoding Content-Type * Content-Length Origin Referer Connection Cookie Sec-Fetch-Dest
		Sec-Fetch-Mode Sec-Fetch-Site Priority`)},
}

// earlyRefererOrders are Firefox ESR 140's navigation orders when the
// Referer is set outside the default path, after a redirect or under a
// policy the page declared (measured with <meta name="referrer"
// content="unsafe-url"> and a form posted through a redirect): Referer
// before Origin, and over HTTP/1.1 before Connection.
var earlyRefererOrders = map[orderKey]kindOrder{
	{familyFirefox, shapeDocument, false}: {names: strings.Fields(`user-agent accept accept-language
		accept-encoding content-type content-length referer origin cookie upgrade-insecure-requests
		sec-fetch-dest sec-fetch-mode sec-fetch-site sec-fetch-user priority te`)},
	{familyFirefox, shapeDocument, true}: {names: strings.Fields(`User-Agent Accept Accept-Language
		Accept-Encoding Content-Type Content-Length Referer Origin Connection Cookie Upgrade-Insecure-Requests
		Sec-Fetch-Dest Sec-Fetch-Mode Sec-Fetch-Site Sec-Fetch-User Priority`)},
}

// placeHeaders orders h (the profile's, possibly re-sorted) and puts each
// extra header where the browser puts it; headers the order does not name
// follow at the end, in the request's order.
func placeHeaders(h, extras crawl.Headers, o kindOrder) crawl.Headers {
	index := func(name string) int {
		return slices.IndexFunc(o.names, func(n string) bool { return strings.EqualFold(n, name) })
	}
	if o.reorder {
		// Sort by the order; a header it does not name stays after the
		// one it followed.
		type keyed struct {
			kv  crawl.Header
			key float64
		}
		ks := make([]keyed, len(h))
		prev := -1.0
		for i, kv := range h {
			if j := index(kv.Name); j >= 0 {
				prev = float64(j)
			} else {
				prev += 1e-3
			}
			ks[i] = keyed{kv, prev}
		}
		slices.SortStableFunc(ks, func(a, b keyed) int {
			switch {
			case a.key < b.key:
				return -1
			case a.key > b.key:
				return 1
			}
			return 0
		})
		for i := range ks {
			h[i] = ks[i].kv
		}
	}
	out := h
	var tail crawl.Headers
	// Known extras in the order's sequence, so that each finds the ones
	// before it already placed.
	slices.SortStableFunc(extras, func(a, b crawl.Header) int {
		ia, ib := index(a.Name), index(b.Name)
		if ia < 0 {
			ia = len(o.names)
		}
		if ib < 0 {
			ib = len(o.names)
		}
		return ia - ib
	})
	// Author headers (a spider's X-Token) go where the order has "*", in
	// the request's order, or else at the end.
	star, starred := index("*"), 0
	for _, e := range extras {
		j := index(e.Name)
		if j < 0 && star < 0 {
			tail = append(tail, e)
			continue
		}
		if j < 0 {
			j = star
		} else {
			e.Name = o.names[j] // the browser's case
		}
		at := -1
		// After the nearest header that precedes it in the order...
		for k := j; k >= 0 && at < 0; k-- {
			for i := len(out) - 1; i >= 0; i-- {
				if strings.EqualFold(out[i].Name, o.names[k]) {
					at = i + 1
					break
				}
			}
		}
		// ...or before the nearest that follows it.
		for k := j + 1; k < len(o.names) && at < 0; k++ {
			for i := range out {
				if strings.EqualFold(out[i].Name, o.names[k]) {
					at = i
					break
				}
			}
		}
		if at < 0 {
			at = len(out)
		}
		if j == star {
			at += starred
			starred++
		}
		out = slices.Insert(out, at, e)
	}
	return append(out, tail...)
}

// SecFetchSite is the Sec-Fetch-Site value of a request to target made by
// a page of initiator (nil: typed by the user): same-origin (scheme, host
// and port equal), same-site (same scheme and registrable domain, by the
// public suffix list; ports do not count), cross-site, or none.
func SecFetchSite(initiator, target *url.URL) string {
	switch {
	case initiator == nil:
		return "none"
	case sameOrigin(initiator, target):
		return "same-origin"
	case strings.EqualFold(initiator.Scheme, target.Scheme) && weburl.Site(initiator.Hostname()) == weburl.Site(target.Hostname()):
		return "same-site"
	}
	return "cross-site"
}

func sameOrigin(a, b *url.URL) bool { return referrer.SameOrigin(a, b) }

// serializeOrigin is the Origin header value of a page of u.
func serializeOrigin(u *url.URL) string { return referrer.Origin(u) }

// chainSite is Sec-Fetch-Site over a redirect chain: the most
// cross-site value of the initiator against every URL of the chain and
// the target (Chromium and Firefox: a navigation that passed through
// another site is cross-site even when it ends on the initiator's own
// origin; measured by TestRequestKinds' link-redir-* steps).
func chainSite(initiator *url.URL, chain []string, target *url.URL) string {
	rank := map[string]int{"none": 0, "same-origin": 1, "same-site": 2, "cross-site": 3}
	site := SecFetchSite(initiator, target)
	for _, c := range chain {
		u, err := url.Parse(c)
		if err != nil {
			continue
		}
		if s := SecFetchSite(initiator, u); rank[s] > rank[site] {
			site = s
		}
	}
	return site
}

// browserReferer applies the initiator page's referrer policy (by default
// the browsers' strict-origin-when-cross-origin: the full URL to the same
// origin, only the origin to another, none from https to http) to a
// Referer that is the page's own URL (what the Referer middleware sets,
// under Scrapy's no-referrer-when-downgrade), hop by hop over a redirect
// chain as browsers do (a referrer trimmed to the origin on a cross-origin
// hop stays trimmed when the chain comes back), and drops it for a typed
// navigation. A Referer the spider set to anything else is left as it is.
func browserReferer(req crawl.Headers, kind string, info RequestInfo) crawl.Headers {
	if info.Initiator == "" || info.URL == nil {
		return req
	}
	ref := req.Get("referer")
	if ref == "" {
		return req
	}
	page, err := url.Parse(info.Initiator)
	if err != nil {
		return req
	}
	page.User, page.Fragment, page.RawFragment = nil, "", ""
	if ref != page.String() {
		return req
	}
	value := ref
	if kind == crawl.KindNavigate {
		value = "" // typed in the address bar: no referrer
	}
	hops := make([]*url.URL, 0, len(info.Chain)+1)
	for _, c := range info.Chain {
		if u, err := url.Parse(c); err == nil {
			hops = append(hops, u)
		}
	}
	policy := info.ReferrerPolicy
	for i, hop := range append(hops, info.URL) {
		if i > 0 && i-1 < len(info.HopPolicies) && info.HopPolicies[i-1] != "" {
			// The redirect response's own Referrer-Policy governs the
			// hops after it (link-redir-policy).
			policy = info.HopPolicies[i-1]
		}
		if value == "" {
			break
		}
		cur, err := url.Parse(value)
		if err != nil {
			break
		}
		value = referrer.For(policy, cur, hop)
	}
	out := req.Clone()
	out = slices.DeleteFunc(out, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, "referer") && value == "" })
	if value != "" {
		out.Set("Referer", value)
	}
	return out
}

// crumbleCookies splits a Cookie header into one cookie field per cookie,
// as Chromium 148 and Firefox ESR 140 send them over HTTP/2 (RFC 9113
// 8.2.3 allows it, and it lets HPACK index each cookie on its own);
// HTTP/1.1 keeps one Cookie line.
func crumbleCookies(h crawl.Headers) crawl.Headers {
	i := slices.IndexFunc(h, func(kv crawl.Header) bool { return strings.EqualFold(kv.Name, "cookie") })
	if i < 0 || !strings.Contains(h[i].Value, ";") {
		return h
	}
	var crumbs crawl.Headers
	for _, c := range strings.Split(h[i].Value, ";") {
		if c = strings.TrimSpace(c); c != "" {
			crumbs = append(crumbs, crawl.Header{Name: h[i].Name, Value: c})
		}
	}
	return slices.Insert(slices.Delete(slices.Clone(h), i, i+1), i, crumbs...)
}

// corsTainted reports whether a fetch from initiator that went through
// chain to target has its response tainted "cors" (Fetch, main fetch): a
// URL on the way or the target is of another origin. Such a request
// carries Origin even as a GET.
func corsTainted(initiator *url.URL, chain []string, target *url.URL) bool {
	if !sameOrigin(initiator, target) {
		return true
	}
	for _, c := range chain {
		if u, err := url.Parse(c); err != nil || !sameOrigin(initiator, u) {
			return true
		}
	}
	return false
}

// taintedOrigin reports the Fetch spec's tainted origin flag of a request
// from initiator redirected through chain to target: set by a redirect
// to another origin from a URL not of the initiator's origin. Its Origin
// header is then "null".
func taintedOrigin(initiator *url.URL, chain []string, target *url.URL) bool {
	if len(chain) == 0 {
		return false
	}
	urls := make([]*url.URL, 0, len(chain)+1)
	for _, c := range chain {
		u, err := url.Parse(c)
		if err != nil {
			return true
		}
		urls = append(urls, u)
	}
	urls = append(urls, target)
	for i := 0; i+1 < len(urls); i++ {
		if !sameOrigin(urls[i+1], urls[i]) && !sameOrigin(initiator, urls[i]) {
			return true
		}
	}
	return false
}
