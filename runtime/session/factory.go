package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// MetaLogin marks a request a factory sends as the member it is creating
// (pinned to it by MetaMember): it does not count as a use, and a block
// fails it at once (runtime/middleware.Blocks) instead of sending it again
// as another member, which would log someone else in.
const MetaLogin = middleware.MetaSessionLogin

// Factory creates one member of an identity pool. The member exists while
// it runs, pending: requests pinned to it (MetaMember, with MetaLogin)
// are sent as it — its own jar, connections, proxy and profile — so a
// login's cookies land in its jar; rotation does not pick it until the
// factory returns. The returned Spec is added to the member's (Update may
// have set parts of it before the login).
type Factory func(ctx context.Context, m NewMember) (Spec, error)

// NewMember is the member a Factory is asked to create.
type NewMember struct {
	SessionID string // the pool's group ("session1")
	Name      string // "identity3"
	Attempt   int    // 1 for the first try of this place in the pool
}

// FactoryOptions configure an identity pool.
type FactoryOptions struct {
	// Name names the factory in logs and errors (the JS function).
	Name string
	// Size is how many active members the pool keeps: it creates them
	// at once, and a new one each time one is retired.
	Size int
	// Tries bounds the attempts at one member (each a fresh identity);
	// after the last failure the pool fails (OnFail).
	Tries int
	// Backoff is the wait before the second attempt, doubling after
	// each.
	Backoff time.Duration
	// Context ends the pool's work with the crawl.
	Context context.Context
	// OnFail is told once when a member could not be made in Tries
	// attempts: the crawl is to stop with this error.
	OnFail func(err error)
}

// Defaults of SESSION_POOL_SIZE, SESSION_FACTORY_TRIES and
// SESSION_FACTORY_BACKOFF.
const (
	DefaultPoolSize       = 3
	DefaultFactoryTries   = 3
	DefaultFactoryBackoff = time.Second
)

// pool is the factory side of a group. Its counters are under
// Registry.mu.
type pool struct {
	opts     FactoryOptions
	factory  Factory
	next     int // identities named so far ("identity<next>")
	creating int // factory runs in progress
	failed   error
	changed  chan struct{} // closed and replaced on every change
}

// MemberPrefix names the members of an identity pool: identity1, ….
const MemberPrefix = "identity"

