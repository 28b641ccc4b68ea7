package execjs

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/dop251/goja_nodejs/console"
	"github.com/dop251/goja_nodejs/require"
	gourl "github.com/dop251/goja_nodejs/url"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
)

//go:embed prelude.js
var preludeSrc string

var (
	preludeOnce sync.Once
	preludeProg *goja.Program
	preludeErr  error
)

// prelude compiles prelude.js once per process; a Program is immutable and
// may run in many runtimes.
func prelude() (*goja.Program, error) {
	preludeOnce.Do(func() {
		preludeProg, preludeErr = goja.Compile("execjs-prelude.js", preludeSrc, true)
	})
	return preludeProg, preludeErr
}

func baseName(p string) string { return filepath.Base(p) }

func dirOf(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return filepath.Dir(abs)
	}
	return filepath.Dir(p)
}

func (ctx *jsContext) newState() (*vmState, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(maxCallStack)
	// The built-ins goja cannot interrupt get the caps spider callbacks
	// have, before anything else (Buffer below builds on Uint8Array).
	if err := jsguard.Install(vm); err != nil {
		return nil, err
	}
	st := &vmState{vm: vm, timers: newTimerQueue(), lookup: map[string]*goja.Program{}}

	// require(): goja_nodejs core modules (buffer, url, util, console,
	// process), our crypto subset, and CommonJS files relative to the
	// context file. Paths
	// are resolved against "." (the script name has no directory) and then
	// anchored at the context's directory here.
	reg := require.NewRegistry(require.WithLoader(func(p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(ctx.dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
				return nil, require.ModuleFileDoesNotExistError
			}
			if st, serr := os.Stat(p); serr == nil && st.IsDir() {
				return nil, require.ModuleFileDoesNotExistError
			}
			return nil, err
		}
		return b, nil
	}))
	reg.RegisterNativeModule("crypto", nodeCryptoModule)
	reg.RegisterNativeModule("node:crypto", nodeCryptoModule)
	reg.Enable(vm)
	buffer.Enable(vm)
	if err := jsguard.GuardBuffer(vm); err != nil {
		return nil, err
	}
	gourl.Enable(vm)

	mod := vm.NewObject()
	exports := vm.NewObject()
	if err := mod.Set("exports", exports); err != nil {
		return nil, err
	}
	console.RequireWithPrinter(consolePrinter{log: ctx.owner.opts.Logger, key: ctx.key})(vm, mod)
	if err := vm.Set("console", exports); err != nil {
		return nil, err
	}
	if err := st.timers.install(vm); err != nil {
		return nil, err
	}
	if err := vm.Set("importScripts", ctx.importScripts(vm)); err != nil {
		return nil, err
	}

	host, err := ctx.hostObject(vm)
	if err != nil {
		return nil, err
	}
	prog, err := prelude()
	if err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	fv, err := vm.RunProgram(prog)
	if err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	install, ok := goja.AssertFunction(fv)
	if !ok {
		return nil, errors.New("prelude: not a function")
	}
	if _, err := install(goja.Undefined(), vm.GlobalObject(), host); err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	st.watch(ctx.owner.opts)
	return st, nil
}

// hostObject carries settings and Go natives into prelude.js.
func (ctx *jsContext) hostObject(vm *goja.Runtime) (*goja.Object, error) {
	opts := ctx.owner.opts
	ua := opts.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	loc, err := locationOf(vm, opts.Location)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	h := vm.NewObject()
	for k, v := range map[string]any{
		"userAgent":       ua,
		"platform":        platformOf(ua),
		"location":        loc,
		"cookie":          opts.Cookie,
		"atob":            atob(vm),
		"btoa":            btoa(vm),
		"utf8Encode":      utf8Encode(vm),
		"utf8Decode":      utf8Decode(vm),
		"getRandomValues": getRandomValues(vm),
		"randomUUID":      func() string { return randomUUID() },
		"monotonicMillis": func() float64 { return float64(time.Since(start).Microseconds()) / 1000 },
	} {
		if err := h.Set(k, v); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func platformOf(ua string) string {
	switch {
	case strings.Contains(ua, "Windows"):
		return "Win32"
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X") && !strings.Contains(ua, "iPhone"):
		return "MacIntel"
	case strings.Contains(ua, "iPhone"):
		return "iPhone"
	case strings.Contains(ua, "Android"):
		return "Linux armv8l"
	}
	return "Linux x86_64"
}

func locationOf(vm *goja.Runtime, raw string) (*goja.Object, error) {
	if raw == "" {
		raw = "about:blank"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("location %q: %w", raw, err)
	}
	o := vm.NewObject()
	origin := "null"
	if u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	search := ""
	if u.RawQuery != "" {
		search = "?" + u.RawQuery
	}
	hash := ""
	if u.Fragment != "" {
		hash = "#" + u.EscapedFragment()
	}
	path := u.EscapedPath()
	if u.Opaque != "" {
		path = u.Opaque
	} else if path == "" && u.Host != "" {
		path = "/"
	}
	href := raw
	if u.Host != "" {
		href = u.Scheme + "://" + u.Host + path + search + hash
	}
	for k, v := range map[string]string{
		"href": href, "protocol": u.Scheme + ":", "host": u.Host, "hostname": u.Hostname(),
		"port": u.Port(), "pathname": path, "search": search, "hash": hash, "origin": origin,
	} {
		if err := o.Set(k, v); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// importScripts(path...) runs files as classic scripts in the global scope
// (the Web Worker API), resolved against the context file's directory. It
// is how a wrapper loads a vendored browser bundle unchanged: the bundle
// sees window/self and no module/exports, as in a page.
func (ctx *jsContext) importScripts(vm *goja.Runtime) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		for _, a := range call.Arguments {
			rel := a.String()
			p := rel
			if !filepath.IsAbs(p) {
				p = filepath.Join(ctx.dir, p)
			}
			prog, err := ctx.owner.script(p, filepath.ToSlash(filepath.Clean(rel)))
			if err != nil {
				panic(vm.NewGoError(fmt.Errorf("importScripts(%q): %w", rel, err)))
			}
			if _, err := vm.RunProgram(prog); err != nil {
				// Rethrow the script's own exception so that its position
				// (vendor file:line:col) reaches the caller.
				var exc *goja.Exception
				if errors.As(err, &exc) {
					panic(exc)
				}
				panic(vm.NewGoError(err))
			}
		}
		return goja.Undefined()
	}
}

// script returns the compiled program for an imported file, cached.
func (c *Contexts) script(abs, name string) (*goja.Program, error) {
	// The name is part of the key: positions must read the way this
	// context referred to the file.
	key := abs + "\x00" + name
	if p, ok := c.scripts.Load(key); ok {
		return p.(*goja.Program), nil
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	prog, err := compileScript(name, src)
	if err != nil {
		return nil, err
	}
	c.scripts.Store(key, prog)
	return prog, nil
}

func atob(vm *goja.Runtime) func(string) string {
	return func(s string) string {
		// WHATWG forgiving-base64: ASCII whitespace is removed and the
		// padding is optional.
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\n', '\f', '\r':
				return -1
			}
			return r
		}, s)
		if len(s)%4 == 0 && strings.HasSuffix(s, "=") {
			s = strings.TrimRight(s, "=")
		}
		b, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			panic(domException(vm, "InvalidCharacterError", "atob: the string to be decoded is not correctly encoded"))
		}
		// One char per byte (Latin-1), as browsers do.
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
}

