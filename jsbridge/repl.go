package jsbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// ReplFile is the file name REPL input is compiled under: errors in shell
// input read "shell:LINE:COL: Type: message", LINE counting every line the
// REPL has read, so a piped script's errors name its own lines.
const ReplFile = "shell"

// ErrIncomplete is returned by REPL.Eval when the input ends in the middle
// of a statement (an open brace, a trailing operator, an unterminated
// template): the caller reads another line, appends it and calls Eval
// again with the whole input.
var ErrIncomplete = errors.New("incomplete input")

// EvalError is an error of one REPL input: a syntax error, an exception or
// a limit. It formats as "shell:LINE:COL: Type: message", followed by the
// JS stack when the error was raised deeper than the input line itself (in
// a function of the spider's script, for example).
type EvalError struct {
	// JS is the error with Pos mapped to the shell's lines.
	JS *Error
}

func (e *EvalError) Error() string {
	var b strings.Builder
	if e.JS.Pos != "" {
		b.WriteString(e.JS.Pos + ": ")
	}
	b.WriteString(e.JS.Type + ": " + e.JS.Message)
	if deeperThanShell(e.JS.Stack) {
		b.WriteString("\n" + e.JS.Stack)
	}
	return b.String()
}

// deeperThanShell reports whether a stack has a frame outside the shell's
// input: only then does the stack tell more than the position.
func deeperThanShell(stack string) bool {
	for _, l := range strings.Split(stack, "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, "("+ReplFile+":") {
			return true
		}
	}
	return false
}

// Unwrap returns the *Error (whose Unwrap gives the Go cause, so
// errors.Is(err, ErrTimeout) works).
func (e *EvalError) Unwrap() error { return e.JS }

// REPL evaluates JavaScript typed at `spiderrun shell` on a spider's loop,
// with the spider's globals (Request, spider, ...), its exported functions
// as globals, and the shell helpers fetch() and help(). Evaluation is
// serialized: call Eval from one goroutine at a time.
type REPL struct {
	s    *Spider
	mu   sync.Mutex
	line int // lines consumed so far

	// Loop-only.
	replacer goja.Value
	helpTag  *goja.Symbol
}

// replSetup installs the shell helpers. fetch(x) downloads x (a URL or a
// Request) through spider.download and rebinds response and request; the
// REPL awaits the promise it returns like any top-level promise. help()
// returns the help text, which the REPL prints verbatim.
const replSetup = `(function (helpTag, names) {
  "use strict";
  const g = globalThis;
  // Every status but 3xx reaches the shell (redirects are followed), as
  // in Scrapy's shell; {redirect: false} shows the 3xx itself.
  const notRedirects = [];
  for (let s = 100; s < 1000; s++) if (s < 300 || s >= 400) notRedirects.push(s);
  const statusMeta = function (meta, redirect) {
    if (meta.handle_httpstatus_list !== undefined || meta.handle_httpstatus_all !== undefined) return;
    if (redirect === false) meta.handle_httpstatus_all = true;
    else meta.handle_httpstatus_list = notRedirects;
  };
  g.fetch = function fetch(target, opts) {
    let req = target;
    const o = Object.assign({}, opts || {});
    const redirect = o.redirect;
    delete o.redirect;
    if (typeof target === "string") {
      o.meta = Object.assign({}, o.meta || {});
      statusMeta(o.meta, redirect);
      req = new Request(Object.assign({ url: target, dont_filter: true }, o));
    } else if (!(target instanceof Request)) {
      throw new TypeError("fetch: want a URL string or a Request, got " + typeof target);
    } else if (req.meta && typeof req.meta === "object") {
      statusMeta(req.meta, redirect);
    }
    return spider.download(req).then(function (resp) {
      g.response = resp;
      g.request = resp.request;
      return resp;
    });
  };
  g.help = function help() {
    const lines = [
      "Bound in this shell:",
      "  response    the last downloaded Response (" + (g.response ? "<" + g.response.status + " " + g.response.url + ">" : "none yet") + ")",
      "  request     the Request of response",
      "  spider      the spider (settings, download, log, stats, use_execjs, ...)",
      "  Request, FormRequest, WebSocketRequest, ResultHolder, DropItem, CloseSpider,",
      "  IgnoreRequest, DontCloseSpider, LinkExtractor, console, setTimeout",
      "Helpers:",
      "  fetch(url_or_request)   download through the spider's middlewares; rebinds response",
      "                          (any status is bound; fetch(url, {redirect: false}) shows a 3xx)",
      "  help()                  this text",
      "  await EXPR              waits for a promise (any line whose value is a promise is awaited)",
      "  console.log(...)        prints to stdout (warn, error: stderr)",
      "  .exit or end of input   leaves the shell (Ctrl-D on a terminal; Ctrl-C cancels the line)",
    ];
    if (names.length) lines.push("Exported by the script: " + names.join(", "));
    return { [helpTag]: lines.join("\n") };
  };
})`

