package jsguard

import (
	"fmt"
	"time"

	"github.com/dop251/goja"
)

// regexSlow is the duration after which a failed match counts as timed
// out: regexp2 measures its deadline with a coarse clock, so a match that
// timed out may return a little before RegexTimeout.
const regexSlow = RegexTimeout * 9 / 10

// regexps holds what the regex guards need.
type regexps struct {
	ctor goja.Constructor // the original RegExp constructor
	obj  *goja.Object     // ... as an object
	exec native           // the original RegExp.prototype.exec
}

func (g *guards) installRegExp() error {
	ctor, err := g.global("RegExp")
	if err != nil {
		return err
	}
	rp, err := g.object(ctor, "prototype")
	if err != nil {
		return err
	}
	var re regexps
	re.obj = ctor
	re.ctor, _ = goja.AssertConstructor(ctor)
	execFn, err := g.object(rp, "exec")
	if err != nil {
		return err
	}
	var ok bool
	if re.exec, ok = nativeOf(execFn); !ok {
		return fmt.Errorf("RegExp.prototype.exec is not native")
	}
	// Replacing exec makes goja take its generic path for every regex
	// operation (match, matchAll, replace, search), which calls exec once
	// per match: each attempt is timed here, and poll lets an interrupt
	// land between attempts.
	if err := g.wrap(rp, "exec", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			r := g.timedExec(orig, call)
			return r
		}
	}); err != nil {
		return err
	}
	if err := g.wrap(rp, "test", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			g.poll()
			t0 := time.Now()
			r := orig(call)
			if !r.ToBoolean() && time.Since(t0) >= regexSlow {
				g.regexTimedOut(call.This)
			}
			return r
		}
	}); err != nil {
		return err
	}
	// split: goja's generic path (spec's) runs a sticky exec at every
	// position of the string — 10^6 calls for a 1 MB text, whether the
	// separator occurs or not. Searching for the next match instead gives
	// the same pieces with one exec per piece.
	splitFn, ok := rp.GetSymbol(goja.SymSplit).(*goja.Object)
	if !ok {
		return fmt.Errorf("RegExp.prototype[Symbol.split] is not a function")
	}
	origSplit, ok := nativeOf(splitFn)
	if !ok {
		return fmt.Errorf("RegExp.prototype[Symbol.split] is not native")
	}
	w := g.vm.ToValue(func(call goja.FunctionCall) goja.Value {
		rx, ok := call.This.(*goja.Object)
		if !ok || rx.ClassName() != "RegExp" || rx.Get("constructor") != goja.Value(re.obj) {
			return origSplit(call) // a subclass or a look-alike: the spec's way
		}
		return g.split(&re, rx, str(call.Argument(0)), call.Argument(1))
	}).(*goja.Object)
	for _, p := range []string{"name", "length"} {
		if err := w.DefineDataProperty(p, splitFn.Get(p), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			return err
		}
	}
	return rp.DefineDataPropertySymbol(goja.SymSplit, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// timedExec runs exec and throws when the match ran into RegexTimeout.
func (g *guards) timedExec(exec native, call goja.FunctionCall) goja.Value {
	g.poll()
	t0 := time.Now()
	r := exec(call)
	if (r == nil || goja.IsNull(r)) && time.Since(t0) >= regexSlow {
		g.regexTimedOut(call.This)
	}
	return r
}

func (g *guards) regexTimedOut(rx goja.Value) {
	g.throwWith(g.errorCtor, fmt.Sprintf("regex match timed out after %dms: %s (catastrophic backtracking?)", RegexTimeout.Milliseconds(), truncate(rx.String(), 100)))
}

// split is RegExp.prototype[Symbol.split] for a plain RegExp: the pieces
// of s between the matches of rx (a global copy of it, searched from the
// end of the last piece), with the captures, up to limit pieces.
func (g *guards) split(re *regexps, rx *goja.Object, s goja.String, limitV goja.Value) goja.Value {
	flags := rx.Get("flags").String()
	unicode := false
	gflags := "g"
	for _, f := range flags {
		switch f {
		case 'u', 'v':
			unicode = true
		case 'g', 'y':
			continue
		}
		gflags += string(f)
	}
	lim := int64(1<<32 - 1)
	if present(limitV) {
		lim = toUint32(limitV.ToNumber().ToFloat())
	}
	out := []any{}
	if lim == 0 {
		return g.vm.NewArray()
	}
	splitter, err := re.ctor(nil, rx, g.vm.ToValue(gflags))
	if err != nil {
		panic(err)
	}
	size := s.Length()
	exec := func(from int) *goja.Object {
		if err := splitter.Set("lastIndex", from); err != nil {
			panic(err)
		}
		m, _ := g.timedExec(re.exec, goja.FunctionCall{This: splitter, Arguments: []goja.Value{s}}).(*goja.Object)
		return m
	}
	if size == 0 {
		if m := exec(0); m != nil && m.Get("index").ToInteger() == 0 {
			return g.vm.NewArray()
		}
		return g.vm.NewArray(s)
	}
	advance := func(q int) int {
		if unicode && q+1 < size && isLead(s.CharAt(q)) && isTrail(s.CharAt(q+1)) {
			return q + 2
		}
		return q + 1
	}
	p, q := 0, 0
	for q < size {
		m := exec(q)
		if m == nil {
			break
		}
		at := int(m.Get("index").ToInteger())
		if at >= size {
			break
		}
		end := min(int(splitter.Get("lastIndex").ToInteger()), size)
		if end == p {
			q = advance(at)
			continue
		}
		out = append(out, s.Substring(p, at))
		if int64(len(out)) == lim {
			return g.vm.NewArray(out...)
		}
		p = end
		n := toLength(m.Get("length"))
		for i := int64(1); i < n; i++ {
			out = append(out, m.Get(fmt.Sprint(i)))
			if int64(len(out)) == lim {
				return g.vm.NewArray(out...)
			}
		}
		q = p
	}
	out = append(out, s.Substring(p, size))
	return g.vm.NewArray(out...)
}

func isLead(c uint16) bool  { return c >= 0xD800 && c <= 0xDBFF }
func isTrail(c uint16) bool { return c >= 0xDC00 && c <= 0xDFFF }