func btoa(vm *goja.Runtime) func(goja.Value) string {
	return func(v goja.Value) string {
		s := v.String()
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				panic(domException(vm, "InvalidCharacterError", "btoa: the string to be encoded contains characters outside of the Latin1 range"))
			}
			b = append(b, byte(r))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
}

func domException(vm *goja.Runtime, name, msg string) *goja.Object {
	e := vm.NewTypeError(msg)
	_ = e.Set("name", name)
	return e
}

func utf8Encode(vm *goja.Runtime) func(goja.Value) goja.Value {
	return func(v goja.Value) goja.Value {
		// Lone surrogates become U+FFFD, as in TextEncoder.
		b := []byte(strings.ToValidUTF8(v.String(), "\uFFFD"))
		u8, err := jsvalue.NewUint8Array(vm, b)
		if err != nil {
			panic(vm.NewGoError(err))
		}
		return u8
	}
}

func utf8Decode(vm *goja.Runtime) func(goja.Value, bool) string {
	return func(v goja.Value, fatal bool) string {
		b, err := bytesOf(vm, v)
		if err != nil {
			panic(vm.NewTypeError("TextDecoder.decode: " + err.Error()))
		}
		if fatal && !utf8.Valid(b) {
			panic(vm.NewTypeError("TextDecoder.decode: the encoded data was not valid utf-8"))
		}
		b = trimBOM(b)
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}

// bytesOf reads an ArrayBuffer or any ArrayBuffer view without copying.
func bytesOf(vm *goja.Runtime, v goja.Value) ([]byte, error) {
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil, errors.New("argument is not an ArrayBuffer or ArrayBufferView")
	}
	if ab, ok := obj.Export().(goja.ArrayBuffer); ok {
		return ab.Bytes(), nil
	}
	var b []byte
	if err := vm.ExportTo(obj, &b); err != nil {
		return nil, errors.New("argument is not an ArrayBuffer or ArrayBufferView")
	}
	return b, nil
}

func getRandomValues(vm *goja.Runtime) func(goja.Value) goja.Value {
	return func(v goja.Value) goja.Value {
		obj, ok := v.(*goja.Object)
		if !ok || !integerTypedArray[obj.ExportType()] {
			panic(domException(vm, "TypeMismatchError", "crypto.getRandomValues: argument is not an integer typed array"))
		}
		b, err := bytesOf(vm, obj)
		if err != nil {
			panic(vm.NewTypeError("crypto.getRandomValues: " + err.Error()))
		}
		if len(b) > 65536 {
			panic(domException(vm, "QuotaExceededError", "crypto.getRandomValues: more than 65536 bytes requested"))
		}
		if _, err := rand.Read(b); err != nil {
			panic(vm.NewGoError(err))
		}
		return v
	}
}

// integerTypedArray are the export types of the typed arrays that
// getRandomValues accepts (not Float32/64Array, not a Set's []any).
var integerTypedArray = map[reflect.Type]bool{
	reflect.TypeOf([]int8(nil)): true, reflect.TypeOf([]uint8(nil)): true,
	reflect.TypeOf([]int16(nil)): true, reflect.TypeOf([]uint16(nil)): true,
	reflect.TypeOf([]int32(nil)): true, reflect.TypeOf([]uint32(nil)): true,
	reflect.TypeOf([]int64(nil)): true, reflect.TypeOf([]uint64(nil)): true,
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// consolePrinter routes console.* to the logger with the context key.
type consolePrinter struct {
	log *slog.Logger
	key string
}

func (p consolePrinter) out(level slog.Level, s string) {
	if p.log == nil {
		return
	}
	p.log.Log(context.Background(), level, s, "execjs", p.key)
}

func (p consolePrinter) Log(s string)   { p.out(slog.LevelInfo, s) }
func (p consolePrinter) Warn(s string)  { p.out(slog.LevelWarn, s) }
func (p consolePrinter) Error(s string) { p.out(slog.LevelError, s) }
