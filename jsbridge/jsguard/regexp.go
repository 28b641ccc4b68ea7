package jsguard

import (
	"fmt"
	"strconv"
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
	// the same pieces with one exec per piece. Either way the pieces are
	// capped at MaxArrayLength: captures add many per match.
	const splitWhat = "RegExp.prototype[Symbol.split]"
	if err := g.wrapSymbol(rp, goja.SymSplit, splitWhat, func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			rx, ok := call.This.(*goja.Object)
			if !ok || rx.ClassName() != "RegExp" || rx.Get("constructor") != goja.Value(re.obj) {
				// A subclass or a look-alike: the spec's way, with the
				// limit lowered to one past the cap.
				return g.cappedSplit(splitWhat, orig, call)
			}
			return g.split(&re, rx, str(call.Argument(0)), call.Argument(1))
		}
	}); err != nil {
		return err
	}
	// replace: String.prototype.replace and replaceAll are capped on their
	// own (replacer), but RegExp.prototype[Symbol.replace] called directly
	// (re[Symbol.replace](s, "$&$&..."), or through a look-alike's
	// [Symbol.replace]) builds its result in one Go loop just the same.
	const replaceWhat = "RegExp.prototype[Symbol.replace]"
	return g.wrapSymbol(rp, goja.SymReplace, replaceWhat, func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			if _, ok := call.This.(*goja.Object); !ok {
				return orig(call) // the TypeError, before any conversion
			}
			s := str(call.Argument(0))
			call.Arguments = []goja.Value{s, g.replacer(replaceWhat, s, call.Argument(1))}
			return orig(call)
		}
	})
}

// cappedSplit runs the original [Symbol.split] (the spec's algorithm) with
// its limit at most one past MaxArrayLength, and throws when it reached it.
func (g *guards) cappedSplit(what string, orig native, call goja.FunctionCall) goja.Value {
	args := []goja.Value{call.Argument(0), g.vm.ToValue(int64(MaxArrayLength + 1))}
	capped := true
	if lv := call.Argument(1); present(lv) {
		n := lv.ToNumber()
		if toUint32(n.ToFloat()) <= MaxArrayLength {
			args[1], capped = n, false
		}
	}
	call.Arguments = args
	r := orig(call)
	if capped && lengthOf(r) > MaxArrayLength {
		g.throw("%s: array length limit %s exceeded", what, mi(MaxArrayLength))
	}
	return r
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
	// A limit past the cap (none given, or String.prototype.split's own
	// MaxArrayLength + 1) stops at one piece more than the cap and throws.
	capped := lim > MaxArrayLength
	if capped {
		lim = MaxArrayLength + 1
	}
	full := func() goja.Value {
		if capped {
			g.throw("RegExp.prototype[Symbol.split]: array length limit %s exceeded", mi(MaxArrayLength))
		}
		return g.vm.NewArray(out...)
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
			return full()
		}
		p = end
		n := toLength(m.Get("length"))
		for i := int64(1); i < n; i++ {
			out = append(out, m.Get(strconv.FormatInt(i, 10)))
			if int64(len(out)) == lim {
				return full()
			}
		}
		q = p
	}
	out = append(out, s.Substring(p, size))
	if int64(len(out)) == lim {
		return full()
	}
	return g.vm.NewArray(out...)
}

func isLead(c uint16) bool  { return c >= 0xD800 && c <= 0xDBFF }
func isTrail(c uint16) bool { return c >= 0xDC00 && c <= 0xDFFF }