// RegisterFactory adds an identity pool and returns its session_id. It
// starts opts.Size factory runs at once and returns without waiting:
// requests of the group wait until a member is ready (or the pool fails).
// On a resumed crawl, the pool's members saved in the JOBDIR that were
// still active come back with their cookies and what the factory gave
// them, without running the factory again; it runs only for the places
// left.
func (r *Registry) RegisterFactory(f Factory, o FactoryOptions) (string, error) {
	if f == nil {
		return "", errors.New("register_factory: no factory function")
	}
	if o.Size == 0 {
		o.Size = r.PoolSize
	}
	if o.Size <= 0 {
		o.Size = DefaultPoolSize
	}
	if o.Tries <= 0 {
		o.Tries = r.FactoryTries
	}
	if o.Tries <= 0 {
		o.Tries = DefaultFactoryTries
	}
	if o.Backoff <= 0 {
		o.Backoff = r.FactoryBackoff
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("session%d", r.seq)
	p := &pool{opts: o, factory: f, changed: make(chan struct{})}
	g := &group{id: id, pool: p}
	// Members saved under this id come back as they were.
	for key, st := range r.restored {
		name, ok := strings.CutPrefix(key, id+"/")
		if !ok || st.Spec == nil {
			continue
		}
		m := &Member{Group: id, Name: name, Spec: st.Spec.spec(), seeded: map[string]bool{}}
		m.restore(st)
		g.members = append(g.members, m)
		if n, err := strconv.Atoi(strings.TrimPrefix(name, MemberPrefix)); err == nil && n > p.next {
			p.next = n
		}
	}
	sortMembers(g.members)
	r.groups[id] = g
	r.registeredLocked()
	r.mu.Unlock()
	r.fill(g)
	return id, nil
}

// fill starts factory runs until the pool's active and pending members
// reach its size.
func (r *Registry) fill(g *group) {
	p := g.pool
	if p == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.failed != nil || p.opts.Context.Err() != nil {
		return
	}
	alive := p.creating
	for _, m := range g.members {
		if !m.isEnded() && !m.isPending() {
			alive++
		}
	}
	for ; alive < p.opts.Size; alive++ {
		p.creating++
		go r.create(g)
	}
}

// create makes one member, trying fresh identities up to Tries times.
func (r *Registry) create(g *group) {
	p := g.pool
	ctx := p.opts.Context
	var err error
	for attempt := 1; ; attempt++ {
		m := r.addPending(g)
		var spec Spec
		spec, err = p.factory(ctx, NewMember{SessionID: g.id, Name: m.Name, Attempt: attempt})
		if err == nil {
			err = r.activate(m, spec)
		}
		if err == nil {
			r.stat("sessions/factory/created")
			r.log().Info("session member created", "session", g.id, "member", m.Name, "factory", p.opts.Name, "attempt", attempt)
			r.poolChanged(g, func() { p.creating-- })
			return
		}
		// A failed attempt's identity is dropped whole: its jar may
		// hold half a login, its connections a server's suspicion.
		m.mu.Lock()
		m.pending, m.ended = false, true
		m.mu.Unlock()
		err = fmt.Errorf("session factory %s could not create %s/%s (attempt %d of %d): %w", p.opts.Name, g.id, m.Name, attempt, p.opts.Tries, err)
		if ctx.Err() != nil {
			r.poolChanged(g, func() { p.creating-- })
			return
		}
		r.stat("sessions/factory/failed_attempts")
		if attempt >= p.opts.Tries {
			break
		}
		wait := p.opts.Backoff << (attempt - 1)
		r.log().Warn("session factory failed; trying a new identity", "session", g.id, "factory", p.opts.Name, "wait", wait, "error", err)
		if sleep(ctx, wait) != nil {
			r.poolChanged(g, func() { p.creating-- })
			return
		}
	}
	first := false
	r.poolChanged(g, func() {
		p.creating--
		if p.failed == nil {
			p.failed, first = err, true
		}
	})
	if first {
		r.log().Error("session factory failed", "session", g.id, "factory", p.opts.Name, "error", err)
		if p.opts.OnFail != nil {
			p.opts.OnFail(err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addPending adds the pool's next member, pending.
func (r *Registry) addPending(g *group) *Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	g.pool.next++
	m := &Member{Group: g.id, Name: fmt.Sprintf("%s%d", MemberPrefix, g.pool.next), seeded: map[string]bool{}, pending: true}
	g.members = append(g.members, m)
	return m
}

// activate adds what the factory returned to a pending member, checks
// that its User-Agent and Client Hints agree with its profile, and makes
// it available to rotation.
func (r *Registry) activate(m *Member, add Spec) error {
	m.mu.Lock()
	m.Spec = m.Spec.merge(add)
	spec := m.Spec
	if len(add.Cookies) > 0 {
		// The login may have visited hosts already: they get the
		// cookies the factory returned too.
		clear(m.seeded)
	}
	m.mu.Unlock()
	if err := checkConsistent(spec); err != nil {
		return err
	}
	m.mu.Lock()
	m.pending = false
	m.mu.Unlock()
	return nil
}

// checkConsistent refuses an identity whose headers name another browser
// than its profile, as the downloader would refuse each of its requests.
func checkConsistent(s Spec) error {
	if s.Impersonate == "" {
		return nil
	}
	// The path as the downloader will load it.
	p, err := impersonate.LoadProfile(s.Impersonate)
	if err != nil {
		return fmt.Errorf("impersonate %q: %w", s.Impersonate, err)
	}
	if err := p.CheckHeaders(s.Headers); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// poolChanged applies change under the registry lock and wakes the
// requests waiting for a member.
func (r *Registry) poolChanged(g *group, change func()) {
	r.mu.Lock()
	change()
	close(g.pool.changed)
	g.pool.changed = make(chan struct{})
	r.mu.Unlock()
}

// Update adds spec to a member (spider.hooks.session identity.set in a
// factory, before its login requests).
func (r *Registry) Update(sessionID, member string, add Spec) error {
	r.mu.Lock()
	g := r.groups[sessionID]
	r.mu.Unlock()
	if g == nil {
		return fmt.Errorf("no session group %q", sessionID)
	}
	for _, m := range r.list(g) {
		if m.Name == member {
			m.mu.Lock()
			m.Spec = m.Spec.merge(add)
			m.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("group %s has no session %q", sessionID, member)
}

// merge is s with add's parts: cookies and headers added (add's win),
// proxy and profile replaced when add sets them.
func (s Spec) merge(add Spec) Spec {
	out := s
	out.Cookies = append(append([]crawl.Cookie(nil), s.Cookies...), add.Cookies...)
	out.Headers = append(crawl.Headers(nil), s.Headers...)
	for _, h := range add.Headers {
		out.Headers.Set(h.Name, h.Value)
	}
	if add.Proxy != "" {
		out.Proxy = add.Proxy
	}
	if add.Impersonate != "" {
		out.Impersonate = add.Impersonate
	}
	return out
}

// waitMember waits for the pool of g to make a member ready, fail, or
// ctx to end. It returns the pool's failure, if any; ok false when the
// pool has nothing coming (no pool, or nothing being created).
func (r *Registry) waitMember(ctx context.Context, g *group) (ok bool, err error) {
	if g.pool == nil {
		return false, nil
	}
	r.fill(g)
	r.mu.Lock()
	p := g.pool
	ch, failed, creating := p.changed, p.failed, p.creating
	r.mu.Unlock()
	if failed != nil {
		return false, failed
	}
	if creating == 0 {
		return false, nil
	}
	select {
	case <-ch:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (r *Registry) stat(key string) {
	if r.Stats != nil {
		r.Stats.Inc(key, 1)
	}
}

func (r *Registry) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// resolvePath makes a relative file path relative to base (the spec's
// directory); names without a path (a profile name such as chrome_148)
// are left alone.
func resolvePath(base, p string) string {
	if base == "" || p == "" || filepath.IsAbs(p) {
		return p
	}
	if !strings.ContainsAny(p, `/\`) && !hasFileExt(p) {
		return p
	}
	return filepath.Join(base, p)
}

func hasFileExt(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json", ".txt":
		return true
	}
	return false
}

// RegisterIdentityFactory implements jsbridge.IdentityPools: create's
// result is a member shape as register_sessions takes it (ParseSpec).
func (r *Registry) RegisterIdentityFactory(ctx context.Context, name string, size int, create func(ctx context.Context, sessionID, member string, attempt int) (any, error), onFail func(error)) (string, error) {
	f := func(ctx context.Context, m NewMember) (Spec, error) {
		v, err := create(ctx, m.SessionID, m.Name, m.Attempt)
		if err != nil || v == nil {
			return Spec{}, err
		}
		spec, err := ParseSpec(v)
		if err != nil {
			return Spec{}, fmt.Errorf("its result: %w", err)
		}
		return spec, nil
	}
	return r.RegisterFactory(f, FactoryOptions{Name: name, Size: size, Context: ctx, OnFail: onFail})
}

// UpdateMember implements jsbridge.IdentityPools (identity.set).
func (r *Registry) UpdateMember(sessionID, member string, v any) error {
	spec, err := ParseSpec(v)
	if err != nil {
		return fmt.Errorf("identity.set: %w", err)
	}
	return r.Update(sessionID, member, spec)
}
