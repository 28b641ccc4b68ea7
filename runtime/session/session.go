// Package session rotates identities: groups of logged-in sessions
// registered by a spider (scrapy_cffi's register_sessions), each member with
// its own cookie jar and optionally its own headers, proxy and browser
// profile, so that an identity stays consistent on the wire. A request whose
// session_id names a group is sent as one member of the group, picked at
// random (uniformly) among the members still active.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Meta keys the middleware sets on a request it assigned to a member.
const (
	// MetaMember holds the member's name ("user1").
	MetaMember = middleware.MetaSessionMember
	// MetaAvoid names a member a request should not be sent as when
	// another is active: the blocks middleware sets it (with
	// MetaMember removed) on a request it sends again after a block.
	MetaAvoid = middleware.MetaSessionAvoid
	// metaSlot is the downloader's download_slot.
	metaSlot = "download_slot"
	// metaPoolKey partitions the downloader's connection pools.
	metaPoolKey = "pool_key"
	// metaJar is the cookies middleware's jar selector.
	metaJar = "cookiejar"
)

// ErrNoMembers is the cause of a request whose group has no active member
// left.
var ErrNoMembers = errors.New("every session of the group has been ended")

// Jars gives the cookie jar of a key; *middleware.CookieJars implements it.
type Jars interface {
	Jar(key string) http.CookieJar
}

// Spec describes one member as the spider registers it.
type Spec struct {
	// Cookies are the member's initial cookies, set in its jar for every
	// host it visits (host-only cookies) before its first request there;
	// Set-Cookie responses update the jar afterwards.
	Cookies []crawl.Cookie
	// Headers are sent with every request of the member unless the request
	// sets them itself.
	Headers crawl.Headers
	// Proxy is the member's proxy URL ("" = the usual proxy rules).
	Proxy string
	// Impersonate is the member's browser profile ("" = the usual rules).
	Impersonate string
}

// Member is one registered session.
type Member struct {
	Group string
	Name  string
	Spec  Spec

	mu       sync.Mutex
	seeded   map[string]bool // hosts whose jar got the initial cookies
	ended    bool
	pending  bool      // a factory is creating it: only its pinned (login) requests use it
	score    float64   // blocks, less 0.5 per page served (Blocked, Served)
	uses     int       // requests sent as the member
	firstUse time.Time // its first request (MaxAge counts from it)
}

// jarKey is the member's cookie jar key: never equal to a plain
// session_id, so a group member never shares a jar with anything else.
func (m *Member) jarKey() string { return "\x00session:" + m.Group + "/" + m.Name }

type group struct {
	id      string
	members []*Member         // in registration order (names sorted)
	turn    int               // round_robin's position; under Registry.mu
	sticky  map[string]string // sticky_domain: host → member; under Registry.mu
	pool    *pool             // the identity factory of a RegisterFactory group
}

// Registry holds the registered groups. It is safe for concurrent use and
// is a downloader middleware (ProcessRequest) that assigns members.
type Registry struct {
	// RetireScore is BLOCK_RETIRE_SCORE: the error score at which Blocked
	// retires a member (0 = DefaultRetireScore).
	RetireScore float64
	// Rotation is SESSION_ROTATION ("" = RotateRandom).
	Rotation string
	// MaxUses and MaxAge (SESSION_MAX_USES, SESSION_MAX_AGE; 0 = no
	// limit) retire a member after that many requests or that long after
	// its first one.
	MaxUses int
	MaxAge  time.Duration
	// SlotPerMember (SESSION_SLOT: member) gives each member its own
	// download slot on each domain.
	SlotPerMember bool
	// OnRetire, when set, is told of members retired by MaxUses or
	// MaxAge (reason "max_uses" or "max_age").
	OnRetire func(group, member, reason string)
	// Now is the clock (tests).
	Now func() time.Time
	// PoolSize, FactoryTries and FactoryBackoff are the defaults of
	// RegisterFactory (SESSION_POOL_SIZE, SESSION_FACTORY_TRIES,
	// SESSION_FACTORY_BACKOFF).
	PoolSize       int
	FactoryTries   int
	FactoryBackoff time.Duration
	// BaseDir resolves relative profile and cookie file paths (the
	// spec's directory).
	BaseDir string
	// ProfileSet is SESSION_PROFILES: what RegisterProfiles registers
	// when the spider names no set itself.
	ProfileSet any
	Stats      stats.Collector
	Logger     *slog.Logger

	jars Jars

	mu       sync.Mutex
	groups   map[string]*group
	seq      int
	rnd      func(n int) int
	restored map[string]MemberState // by "group/member", for groups not registered yet
	// registered is closed and replaced when a group is registered.
	registered chan struct{}
}

