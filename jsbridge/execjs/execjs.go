// Package execjs runs use_execjs contexts: JavaScript files (typically a
// site's signing code) that a spider calls synchronously, the way Python
// spiders use PyExecJS, but in process.
//
// Every file is one context: its own goja runtime, loaded once, keyed by the
// file name without its suffix (js/sign.js → "sign"). Contexts are isolated
// from each other and from the spider's own runtime; values cross by
// structured copy as plain Go values (see Call). Each context carries the
// browser globals that signing scripts probe at load time (window, self,
// navigator, document, location, atob/btoa, TextEncoder/TextDecoder,
// crypto.getRandomValues, timers, localStorage) plus Buffer, URL and require
// for goja_nodejs core modules and a subset of Node's crypto module.
//
//	ctxs, err := execjs.Load([]string{"js/"}, execjs.Options{Timeout: 5 * time.Second})
//	if err != nil { ... }
//	defer ctxs.Close()
//	sig, err := ctxs.Call("sign", "get_sign", []any{"q=1", int64(1700000000)})
package execjs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
)

// DefaultTimeout bounds one call when Options.Timeout is zero. It matches the
// default JS_TIMEOUT of spider callbacks.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is navigator.userAgent when Options.UserAgent is empty.
const DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// maxCallStack bounds JS recursion; without it goja grows the heap until
// the process is killed (RELIABILITY.md M2/M3).
const maxCallStack = 10000

// Options configures every context of a Load.
type Options struct {
	// Timeout bounds one Call or Eval, and the loading of each file
	// (JS_TIMEOUT). Zero means DefaultTimeout; negative disables the bound.
	Timeout time.Duration
	// UserAgent is navigator.userAgent (USER_AGENT); empty means
	// DefaultUserAgent.
	UserAgent string
	// Logger receives console.log/info/debug (Info), console.warn (Warn) and
	// console.error (Error) output, with the context key; nil discards it.
	Logger *slog.Logger
	// MemoryLimit (JS_MEMORY_LIMIT, bytes) interrupts a call when the live
	// Go heap grew by more than this much while it ran. goja has no
	// per-runtime accounting, so this is a process-wide approximation
	// sampled every 50ms (what the last GC found live, so other goroutines'
	// garbage does not count: jsguard.Limits.Memory); zero disables it.
	//
	// Whatever the limits, the built-ins goja cannot interrupt are capped
	// in every context as in spider callbacks (package jsguard), and a call
	// stuck in one anyway is abandoned jsguard.Grace(Timeout) after its
	// interrupt.
	MemoryLimit int64
	// Location is the page URL seen as location.href and document.URL;
	// empty means "about:blank".
	Location string
	// Cookie is the initial document.cookie ("a=1; b=2").
	Cookie string
}

func (o Options) timeout() time.Duration {
	if o.Timeout == 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Sentinel errors. Every error returned by this package is an *Error whose
// Err (when set) is one of these or a *CopyError.
var (
	// ErrTimeout: the call ran longer than Options.Timeout and was
	// interrupted (jsguard's, shared with spider callbacks).
	ErrTimeout = jsguard.ErrTimeout
	// ErrMemoryLimit: the heap grew past Options.MemoryLimit during the
	// call (jsguard's).
	ErrMemoryLimit = jsguard.ErrMemoryLimit
	// ErrStuck: the context's runtime was abandoned in a built-in that
	// ignores interrupts, and that call has not ended yet; the context
	// reloads once it has (at most one abandoned runtime per context).
	ErrStuck = jsguard.ErrStuck
	// ErrUnknownContext: no context has that key.
	ErrUnknownContext = errors.New("unknown context")
	// ErrNotFunction: the name given to Call is not a function.
	ErrNotFunction = errors.New("not a function")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("contexts closed")
	// ErrPromisePending: a call returned a promise that nothing could settle.
	ErrPromisePending = errors.New("promise still pending")
	// ErrDuplicateKey: two files map to the same context key.
	ErrDuplicateKey = errors.New("duplicate context key")
)

// Contexts is the set of loaded contexts. Its methods are safe for
// concurrent use: calls into one context are serialized, calls into
// different contexts run in parallel.
type Contexts struct {
	opts  Options
	order []string
	byKey map[string]*jsContext
	// scripts caches importScripts() sources by absolute path so that a
	// reload after a timeout does not re-read the disk.
	scripts sync.Map
}

// Load reads every path (a .js file, or a directory whose *.js files are
// taken, sorted, not recursing into subdirectories) and loads each file into
// its own context, keyed by the file name without suffix. Two files with
// the same key are an error naming both. A syntax or runtime error while
// loading a file is returned with its file:line:col.
func Load(paths []string, opts Options) (*Contexts, error) {
	c := &Contexts{opts: opts, byKey: map[string]*jsContext{}}
	files, err := expand(paths)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		if prev, ok := c.byKey[key]; ok {
			c.Close()
			return nil, &Error{Key: key, Op: "load", Err: ErrDuplicateKey,
				Message: fmt.Sprintf("%s and %s both define context %q", prev.path, f, key)}
		}
		ctx, err := newContext(c, key, f)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.byKey[key] = ctx
		c.order = append(c.order, key)
	}
	return c, nil
}