// NewREPL prepares the spider's runtime for the shell: exported functions
// become globals (unless a global of that name exists), fetch() and help()
// are defined. Call it after Open (spider.download needs the crawl).
func (s *Spider) NewREPL(ctx context.Context) (*REPL, error) {
	r := &REPL{s: s}
	err := s.onLoop(ctx, func() error {
		vm := s.vm
		r.helpTag = goja.NewSymbol("shell.help")
		var names []string
		for _, name := range s.exportList() {
			if g := vm.GlobalObject().Get(name); g != nil && !goja.IsUndefined(g) {
				continue
			}
			if err := vm.GlobalObject().Set(name, s.exportFns[name]); err != nil {
				return err
			}
			names = append(names, name)
		}
		fn, err := vm.RunString(replSetup)
		if err != nil {
			return err
		}
		if _, err := mustCallable(fn)(goja.Undefined(), r.helpTag, vm.ToValue(names)); err != nil {
			return err
		}
		r.replacer = vm.ToValue(r.replace)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shell setup: %w", err)
	}
	return r, nil
}

// onLoop runs f on the loop and waits for it.
func (s *Spider) onLoop(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	if !s.loop.post(func() { done <- f() }) {
		return s.loopErr()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loop.dead:
		select {
		case err := <-done:
			return err
		default:
		}
		return s.loopErr()
	}
}

// Bind makes resp the shell's `response` (and its request `request`), as
// after fetch().
func (r *REPL) Bind(ctx context.Context, resp *crawl.Response) error {
	s := r.s
	return s.onLoop(ctx, func() error {
		v := s.newResponse(resp)
		g := s.vm.GlobalObject()
		if err := g.Set("response", v); err != nil {
			return err
		}
		return g.Set("request", v.(*goja.Object).Get("request"))
	})
}

// SetConsole makes the shell's console print plainly, as Node's REPL
// does: console.log, info, debug and trace write their arguments (strings
// as they are, objects as JSON, separated by spaces) and a newline to out;
// warn and error to errOut. Without it console goes to the spider's log,
// as in a crawl. Writes happen on the loop: out and errOut must be safe to
// use while the caller writes to them too.
func (r *REPL) SetConsole(ctx context.Context, out, errOut io.Writer) error {
	s := r.s
	return s.onLoop(ctx, func() error {
		c := s.vm.NewObject()
		printer := func(w io.Writer) func(goja.FunctionCall) goja.Value {
			return func(call goja.FunctionCall) goja.Value {
				io.WriteString(w, s.formatArgs(call.Arguments)+"\n")
				return goja.Undefined()
			}
		}
		for _, k := range []string{"log", "info", "debug", "trace"} {
			if err := c.Set(k, printer(out)); err != nil {
				return err
			}
		}
		for _, k := range []string{"warn", "error"} {
			if err := c.Set(k, printer(errOut)); err != nil {
				return err
			}
		}
		return s.vm.Set("console", c)
	})
}

// Line is the number of input lines consumed so far.
func (r *REPL) Line() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.line
}

var (
	awaitWord = regexp.MustCompile(`\bawait\b`)
	// declAwait matches `let|const|var NAME = EXPR` so that a top-level
	// await in a declaration keeps its binding (as a global).
	declAwait   = regexp.MustCompile(`^\s*(?:let|const|var)\s+([A-Za-z_$][\w$]*)\s*=([\s\S]*?);?\s*$`)
	syntaxPos   = regexp.MustCompile(`^` + regexp.QuoteMeta(ReplFile) + `: Line (\d+):(\d+) (.*)$`)
	replPosText = regexp.MustCompile(`\b` + regexp.QuoteMeta(ReplFile) + `:(\d+):(\d+)`)
)

// compiled is one REPL input ready to run: the program and how many lines
// of wrapper precede the user's first line.
type compiled struct {
	prog   *goja.Program
	offset int
	lines  int // lines of user input
}

