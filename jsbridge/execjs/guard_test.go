package execjs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/jsbridge/execjs"
)

// TestBuiltinBombs: the built-ins goja cannot interrupt are capped in a
// context as in spider callbacks (package jsguard): each bomb is an error
// within 2× JS_TIMEOUT — a catastrophic regex included, which goja alone
// reports as a silent `false` — and the context keeps working.
func TestBuiltinBombs(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"bomb.js": `
function ok() { return 'alive'; }
function repeat() { return 'x'.repeat(Math.pow(2, 30)).length; }
function fill() { return new Array(1e8).fill(0).length; }
function typed() { return new Uint8Array(Math.pow(2, 31)).length; }
function buffer() { return Buffer.alloc(Math.pow(2, 31)).length; }
function bufferCtor() { return new Buffer({ length: 1e9 }).length; }
function bufferCall() { return Buffer(Math.pow(2, 31)).length; }
function bufferSmall() { return new Buffer([1, 2, 3]).length + Buffer('abc').length; }
function parse() { return JSON.parse('['.repeat(1e6) + ']'.repeat(1e6)).length; }
function regex() { return /^(a+)+\1$/.test('a'.repeat(40) + '!'); }
`})
	const jsTimeout = 2 * time.Second
	c := mustLoad(t, []string{dir}, execjs.Options{Timeout: jsTimeout, MemoryLimit: 256 << 20})
	for _, tc := range []struct{ fn, want string }{
		{"repeat", "RangeError: String.prototype.repeat: string length limit 16 Mi exceeded (1024 Mi requested)"},
		{"fill", "RangeError: Array.prototype.fill: array length limit 4 Mi exceeded"},
		{"typed", "RangeError: Uint8Array: buffer size limit 64MiB exceeded"},
		{"buffer", "RangeError: Buffer.alloc: buffer size limit 64MiB exceeded"},
		{"bufferCtor", "RangeError: Buffer: buffer size limit 64MiB exceeded"},
		{"bufferCall", "RangeError: Buffer: buffer size limit 64MiB exceeded"},
		{"parse", "RangeError: JSON.parse: nesting deeper than 1000"},
		{"regex", "Error: regex match timed out after 1000ms: /^(a+)+\\1$/"},
	} {
		start := time.Now()
		_, err := c.Call("bomb", tc.fn, nil)
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `execjs bomb: call "`+tc.fn+`": bomb.js:`) {
			t.Errorf("%s: got %v, want %q at its line", tc.fn, err, tc.want)
		}
		if took > 2*jsTimeout {
			t.Errorf("%s: took %s", tc.fn, took)
		}
		if got := mustCall(t, c, "bomb", "ok"); got != "alive" {
			t.Errorf("after %s: %v", tc.fn, got)
		}
	}
	// Ordinary Buffers still construct, with new and without.
	if got := mustCall(t, c, "bomb", "bufferSmall"); fmt.Sprint(got) != "6" {
		t.Errorf("small Buffers: %v", got)
	}
}

// TestRegexTimeoutIsAnError: a timed-out match throws in the context, so
// the script can catch it — never a silent no-match.
func TestRegexTimeoutIsAnError(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"re.js": `
function probe() {
  try { return 'matched: ' + /^(a+)+\1$/.test('a'.repeat(40) + '!'); }
  catch (e) { return 'caught: ' + e.message.slice(0, 27); }
}`})
	c := mustLoad(t, []string{dir}, execjs.Options{Timeout: 10 * time.Second})
	if got := mustCall(t, c, "re", "probe"); got != "caught: regex match timed out after" {
		t.Errorf("probe = %v", got)
	}
	_, err := c.Call("re", "nope", nil)
	if !errors.Is(err, execjs.ErrNotFunction) {
		t.Errorf("nope: %v", err)
	}
}