// NewRegistry returns an empty registry whose members' cookies live in
// jars.
func NewRegistry(jars Jars) *Registry {
	return &Registry{jars: jars, groups: map[string]*group{}, rnd: rand.IntN}
}

// Register adds a group of members and returns its session_id ("session1",
// "session2", ...). Members are ordered by name.
func (r *Registry) Register(members map[string]Spec) (string, error) {
	if len(members) == 0 {
		return "", errors.New("register_sessions: no sessions given")
	}
	names := make([]string, 0, len(members))
	for n := range members {
		if n == "" {
			return "", errors.New("register_sessions: a session has an empty name")
		}
		names = append(names, n)
	}
	slices.Sort(names)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	id := fmt.Sprintf("session%d", r.seq)
	g := &group{id: id}
	for _, n := range names {
		m := &Member{Group: id, Name: n, Spec: members[n], seeded: map[string]bool{}}
		if st, ok := r.restored[id+"/"+n]; ok {
			m.restore(st)
		}
		g.members = append(g.members, m)
	}
	r.groups[id] = g
	r.registeredLocked()
	return id, nil
}

// RestoreWait bounds how long a resumed request of a group saved in the
// JOBDIR waits for the spider to register that group again.
const RestoreWait = 30 * time.Second

// registeredLocked wakes the requests waiting for a group to be
// registered again (awaitRestored). Under r.mu.
func (r *Registry) registeredLocked() {
	if r.registered != nil {
		close(r.registered)
	}
	r.registered = make(chan struct{})
}

// awaitRestored waits for the group id to be registered when the JOBDIR
// saved members of it: the requests a resumed crawl takes from its queue
// can come before start() has registered its groups again, and sent
// without their member they would go out as no one (nil: id is not a
// saved group, a plain cookie-jar key).
func (r *Registry) awaitRestored(ctx context.Context, id string) (*group, error) {
	deadline := time.NewTimer(RestoreWait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		g := r.groups[id]
		saved := false
		if g == nil {
			for k := range r.restored {
				if strings.HasPrefix(k, id+"/") {
					saved = true
					break
				}
			}
		}
		if r.registered == nil {
			r.registered = make(chan struct{})
		}
		ch := r.registered
		r.mu.Unlock()
		if g != nil || !saved {
			return g, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("session group %s was saved in the JOBDIR, but the spider did not register it again within %s (register the groups in start(), in the same order)", id, RestoreWait)
		}
	}
}

// End retires member of group sessionID: later requests rotate among the
// remaining members. Ending an unknown member is an error; ending one twice
// is not.
func (r *Registry) End(sessionID, member string) error {
	r.mu.Lock()
	g, ok := r.groups[sessionID]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("end_session: no session group %q", sessionID)
	}
	for _, m := range r.list(g) {
		if m.Name == member {
			m.mu.Lock()
			m.ended = true
			m.mu.Unlock()
			r.fill(g) // an identity pool replaces it
			return nil
		}
	}
	return fmt.Errorf("end_session: group %s has no session %q (sessions: %s)", sessionID, member, strings.Join(r.names(g), ", "))
}

