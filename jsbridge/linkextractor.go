package jsbridge

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/extract"
)

// leRef hides the Go LinkExtractor behind a LinkExtractor object (its
// non-enumerable __le property).
type leRef struct{ le *extract.LinkExtractor }

// installLinkExtractor installs the LinkExtractor class: the constructor
// checks its options, extract_links(response) and matches(url) run in Go.
func (s *Spider) installLinkExtractor() {
	vm := s.vm
	strs := func(v goja.Value) []string {
		if !present(v) {
			return nil
		}
		if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
			n := int(o.Get("length").ToInteger())
			out := make([]string, 0, n)
			for i := 0; i < n; i++ {
				out = append(out, o.Get(strconv.Itoa(i)).String())
			}
			return out
		}
		return []string{v.String()}
	}
	known := []string{"allow", "deny", "allow_domains", "deny_domains", "restrict_xpaths", "restrict_css", "restrict_text", "tags", "attrs", "canonicalize", "unique", "strip", "deny_extensions", "process_value"}
	ctor := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		o, _ := call.Argument(0).(*goja.Object)
		var opts extract.LinkExtractorOptions
		if o != nil {
			for _, k := range o.Keys() {
				ok := false
				for _, kk := range known {
					ok = ok || kk == k
				}
				if !ok {
					msg := fmt.Sprintf("LinkExtractor: unknown option %q", k)
					if sg := suggest(k, known); sg != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", sg)
					}
					panic(vm.NewTypeError(msg))
				}
			}
			get := o.Get
			opts.Allow, opts.Deny = strs(get("allow")), strs(get("deny"))
			opts.AllowDomains, opts.DenyDomains = strs(get("allow_domains")), strs(get("deny_domains"))
			opts.RestrictXPaths, opts.RestrictCSS = strs(get("restrict_xpaths")), strs(get("restrict_css"))
			opts.RestrictText = strs(get("restrict_text"))
			opts.Tags, opts.Attrs = strs(get("tags")), strs(get("attrs"))
			// Scrapy's tags=None and attrs=None mean none at all (arg_to_iter),
			// not the default.
			if v := get("tags"); v != nil && goja.IsNull(v) {
				opts.Tags = []string{}
			}
			if v := get("attrs"); v != nil && goja.IsNull(v) {
				opts.Attrs = []string{}
			}
			if v := get("deny_extensions"); present(v) {
				opts.DenyExtensions = strs(v)
				if opts.DenyExtensions == nil {
					opts.DenyExtensions = []string{}
				}
			}
			if v := get("canonicalize"); present(v) {
				opts.Canonicalize = v.ToBoolean()
			}
			if v := get("unique"); present(v) {
				b := v.ToBoolean()
				opts.Unique = &b
			}
			if v := get("strip"); present(v) {
				b := v.ToBoolean()
				opts.Strip = &b
			}
			if v := get("process_value"); present(v) {
				f, ok := goja.AssertFunction(v)
				if !ok {
					panic(vm.NewTypeError("LinkExtractor: process_value must be a function"))
				}
				// Runs synchronously inside extract_links, on the loop.
				opts.ProcessValueErr = func(u string) (string, bool, error) {
					r, err := f(goja.Undefined(), vm.ToValue(u))
					if err != nil {
						return "", false, err
					}
					if !present(r) || r.String() == "" {
						return "", false, nil
					}
					return r.String(), true, nil
				}
			}
		}
		opts.MaxLinks = s.opts.MaxLinks
		le, err := extract.NewLinkExtractor(opts)
		if err != nil {
			panic(vm.NewTypeError("LinkExtractor: " + err.Error()))
		}
		_ = call.This.DefineDataProperty("__le", vm.ToValue(leRef{le}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
		return nil
	}).(*goja.Object)
	leOf := func(call goja.FunctionCall) *extract.LinkExtractor {
		if o, ok := call.This.(*goja.Object); ok {
			if ref, ok := o.Get("__le").Export().(leRef); ok {
				return ref.le
			}
		}
		panic(vm.NewTypeError("not a LinkExtractor"))
	}
	proto := ctor.Get("prototype").(*goja.Object)
	_ = proto.Set("extract_links", func(call goja.FunctionCall) goja.Value {
		le := leOf(call)
		j, ok := s.responseOf(call.Argument(0))
		if !ok {
			panic(vm.NewTypeError("extract_links: argument must be a Response"))
		}
		links, truncated, err := le.Extract(j.r)
		if truncated {
			s.log.Warn("page has more links than LINKEXTRACTOR_MAX_LINKS: the rest were not read",
				"url", j.r.URL, "max_links", le.MaxLinks())
			s.Stats().Inc("linkextractor/pages_truncated", 1)
		}
		if err != nil {
			var ex *goja.Exception
			if errors.As(err, &ex) {
				panic(ex)
			}
			s.throw(err)
		}
		out := make([]any, len(links))
		for i, l := range links {
			lo := vm.NewObject()
			_ = lo.Set("url", l.URL)
			_ = lo.Set("text", l.Text)
			_ = lo.Set("fragment", l.Fragment)
			_ = lo.Set("nofollow", l.NoFollow)
			out[i] = lo
		}
		return vm.NewArray(out...)
	})
	_ = proto.Set("matches", func(call goja.FunctionCall) goja.Value {
		ok, err := leOf(call).Matches(call.Argument(0).String())
		if err != nil {
			s.throw(err)
		}
		return vm.ToValue(ok)
	})
	_ = vm.Set("LinkExtractor", ctor)
}
