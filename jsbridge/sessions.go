package jsbridge

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// IdentityPools is the part of SessionHooks behind
// spider.hooks.session.register_factory and register_profiles; the
// sessions feature (runtime/session's Registry) implements it.
type IdentityPools interface {
	// RegisterIdentityFactory adds a pool of size members (0 =
	// SESSION_POOL_SIZE) that create makes, one call per member, and
	// again for each one retired. onFail is told once when a member
	// could not be made in the allowed attempts.
	RegisterIdentityFactory(ctx context.Context, name string, size int, create func(ctx context.Context, sessionID, member string, attempt int) (any, error), onFail func(error)) (string, error)
	// UpdateMember adds to a member what identity.set gives (a member
	// shape as register_sessions takes).
	UpdateMember(sessionID, member string, spec any) error
	// RegisterProfiles registers one member per entry of a captured
	// browser profile set (nil: SESSION_PROFILES).
	RegisterProfiles(src any) (string, error)
}

// Meta keys of a factory's login request (runtime/session's MetaMember
// and MetaLogin).
const (
	metaSessionMember = "session_member"
	metaSessionLogin  = "session_login"
)

// identityHooks adds register_factory and register_profiles to
// spider.hooks.session.
func (s *Spider) identityHooks(sess *goja.Object) {
	vm := s.vm
	pools := func(name string) IdentityPools {
		p, ok := s.opts.Sessions.(IdentityPools)
		if !ok {
			panic(vm.NewTypeError("spider.hooks.session." + name + ": identity pools are not available in this build (jsbridge.Options.Sessions)"))
		}
		return p
	}
	// register_factory({new_identity, size}) → session_id. The pool calls
	// new_identity(identity, spider) for each member it needs; identity
	// has session_id, name, attempt, download(request) (sent as this
	// identity) and set({cookies, headers, proxy, impersonate}); it
	// returns nothing or more of the member (a register_sessions shape).
	_ = sess.Set("register_factory", func(call goja.FunctionCall) goja.Value {
		p := pools("register_factory")
		o, ok := call.Argument(0).(*goja.Object)
		if !ok {
			panic(vm.NewTypeError("register_factory: want {new_identity: an exported function or its name, size}"))
		}
		// By name: the pool calls it again for replacements, and on a
		// resumed crawl.
		fn := ""
		switch v := o.Get("new_identity"); {
		case !present(v):
			panic(vm.NewTypeError("register_factory: new_identity is required"))
		case v.ExportType() != nil && v.ExportType().Kind() == reflect.String:
			fn = v.String()
		default:
			if fo, ok := v.(*goja.Object); ok {
				fn = s.exportNames[fo]
			}
			if fn == "" {
				panic(vm.NewTypeError("register_factory: new_identity must be an exported function or its name"))
			}
		}
		if !s.HasExport(fn) {
			panic(vm.NewTypeError(fmt.Sprintf("register_factory: new_identity %q is not an exported function (exported: %s)", fn, strings.Join(s.exportList(), ", "))))
		}
		size := 0
		if v := o.Get("size"); present(v) {
			size = int(v.ToInteger())
			if size < 1 {
				panic(vm.NewTypeError("register_factory: size must be at least 1"))
			}
		}
		where := "session factory " + fn
		create := func(ctx context.Context, sid, member string, attempt int) (any, error) {
			res := s.callJS(ctx, where, fn, "", func() []goja.Value {
				return []goja.Value{s.identityObject(sid, member, attempt)}
			}, func(exc, val goja.Value) invResult {
				if exc != nil {
					return invResult{err: s.jsError(exc, where, "")}
				}
				if !present(val) {
					return invResult{}
				}
				v, err := s.exporter().value(val, "result", 0)
				if err != nil {
					return invResult{err: &Error{Where: where, Type: "TypeError", Message: err.Error(), Err: err}}
				}
				return invResult{val: v}
			})
			return res.val, res.err
		}
		onFail := func(err error) {
			if c := s.crawl.Load(); c != nil {
				// The first line: the reason, with the script position;
				// the log has the stack.
				msg, _, _ := strings.Cut(err.Error(), "\n")
				c.Close("session_factory_failed: " + msg)
			}
		}
		id, err := p.RegisterIdentityFactory(s.ctx, fn, size, create, onFail)
		if err != nil {
			s.throw(err)
		}
		return vm.ToValue(id)
	})
	// register_profiles(set?) → session_id: a directory or {name:
	// {impersonate, headers, cookies, cookies_file, proxy}}; none =
	// SESSION_PROFILES.
	_ = sess.Set("register_profiles", func(call goja.FunctionCall) goja.Value {
		p := pools("register_profiles")
		var src any
		if a := call.Argument(0); present(a) {
			v, err := s.exporter().value(a, "profiles", 0)
			if err != nil {
				panic(vm.NewTypeError("register_profiles: " + err.Error()))
			}
			src = v
		}
		id, err := p.RegisterProfiles(src)
		if err != nil {
			s.throw(err)
		}
		return vm.ToValue(id)
	})
}

// identityObject is the identity a factory creates. Loop only.
func (s *Spider) identityObject(sid, member string, attempt int) *goja.Object {
	vm := s.vm
	o := vm.NewObject()
	_ = o.Set("session_id", sid)
	_ = o.Set("name", member)
	_ = o.Set("attempt", attempt)
	_ = o.Set("download", func(call goja.FunctionCall) goja.Value {
		return s.downloadAs(call.Argument(0), "identity.download", func(r *crawl.Request) {
			// Sent as this member only (its jar, connections, proxy and
			// profile), and never counted as one of its uses.
			r.SessionID = sid
			r.SetMeta(metaSessionMember, member)
			r.SetMeta(metaSessionLogin, true)
			r.DontFilter = true
		})
	})
	_ = o.Set("set", func(call goja.FunctionCall) goja.Value {
		v, err := s.exporter().value(call.Argument(0), "identity", 0)
		if err != nil {
			panic(vm.NewTypeError("identity.set: " + err.Error()))
		}
		if err := s.opts.Sessions.(IdentityPools).UpdateMember(sid, member, v); err != nil {
			s.throw(err)
		}
		return goja.Undefined()
	})
	return o
}