// expand turns files and directories into the list of context files.
func expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("execjs: js_path %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("execjs: js_path %s: %w", p, err)
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".js") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// Keys returns the context keys in load order.
func (c *Contexts) Keys() []string {
	return append([]string(nil), c.order...)
}

// Call calls the top-level function fn of context key with args and returns
// its result. fn may be a dotted path ("CryptoJS.MD5", "obj.method", called
// with this = obj). It is synchronous: when the function returns a
// Promise, due timers and jobs are run (future timers fast-forwarded) until
// it settles.
//
// Values cross by structured copy. Go → JS: nil, bool, every integer and
// float type, string, []byte (a fresh Uint8Array), []any and other slices,
// map[string]any and other string-keyed maps (keys sorted), *crawl.Item
// (field order kept), json.Number. JS → Go: undefined/null → nil, boolean →
// bool, integral numbers within ±2^53 → int64, other numbers → float64,
// string → string, Array → []any, Uint8Array and ArrayBuffer → []byte,
// ordinary objects → *crawl.Item with the own enumerable keys in JS order
// (so a signature over "object key order" survives the trip). Functions,
// symbols, BigInt, Map/Set/Date/RegExp/Error/Promise, other typed arrays,
// cyclic and over-deep values are a *CopyError naming the path.
func (c *Contexts) Call(key, fn string, args []any) (any, error) {
	ctx, err := c.get(key)
	if err != nil {
		return nil, err
	}
	return ctx.call(fn, args)
}

// Eval evaluates src as a classic script in context key's global scope and
// returns the value of its last expression, copied as in Call. Positions in
// errors name "<eval>".
func (c *Contexts) Eval(key, src string) (any, error) {
	ctx, err := c.get(key)
	if err != nil {
		return nil, err
	}
	return ctx.eval(src)
}

// Close releases every context. Calls made afterwards fail with ErrClosed;
// a call still running finishes (bounded by the timeout) first.
func (c *Contexts) Close() {
	for _, ctx := range c.byKey {
		ctx.close()
	}
}

func (c *Contexts) get(key string) (*jsContext, error) {
	ctx, ok := c.byKey[key]
	if !ok {
		return nil, &Error{Key: key, Op: "lookup", Err: ErrUnknownContext,
			Message: fmt.Sprintf("no context %q (loaded: %s)", key, strings.Join(c.order, ", "))}
	}
	return ctx, nil
}

// compileScript compiles a context or imported file as a classic script.
// It parses first itself because goja.Compile flattens parser errors into
// one string without a usable position.
func compileScript(name string, src []byte) (*goja.Program, error) {
	ast, err := parser.ParseFile(nil, name, string(src), 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			// Only the first error: the rest usually cascade from it.
			return nil, &syntaxError{pos: list[0].Position.String(), msg: list[0].Message}
		}
		return nil, err
	}
	return goja.CompileAST(ast, false)
}

// syntaxError is a parse error with the position of its first problem.
type syntaxError struct {
	pos, msg string
}

func (e *syntaxError) Error() string { return e.pos + ": SyntaxError: " + e.msg }

// SyntaxError is a syntax error in a use_execjs context file found by
// CheckSyntax: File as given, 1-based Line and Col, and goja's message.
type SyntaxError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// CheckSyntax parses a context file's source (named file in messages)
// with the parser Load compiles it with, without running it: the check
// `spiderrun validate` runs on js_path files. A syntax error is a
// *SyntaxError at its first problem.
func CheckSyntax(file string, src []byte) error {
	_, err := parser.ParseFile(nil, file, string(src), 0)
	if err == nil {
		return nil
	}
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		p := list[0].Position
		return &SyntaxError{File: file, Line: p.Line, Col: p.Column, Msg: list[0].Message}
	}
	return err
}