// RegisterSessions registers a group from the values a spider gives
// (spider.hooks.session.register_sessions; each value as ParseSpec
// accepts) and returns its session_id.
func (r *Registry) RegisterSessions(members map[string]any) (string, error) {
	specs := make(map[string]Spec, len(members))
	for name, v := range members {
		spec, err := ParseSpec(v)
		if err != nil {
			return "", fmt.Errorf("register_sessions: %s: %w", name, err)
		}
		specs[name] = spec
	}
	return r.Register(specs)
}

// EndSession retires a member (spider.hooks.session.end_session);
// sessionID "" looks the name up in every group.
func (r *Registry) EndSession(sessionID, member string) error {
	if sessionID == "" {
		return r.EndAnywhere(member)
	}
	return r.End(sessionID, member)
}

// EndAnywhere retires the member named member of the one group that has
// such a member; a name found in several groups is an error asking for the
// session_id.
func (r *Registry) EndAnywhere(member string) error {
	r.mu.Lock()
	var found []string
	for id, g := range r.groups {
		for _, m := range g.members {
			if m.Name == member {
				found = append(found, id)
			}
		}
	}
	r.mu.Unlock()
	switch len(found) {
	case 0:
		return fmt.Errorf("end_session: no session named %q", member)
	case 1:
		return r.End(found[0], member)
	}
	slices.Sort(found)
	return fmt.Errorf("end_session: %q is a member of %s; pass end_session(session_id, name)", member, strings.Join(found, ", "))
}

// list is the group's members: a pool adds members while requests pick
// them, so the slice is read under the lock (members are only appended).
func (r *Registry) list(g *group) []*Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return g.members
}

func (r *Registry) names(g *group) []string {
	ms := r.list(g)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// Active returns the names of the group's members that are not ended
// (nor still being made by a factory).
func (r *Registry) Active(sessionID string) []string {
	r.mu.Lock()
	g := r.groups[sessionID]
	r.mu.Unlock()
	if g == nil {
		return nil
	}
	var out []string
	for _, m := range r.list(g) {
		if !m.isEnded() && !m.isPending() {
			out = append(out, m.Name)
		}
	}
	return out
}

func (m *Member) isEnded() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ended
}

func (m *Member) isPending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending
}

// spec is the member's Spec; a factory may still be adding to it.
func (m *Member) spec() Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Spec
}

// Rotation policies (SESSION_ROTATION).
const (
	RotateRandom       = "random"        // uniformly among the active members
	RotateRoundRobin   = "round_robin"   // each active member in turn
	RotateLeastUsed    = "least_used"    // the member with the fewest requests
	RotateStickyDomain = "sticky_domain" // one member per domain while it is active
)

// pick returns the member a request of group g for host uses: the one it
// already had (a retry or redirect keeps its identity) while active, else
// one chosen by the rotation policy among the active members (not avoid
// while another is active). Members past MaxUses or MaxAge are retired
// here, before they are chosen.
func (r *Registry) pick(g *group, prev, avoid, host string) (*Member, error) {
	var active []*Member
	var avoided *Member
	now := r.now()
	for _, m := range r.list(g) {
		if r.expire(m, now) {
			continue
		}
		if m.Name == prev {
			return m, nil
		}
		if m.isPending() {
			continue // its factory has not returned yet
		}
		if m.Name == avoid {
			avoided = m
			continue
		}
		active = append(active, m)
	}
	if len(active) == 0 && avoided != nil {
		active = append(active, avoided) // the only one left: better than none
	}
	if len(active) == 0 {
		return nil, ErrNoMembers
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.Rotation {
	case RotateRoundRobin:
		g.turn++
		return active[(g.turn-1)%len(active)], nil
	case RotateLeastUsed:
		return leastUsed(active), nil
	case RotateStickyDomain:
		if name, ok := g.sticky[host]; ok {
			for _, m := range active {
				if m.Name == name {
					return m, nil
				}
			}
		}
		m := leastUsed(active)
		if g.sticky == nil {
			g.sticky = map[string]string{}
		}
		g.sticky[host] = m.Name
		return m, nil
	}
	return active[r.rnd(len(active))], nil
}

// leastUsed is the member with the fewest requests, the first in name
// order among equals.
func leastUsed(ms []*Member) *Member {
	best := ms[0]
	for _, m := range ms[1:] {
		if m.usesNow() < best.usesNow() {
			best = m
		}
	}
	return best
}

func (m *Member) usesNow() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uses
}