// Eval evaluates src, the whole of one input (possibly several lines), on
// the loop and returns its value formatted for printing: strings
// JSON-quoted, a Response as "<200 URL>", a Request as "<GET URL>", a
// SelectorList as its getall() (JSON), other objects and arrays as JSON. A
// value that is a promise is awaited first — this is what makes top-level
// `await` and fetch() work: the loop keeps running (downloads, timers)
// while Eval waits. Errors are *EvalError; ErrIncomplete asks for more
// input. JS_TIMEOUT bounds each turn of the input's JavaScript. When ctx
// ends first (the shell's Ctrl-C), the input's running JavaScript is
// interrupted, a promise it awaits is abandoned, and the error is an
// *EvalError of Type "Interrupted" wrapping ctx.Err(); the REPL stays
// usable.
func (r *REPL) Eval(ctx context.Context, src string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.line + 1
	lines := strings.Count(src, "\n") + 1
	if strings.TrimSpace(src) == "" {
		r.line += lines
		return "", nil
	}
	c, err := r.compile(src, first)
	if errors.Is(err, ErrIncomplete) {
		return "", err
	}
	if c != nil {
		c.lines = lines
	}
	r.line += lines
	if err != nil {
		return "", err
	}
	return r.run(ctx, c, first)
}

// compile turns src into a program. Input with `await` runs inside an
// async arrow function (goja has no top-level await): as a declaration
// whose name becomes a global, as an expression whose value is printed, or
// as statements (value undefined), whichever compiles first.
func (r *REPL) compile(src string, first int) (*compiled, error) {
	if !awaitWord.MatchString(src) {
		// Like Node's REPL, `{a: 1}` is an object literal, not a block.
		if t := strings.TrimSpace(src); strings.HasPrefix(t, "{") && !strings.HasSuffix(t, ";") {
			if prog, err := goja.Compile(ReplFile, "("+src+"\n)", false); err == nil {
				return &compiled{prog: prog}, nil
			}
		}
		prog, err := goja.Compile(ReplFile, src, false)
		if err != nil {
			return nil, r.syntaxError(err, first, 0)
		}
		return &compiled{prog: prog}, nil
	}
	// "void " has the length and the grammar of "await " in every
	// expression position, so this finds unfinished input without the
	// wrappers' closing brackets confusing the parser.
	if _, err := goja.Compile(ReplFile, awaitWord.ReplaceAllString(src, "void "), false); err != nil {
		if serr := r.syntaxError(err, first, 0); errors.Is(serr, ErrIncomplete) {
			return nil, serr
		}
	}
	var tries []string
	if m := declAwait.FindStringSubmatch(src); m != nil {
		tries = append(tries, "(async () => { globalThis["+strconv.Quote(m[1])+"] = (\n"+m[2]+"\n); })()")
	}
	tries = append(tries,
		"(async () => (\n"+src+"\n))()",
		"(async () => {\n"+src+"\n})()")
	var lastErr error
	for _, code := range tries {
		prog, err := goja.Compile(ReplFile, code, false)
		if err == nil {
			return &compiled{prog: prog, offset: 1}, nil
		}
		lastErr = err
	}
	// `await(x)` is also a call of a function named await in a script.
	if prog, err := goja.Compile(ReplFile, src, false); err == nil {
		return &compiled{prog: prog}, nil
	}
	serr := r.syntaxError(lastErr, first, 1)
	if errors.Is(serr, ErrIncomplete) {
		// Unfinished only because of the wrapper: report it as it is.
		return nil, &EvalError{JS: &Error{Type: "SyntaxError", Pos: fmt.Sprintf("%s:%d:1", ReplFile, first), Message: "invalid input"}}
	}
	return nil, serr
}

// syntaxError converts goja's "shell: Line L:C message" into an EvalError
// at the user's line, or ErrIncomplete.
func (r *REPL) syntaxError(err error, first, offset int) error {
	var se *goja.CompilerSyntaxError
	if !errors.As(err, &se) {
		return &EvalError{JS: &Error{Type: "SyntaxError", Message: err.Error(), Err: err}}
	}
	msg := se.Message
	if strings.Contains(msg, "Unexpected end of input") {
		return ErrIncomplete
	}
	e := &Error{Type: "SyntaxError", Message: msg, Err: err}
	if m := syntaxPos.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		e.Pos = fmt.Sprintf("%s:%d:%d", ReplFile, max(l-offset, 1)+first-1, c)
		e.Message = strings.TrimSuffix(m[3], ")")
		if i := strings.Index(m[3], " (and "); i >= 0 {
			e.Message = m[3][:i]
		}
	}
	return &EvalError{JS: e}
}

// outcome is the result of one evaluation, produced on the loop.
type outcome struct {
	out string
	err error
}

func (r *REPL) run(ctx context.Context, c *compiled, first int) (string, error) {
	s := r.s
	res := make(chan outcome, 1)
	var settled sync.Once
	send := func(o outcome) { settled.Do(func() { res <- o }) }
	fail := func(err error) { send(outcome{err: r.evalError(err, c, first)}) }
	if !s.loop.post(func() {
		s.cur = nil
		v, err := s.vm.RunProgram(c.prog)
		if err != nil {
			fail(err)
			return
		}
		p, ok := v.Export().(*goja.Promise)
		if !ok {
			send(outcome{out: r.format(v)})
			return
		}
		switch p.State() {
		case goja.PromiseStateFulfilled:
			send(outcome{out: r.format(p.Result())})
			return
		case goja.PromiseStateRejected:
			send(outcome{err: r.rejection(p.Result(), c, first)})
			return
		}
		then, _ := goja.AssertFunction(v.(*goja.Object).Get("then"))
		onOK := s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			send(outcome{out: r.format(call.Argument(0))})
			return goja.Undefined()
		})
		onErr := s.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			send(outcome{err: r.rejection(call.Argument(0), c, first)})
			return goja.Undefined()
		})
		if _, err := then(v, onOK, onErr); err != nil {
			fail(err)
		}
	}) {
		return "", s.loopErr()
	}
	// A promise that nothing can settle any more (no download, timer or job
	// pending) would block the shell forever: check for it while waiting.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o := <-res:
			return o.out, o.err
		case <-ctx.Done():
			// Ctrl-C: stop the input's JavaScript if it is running (the
			// watchdog's interrupt, cleared when the turn ends), give up
			// on a promise it awaits.
			if s.loop.wd.Interrupt(jsguard.TimeoutError(0)) {
				select {
				case <-res:
				case <-s.loop.dead:
				case <-time.After(2 * time.Second):
				}
			}
			settled.Do(func() {})
			return "", &EvalError{JS: &Error{Type: "Interrupted", Pos: fmt.Sprintf("%s:%d:1", ReplFile, first),
				Message: "input interrupted", Err: ctx.Err()}}
		case <-s.loop.dead:
			select {
			case o := <-res:
				return o.out, o.err
			default:
			}
			return "", s.loopErr()
		case <-tick.C:
			if !s.loop.quiescent() {
				continue
			}
			select {
			case o := <-res:
				return o.out, o.err
			default:
			}
			settled.Do(func() {})
			return "", &EvalError{JS: &Error{Type: "Error", Pos: fmt.Sprintf("%s:%d:1", ReplFile, first),
				Message: "the promise can never settle: nothing it could wait for is pending (no download, no timer)"}}
		}
	}
}

// rejection converts a rejected promise's reason.
func (r *REPL) rejection(v goja.Value, c *compiled, first int) error {
	e := r.s.jsError(v, "", "")
	// spider.download rejects with an error named by the failure type
	// (HttpError, TimeoutError, ...; see goErrorName), whose message
	// repeats it: say it once.
	if o, ok := v.(*goja.Object); ok {
		if t := o.Get("type"); present(t) && t.String() != "" && t.String() == e.Type {
			e.Message = strings.Replace(e.Message, e.Type+": ", "", 1)
		}
	}
	return r.fixPositions(e, c, first)
}

// evalError converts an error from RunProgram (exception, interrupt).
func (r *REPL) evalError(err error, c *compiled, first int) error {
	e := r.s.goError(err, "shell input", "")
	e.Where = ""
	if errors.Is(e.Err, ErrTimeout) {
		e.Message = "exceeded JS_TIMEOUT " + r.s.opts.JSTimeout.String() + " (infinite loop?)"
	} else if errors.Is(e.Err, ErrMemoryLimit) {
		e.Message = "exceeded JS_MEMORY_LIMIT " + jsguard.FormatBytes(r.s.opts.JSMemoryLimit)
	}
	return r.fixPositions(e, c, first)
}