// expire reports a member that is ended, retiring it first when it has
// reached MaxUses or MaxAge.
func (r *Registry) expire(m *Member, now time.Time) bool {
	m.mu.Lock()
	if m.ended {
		m.mu.Unlock()
		return true
	}
	reason := ""
	switch {
	case r.MaxUses > 0 && m.uses >= r.MaxUses:
		reason = "max_uses"
	case r.MaxAge > 0 && !m.firstUse.IsZero() && now.Sub(m.firstUse) >= r.MaxAge:
		reason = "max_age"
	}
	if reason != "" {
		m.ended = true
	}
	m.mu.Unlock()
	if reason != "" && r.OnRetire != nil {
		r.OnRetire(m.Group, m.Name, reason)
	}
	if reason != "" {
		r.fillGroup(m.Group)
	}
	return reason != ""
}

// use counts a request sent as m.
func (m *Member) use(now time.Time) {
	m.mu.Lock()
	m.uses++
	if m.firstUse.IsZero() {
		m.firstUse = now
	}
	m.mu.Unlock()
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ProcessRequest assigns a member to a request whose session_id names a
// registered group: the member's jar (through the cookies middleware's
// cookiejar meta key), headers the request does not set, proxy and
// profile. Requests with another session_id are left alone (their
// session_id is a plain cookie jar key).
func (r *Registry) ProcessRequest(ctx context.Context, req *crawl.Request) (middleware.Result, error) {
	if req.SessionID == "" {
		return middleware.Result{}, nil
	}
	r.mu.Lock()
	g := r.groups[req.SessionID]
	r.mu.Unlock()
	if g == nil {
		var err error
		if g, err = r.awaitRestored(ctx, req.SessionID); err != nil {
			return middleware.Result{}, &crawl.Failure{Type: crawl.SessionError, Request: req, Err: err, Message: err.Error()}
		}
	}
	if g == nil {
		return middleware.Result{}, nil
	}
	prev, _ := req.Meta[MetaMember].(string)
	avoid, _ := req.Meta[MetaAvoid].(string)
	host := ""
	if u, err := req.ParsedURL(); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	m, err := r.pick(g, prev, avoid, host)
	for err != nil {
		// An identity pool may be creating the member this request
		// needs (at the start, or replacing retired ones).
		waited, perr := r.waitMember(ctx, g)
		if perr != nil {
			return middleware.Result{}, &crawl.Failure{Type: crawl.SessionError, Request: req, Err: perr,
				Message: fmt.Sprintf("session group %s: no member: %v", g.id, perr)}
		}
		if !waited {
			break
		}
		m, err = r.pick(g, prev, avoid, host)
	}
	if err != nil {
		return middleware.Result{}, &crawl.Failure{Type: crawl.SessionError, Request: req, Err: err,
			Message: fmt.Sprintf("session group %s: %v (sessions: %s)", g.id, err, strings.Join(r.names(g), ", "))}
	}
	req.SetMeta(MetaMember, m.Name)
	req.SetMeta(metaJar, m.jarKey())
	// The member's own connections and TLS session cache: a connection or
	// a resumed session shared by two members tells the server they are
	// one client. It replaces a pool_key of another member (a request
	// sent again after a block).
	req.SetMeta(metaPoolKey, m.jarKey())
	if r.SlotPerMember {
		// DOWNLOAD_DELAY, AutoThrottle and CONCURRENT_REQUESTS_PER_DOMAIN
		// then hold for each member on each domain, as for one browser.
		req.SetMeta(metaSlot, host+"#"+m.Group+"/"+m.Name)
	}
	if !req.MetaBool(MetaLogin) {
		m.use(r.now())
	}
	spec := m.spec()
	undoMember(req, m.Name)
	var applied []any
	for _, h := range spec.Headers {
		if !req.Headers.Has(h.Name) {
			req.Headers.Set(h.Name, h.Value)
			applied = append(applied, h.Name)
		}
	}
	req.SetMeta(metaAppliedBy, m.Name)
	req.SetMeta(metaAppliedHeaders, applied)
	if req.Proxy == "" && spec.Proxy != "" {
		req.Proxy = spec.Proxy
		req.SetMeta(metaAppliedProxy, spec.Proxy)
	}
	if req.Impersonate == "" && spec.Impersonate != "" {
		req.Impersonate = spec.Impersonate
		req.SetMeta(metaAppliedImpersonate, spec.Impersonate)
	}
	r.seed(m, req.URL)
	return middleware.Result{}, nil
}

// What a member added to a request (its headers, proxy and profile), so
// that a request sent again as another member (after a block) drops them:
// one identity's User-Agent or proxy on another's request is the very
// mix anti-bot systems look for.
const (
	metaAppliedBy          = "session_applied_by"
	metaAppliedHeaders     = "session_applied_headers"
	metaAppliedProxy       = "session_applied_proxy"
	metaAppliedImpersonate = "session_applied_impersonate"
)

// undoMember removes what another member than name added to req.
func undoMember(req *crawl.Request, name string) {
	by, _ := req.Meta[metaAppliedBy].(string)
	if by == "" || by == name {
		return
	}
	switch hs := req.Meta[metaAppliedHeaders].(type) {
	case []any:
		for _, h := range hs {
			if n, ok := h.(string); ok {
				req.Headers.Del(n)
			}
		}
	case []string: // as a JOBDIR or a test may give it
		for _, n := range hs {
			req.Headers.Del(n)
		}
	}
	if p, _ := req.Meta[metaAppliedProxy].(string); p != "" && req.Proxy == p {
		req.Proxy = ""
	}
	if p, _ := req.Meta[metaAppliedImpersonate].(string); p != "" && req.Impersonate == p {
		req.Impersonate = ""
	}
	for _, k := range []string{metaAppliedBy, metaAppliedHeaders, metaAppliedProxy, metaAppliedImpersonate} {
		delete(req.Meta, k)
	}
}

// seed puts the member's initial cookies into its jar for the request's
// host, once per host, so later Set-Cookie updates are not overwritten.
func (r *Registry) seed(m *Member, rawURL string) {
	if len(m.spec().Cookies) == 0 || r.jars == nil {
		return
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seeded[u.Host] {
		return
	}
	m.seeded[u.Host] = true
	cookies := make([]*http.Cookie, 0, len(m.Spec.Cookies))
	for _, c := range m.Spec.Cookies {
		hc := &http.Cookie{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path}
		if hc.Path == "" {
			hc.Path = "/"
		}
		cookies = append(cookies, hc)
	}
	r.jars.Jar(m.jarKey()).SetCookies(&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, cookies)
}

// ParseSpec turns a member as JavaScript gives it into a Spec. Accepted
// shapes: a Cookie header string ("a=1; b=2"); an object of cookies
// ({a: "1", b: "2"}); or an object with any of the keys cookies (string or
// object), headers (object), proxy (string), impersonate (string).
func ParseSpec(v any) (Spec, error) {
	switch t := v.(type) {
	case string:
		return Spec{Cookies: ParseCookieHeader(t)}, nil
	case map[string]any:
		if isIdentity(t) {
			return parseIdentity(t)
		}
		c, err := cookieMap(t, "")
		return Spec{Cookies: c}, err
	case *crawl.Item:
		return ParseSpec(crawl.Plain(t))
	default:
		return Spec{}, fmt.Errorf("a session must be a cookie string, an object of cookies, or {cookies, headers, proxy, impersonate}, not %T", v)
	}
}

var identityKeys = []string{"cookies", "headers", "proxy", "impersonate"}

// isIdentity tells an identity object from an object of cookies: any key
// among cookies, headers, proxy, impersonate makes it an identity (a cookie
// literally named "proxy" goes under cookies:).
func isIdentity(m map[string]any) bool {
	for _, k := range identityKeys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func parseIdentity(m map[string]any) (Spec, error) {
	var s Spec
	for k, v := range m {
		switch k {
		case "cookies":
			switch c := v.(type) {
			case string:
				s.Cookies = ParseCookieHeader(c)
			case map[string]any:
				cs, err := cookieMap(c, "cookies.")
				if err != nil {
					return s, err
				}
				s.Cookies = cs
			case nil:
			default:
				return s, fmt.Errorf("cookies: want a string or an object, not %T", v)
			}
		case "headers":
			hm, ok := v.(map[string]any)
			if !ok && v != nil {
				return s, fmt.Errorf("headers: want an object, not %T", v)
			}
			keys := make([]string, 0, len(hm))
			for hk := range hm {
				keys = append(keys, hk)
			}
			slices.Sort(keys)
			for _, hk := range keys {
				hv, ok := hm[hk].(string)
				if !ok {
					return s, fmt.Errorf("headers.%s: want a string, not %T", hk, hm[hk])
				}
				s.Headers = append(s.Headers, crawl.Header{Name: hk, Value: hv})
			}
		case "proxy", "impersonate":
			str, ok := v.(string)
			if !ok && v != nil {
				return s, fmt.Errorf("%s: want a string, not %T", k, v)
			}
			if k == "proxy" {
				s.Proxy = str
			} else {
				s.Impersonate = str
			}
		default:
			return s, fmt.Errorf("unknown key %q (want cookies, headers, proxy, impersonate)", k)
		}
	}
	return s, nil
}

func cookieMap(m map[string]any, path string) ([]crawl.Cookie, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]crawl.Cookie, 0, len(names))
	for _, n := range names {
		switch v := m[n].(type) {
		case string:
			out = append(out, crawl.Cookie{Name: n, Value: v})
		case int64, float64, bool:
			out = append(out, crawl.Cookie{Name: n, Value: fmt.Sprint(v)})
		default:
			return nil, fmt.Errorf("%s%s: a cookie value must be a string, not %T", path, n, v)
		}
	}
	return out, nil
}

// ParseCookieHeader splits a Cookie header ("a=1; b=2") into cookies.
func ParseCookieHeader(h string) []crawl.Cookie {
	var out []crawl.Cookie
	for _, part := range strings.Split(h, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.TrimSpace(name) == "" {
			continue
		}
		out = append(out, crawl.Cookie{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return out
}

// DefaultRetireScore is BLOCK_RETIRE_SCORE's default: an identity blocked
// three times more than half its successful pages make up for is retired
// (Crawlee's maxErrorScore, with its 0.5 recovery per success).
const DefaultRetireScore = 3.0

// member returns the member req was sent as, or nil.
func (r *Registry) member(req *crawl.Request) *Member {
	name, _ := req.Meta[MetaMember].(string)
	if name == "" || req.SessionID == "" {
		return nil
	}
	r.mu.Lock()
	g := r.groups[req.SessionID]
	r.mu.Unlock()
	if g == nil {
		return nil
	}
	for _, m := range r.list(g) {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Blocked scores down the member req was sent as (one block = +1 to its
// error score) and retires it once the score reaches the registry's
// retire score (BLOCK_RETIRE_SCORE). It returns the member's name ("" for
// a request sent without a group member) and whether this block retired
// it. The middleware that detected the block then sends the request again
// as another member.
func (r *Registry) Blocked(req *crawl.Request) (member string, retired bool) {
	m := r.member(req)
	if m == nil {
		return "", false
	}
	limit := r.RetireScore
	if limit <= 0 {
		limit = DefaultRetireScore
	}
	m.mu.Lock()
	m.score++
	retired = !m.ended && m.score >= limit
	if retired {
		m.ended = true
	}
	m.mu.Unlock()
	if retired {
		r.fillGroup(m.Group)
	}
	return m.Name, retired
}

// fillGroup lets the identity pool of a group, if it has one, replace the
// members it lost.
func (r *Registry) fillGroup(id string) {
	r.mu.Lock()
	g := r.groups[id]
	r.mu.Unlock()
	if g != nil {
		r.fill(g)
	}
}

// Served scores up the member req was sent as after a response that was
// not a block: each one takes 0.5 off its error score, down to 0.
func (r *Registry) Served(req *crawl.Request) {
	if m := r.member(req); m != nil {
		m.mu.Lock()
		m.score = max(0, m.score-0.5)
		m.mu.Unlock()
	}
}

// ActiveCount is the number of active members over every group (the
// health scoreboard's "identities alive").
func (r *Registry) ActiveCount() int {
	r.mu.Lock()
	groups := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		groups = append(groups, g)
	}
	r.mu.Unlock()
	n := 0
	for _, g := range groups {
		for _, m := range r.list(g) {
			if !m.isEnded() && !m.isPending() {
				n++
			}
		}
	}
	return n
}

// Identity is what a request's member is on the wire, for the browser
// hand-off (runtime/browser), which must be the same identity.
type Identity struct {
	// Key names the member ("session1/user1"), one browser solve at a
	// time per key and host.
	Key         string
	Proxy       string
	Impersonate string
	// Cookies are the member's cookies for the URL, from its jar.
	Cookies []*http.Cookie
}

// IdentityOf returns the member req was sent as, with its cookies for
// rawURL; false for a request sent without a group member.
func (r *Registry) IdentityOf(req *crawl.Request, rawURL string) (Identity, bool) {
	m := r.member(req)
	if m == nil {
		return Identity{}, false
	}
	spec := m.spec()
	id := Identity{Key: m.Group + "/" + m.Name, Proxy: spec.Proxy, Impersonate: spec.Impersonate}
	if u, err := url.Parse(rawURL); err == nil && r.jars != nil {
		id.Cookies = r.jars.Jar(m.jarKey()).Cookies(u)
	}
	return id, true
}

// ImportHeaders adds headers to the member req was sent as (the tokens
// the browser hand-off extracted, BROWSER_EXTRACT_JS): its later requests
// carry them, a header of the same name replaced. It is an error for a
// request without a member.
func (r *Registry) ImportHeaders(req *crawl.Request, headers map[string]string) error {
	m := r.member(req)
	if m == nil {
		return errors.New("import headers: the request was not sent as a session group member")
	}
	var add Spec
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		add.Headers = append(add.Headers, crawl.Header{Name: name, Value: headers[name]})
	}
	return r.Update(m.Group, m.Name, add)
}

// ImportCookies sets cookies in the jar of the member req was sent as, as
// if rawURL had answered with them (the browser hand-off's clearance). It
// is an error for a request without a member.
func (r *Registry) ImportCookies(req *crawl.Request, rawURL string, cookies []*http.Cookie) error {
	m := r.member(req)
	if m == nil {
		return fmt.Errorf("import cookies for %s: the request was not sent as a session group member", rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("import cookies: %w", err)
	}
	if r.jars == nil {
		return errors.New("import cookies: no cookie jars")
	}
	r.seed(m, rawURL) // initial cookies first, so they never overwrite these
	r.jars.Jar(m.jarKey()).SetCookies(u, cookies)
	return nil
}