// fixPositions maps "shell:L:C" in the error from the compiled input's
// lines to the REPL's running line numbers.
func (r *REPL) fixPositions(e *Error, c *compiled, first int) error {
	fix := func(t string) string {
		return replPosText.ReplaceAllStringFunc(t, func(m string) string {
			sm := replPosText.FindStringSubmatch(m)
			l, _ := strconv.Atoi(sm[1])
			// The wrapper's own lines clamp to the input's first and last.
			return fmt.Sprintf("%s:%d:%s", ReplFile, min(max(l-c.offset, 1), max(c.lines, 1))+first-1, sm[2])
		})
	}
	e.Pos, e.Stack, e.Message = fix(e.Pos), fix(e.Stack), fix(e.Message)
	if e.Pos == "" {
		e.Pos = fmt.Sprintf("%s:%d:1", ReplFile, first)
	}
	return &EvalError{JS: e}
}

// format renders a value for the shell. Call on the loop.
func (r *REPL) format(v goja.Value) string {
	s := r.s
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if goja.IsNull(v) {
		return "null"
	}
	o, ok := v.(*goja.Object)
	if !ok {
		if str, ok := v.Export().(string); ok {
			return quote(str)
		}
		return v.String()
	}
	if t, ok := r.special(o); ok {
		str, isStr := t.Export().(string)
		if !isStr {
			return r.stringify(t, o) // a SelectorList's getall()
		}
		if _, isSel := s.selectorOf(o); isSel {
			return quote(str)
		}
		return str
	}
	if _, isFn := goja.AssertFunction(o); isFn {
		return funcLabel(o, "")
	}
	if o.ClassName() == "Error" {
		return o.String()
	}
	return r.stringify(o, o)
}

func (r *REPL) isHelp(o *goja.Object) bool {
	h := o.GetSymbol(r.helpTag)
	return h != nil && !goja.IsUndefined(h)
}

// stringify is JSON.stringify with the shell's replacer; values it cannot
// render (cycles, BigInt) fall back to their string conversion.
func (r *REPL) stringify(v goja.Value, orig *goja.Object) string {
	out, err := r.s.stringify(goja.Undefined(), v, r.replacer)
	if err != nil || out == nil || goja.IsUndefined(out) {
		return orig.String()
	}
	return out.String()
}

// special renders the bridge's objects: a Response as "<200 URL>", a
// Request as "<GET URL>", a Selector as its get(), a SelectorList as its
// getall() and help()'s result as its text.
func (r *REPL) special(o *goja.Object) (goja.Value, bool) {
	s := r.s
	vm := s.vm
	if r.isHelp(o) {
		return o.GetSymbol(r.helpTag), true
	}
	if j, ok := s.responseOf(o); ok {
		return vm.ToValue(fmt.Sprintf("<%d %s>", j.r.Status, j.r.URL)), true
	}
	if sel, ok := s.selectorOf(o); ok {
		return vm.ToValue(sel.Get()), true
	}
	if _, ok := o.Export().(*jsSelectorList); ok {
		l, _ := s.listOf(o)
		out := make([]any, len(l))
		for i, sel := range l {
			out[i] = sel.Get()
		}
		return vm.NewArray(out...), true
	}
	if s.isRequest(o) {
		method := "GET"
		if m := o.Get("method"); present(m) {
			method = m.String()
		}
		return vm.ToValue(fmt.Sprintf("<%s %s>", method, o.Get("url"))), true
	}
	return nil, false
}

// replace is the JSON.stringify replacer: bridge objects nested in plain
// data print as they do at top level, functions as [Function: name].
func (r *REPL) replace(call goja.FunctionCall) goja.Value {
	v := call.Argument(1)
	o, ok := v.(*goja.Object)
	if !ok {
		return v
	}
	if t, ok := r.special(o); ok {
		return t
	}
	if _, isFn := goja.AssertFunction(o); isFn {
		return r.s.vm.ToValue(funcLabel(o, call.Argument(0).String()))
	}
	return v
}

// funcLabel is how a function prints: [Function: name]. Native functions
// carry their Go name (github.com/...func4), which means nothing to a
// script author: they print under the key that holds them.
func funcLabel(o *goja.Object, key string) string {
	name := o.Get("name").String()
	if strings.ContainsAny(name, "./") {
		name = key
	}
	if name == "" {
		return "[Function (anonymous)]"
	}
	return "[Function: " + name + "]"
}

func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
