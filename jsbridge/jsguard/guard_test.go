package jsguard

import (
	"errors"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dop251/goja"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// regexp2's clock goroutine outlives a match by a second or so.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

func newVM(t *testing.T) *goja.Runtime {
	t.Helper()
	vm := goja.New()
	vm.SetMaxCallStackSize(10000)
	if err := Install(vm); err != nil {
		t.Fatal(err)
	}
	return vm
}

// TestSemantics: on ordinary input the guarded built-ins give what the
// originals give (testdata/semantics.js lists the checks).
func TestSemantics(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/semantics.js")
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t)
	v, err := vm.RunScript("semantics.js", string(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range v.Export().([]any) {
		t.Error(msg)
	}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// liveHeap is the live heap after a GC.
func liveHeap() uint64 {
	runtime.GC()
	return readMetric(heapMetric)
}

// peakHeap samples the heap while f runs and returns how far it rose above
// where it started.
func peakHeap(f func()) uint64 {
	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	if h := heapObjects(); h > peak.Load() {
		peak.Store(h)
	}
	return max(peak.Load(), base) - base
}

// TestBombs: every built-in that would grow the heap by gigabytes, or run
// for seconds, in one uninterruptible call throws at once instead, or is
// interrupted at JS_TIMEOUT (2s here). The subtests run one after another
// so that the allocation each one measures is its own.
func TestBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	// A cap must land long before JS_TIMEOUT; the generous timeout keeps a
	// loaded CI machine running -race from turning a RangeError case into a
	// timeout. "split regex" is about the timeout itself and uses 2 s.
	const jsTimeout, splitTimeout = 10 * time.Second, 2 * time.Second
	tests := []struct {
		name, src, want string
	}{
		{"repeat", `'x'.repeat(2 ** 30)`, "RangeError: String.prototype.repeat: string length limit 16 Mi exceeded (1024 Mi requested)"},
		{"padStart", `' '.padStart(2 ** 30)`, "RangeError: String.prototype.padStart: string length limit 16 Mi exceeded"},
		{"padEnd", `' '.padEnd(2 ** 30, 'ab')`, "RangeError: String.prototype.padEnd: string length limit 16 Mi exceeded"},
		{"concat", `''.concat.apply('', new Array(1000).fill('x'.repeat(1 << 20)))`, "RangeError: String.prototype.concat: string length limit 16 Mi exceeded"},
		{"fill", `new Array(1e8).fill(0)`, "RangeError: Array.prototype.fill: array length limit 4 Mi exceeded (length 100000000)"},
		{"fill after length", `const a = []; a.length = 2 ** 32 - 1; a.fill(1)`, "RangeError: Array.prototype.fill: array length limit 4 Mi exceeded"},
		{"join length", `new Array(1e8).join('x')`, "RangeError: Array.prototype.join: array length limit 4 Mi exceeded"},
		{"join amplified", `new Array(1000).fill('x'.repeat(1 << 20)).join('')`, "RangeError: Array.prototype.join: string length limit 16 Mi exceeded"},
		{"toString nested", `let a = []; for (let i = 0; i < 20000; i++) a = [a]; String(a)`, "RangeError: Array.prototype.join: arrays nested deeper than 1000"},
		{"toLocaleString nested", `let a = []; for (let i = 0; i < 20000; i++) a = [a]; a.toLocaleString()`, "RangeError: Array.prototype.toLocaleString: arrays nested deeper than 1000"},
		{"sort array-like", `Array.prototype.sort.call({ length: 2 ** 32 - 1 })`, "RangeError: Array.prototype.sort: array length limit 4 Mi exceeded"},
		{"indexOf sparse", `const a = []; a.length = 2 ** 32 - 1; a.indexOf(1)`, "RangeError: Array.prototype.indexOf: array length limit"},
		{"concat sparse", `[].concat(new Array(1e9))`, "RangeError: Array.prototype.concat: array length limit"},
		{"Array.from", `Array.from({ length: 1e9 })`, "RangeError: Array.from: array length limit 4 Mi exceeded"},
		{"apply", `Math.max.apply(null, { length: 1e9 })`, "RangeError: Function.prototype.apply: array length limit"},
		{"Reflect.apply", `Reflect.apply(Math.max, null, { length: 1e9 })`, "RangeError: Reflect.apply: array length limit"},
		{"split", `'ab'.repeat(5e6).split('')`, "RangeError: String.prototype.split: array length limit 4 Mi exceeded"},
		// 4 Mi pieces take longer than JS_TIMEOUT; the split loop lets the
		// interrupt land.
		{"split regex", `'ab'.repeat(5e6).split(/(?:)/)`, "exceeded JS_TIMEOUT 2s"},
		{"replaceAll", `'x'.repeat(1e6).replaceAll('x', 'y'.repeat(1e4))`, "RangeError: String.prototype.replaceAll: string length limit 16 Mi exceeded by the replacements"},
		{"replace $'", `'x'.repeat(2e4).replace(/x/g, "$'")`, "RangeError: String.prototype.replace: string length limit 16 Mi exceeded by the replacements"},
		{"replace fn", `const big = 'y'.repeat(1 << 20); 'x'.repeat(100).replace(/x/g, () => big)`, "RangeError: String.prototype.replace: string length limit 16 Mi exceeded by the replacements"},
		// RegExp.prototype[Symbol.replace] called directly, not through
		// String.prototype.replace: 1 Ki matches of 16 characters, each copied
		// 4 Ki times (64 Mi; with one-character matches the RangeError took
		// over JS_TIMEOUT under -race on a loaded machine).
		{"Symbol.replace", `RegExp.prototype[Symbol.replace].call(/a{16}/g, 'a'.repeat(1 << 14), '$&'.repeat(4096))`, "RangeError: RegExp.prototype[Symbol.replace]: string length limit 16 Mi exceeded by the replacements"},
		{"Symbol.replace $'", `/x/g[Symbol.replace]('x'.repeat(2e4), "$'")`, "RangeError: RegExp.prototype[Symbol.replace]: string length limit 16 Mi exceeded by the replacements"},
		{"Symbol.replace fn", `const big = 'y'.repeat(1 << 20); /x/g[Symbol.replace]('x'.repeat(100), () => big)`, "RangeError: RegExp.prototype[Symbol.replace]: string length limit 16 Mi exceeded by the replacements"},
		{"Symbol.replace look-alike", `RegExp.prototype[Symbol.replace].call({ flags: 'g', global: true, lastIndex: 0, exec: RegExp.prototype.exec.bind(/a{16}/g) }, 'a'.repeat(1 << 14), '$&'.repeat(4096))`, "RangeError: RegExp.prototype[Symbol.replace]: string length limit 16 Mi exceeded by the replacements"},
		{"Uint8Array", `new Uint8Array(2 ** 31)`, "RangeError: Uint8Array: buffer size limit 64MiB exceeded (2048 Mi bytes requested)"},
		{"Float64Array array-like", `new Float64Array({ length: 1e8 })`, "RangeError: Float64Array: buffer size limit 64MiB exceeded"},
		{"TypedArray.from", `Uint8Array.from({ length: 1e9 })`, "RangeError: Uint8Array: buffer size limit 64MiB exceeded"},
		{"ArrayBuffer", `new ArrayBuffer(2 ** 31)`, "RangeError: ArrayBuffer: buffer size limit 64MiB exceeded"},
		{"typed join", `new Uint8Array(64 << 20).join()`, "RangeError: %TypedArray%.prototype.join: string length limit 16 Mi exceeded"},
		{"JSON.parse deep", `JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))`, "RangeError: JSON.parse: nesting deeper than 1000"},
		{"JSON.stringify deep", `let a = []; for (let i = 0; i < 50000; i++) a = [a]; JSON.stringify(a)`, "RangeError: JSON.stringify: nesting deeper than 1000"},
		{"JSON.stringify amplified", `JSON.stringify(new Array(1000).fill('x'.repeat(1 << 20)))`, "RangeError: JSON.stringify: string length limit 16 Mi exceeded"},
		{"JSON.stringify sparse", `JSON.stringify(new Array(1e9))`, "RangeError: JSON.stringify: array length limit 4 Mi exceeded"},
		{"regex test", `/^(a+)+\1$/.test('a'.repeat(40) + '!')`, "Error: regex match timed out after 1000ms: /^(a+)+\\1$/ (catastrophic backtracking?)"},
		{"regex match", `('a'.repeat(40) + '!').match(/^(a+)+\1$/)`, "Error: regex match timed out after 1000ms"},
		{"regex replace", `('a'.repeat(40) + '!').replace(/^(a+)+\1$/, '')`, "Error: regex match timed out after 1000ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vm := newVM(t)
			timeout := jsTimeout
			if strings.Contains(tc.want, "JS_TIMEOUT") {
				timeout = splitTimeout
			}
			w := NewWatchdog(vm, Limits{Timeout: timeout}, nil)
			defer w.Close()
			var err error
			var took time.Duration
			grown := peakHeap(func() {
				start := time.Now()
				w.Begin()
				_, err = vm.RunString(tc.src)
				w.End()
				took = time.Since(start)
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			// The budget: 2× JS_TIMEOUT, and far less than what the
			// unguarded call allocates (gigabytes).
			if took > 2*timeout {
				t.Errorf("took %s", took)
			}
			if grown > 256<<20 {
				t.Errorf("heap rose by %d MiB", grown>>20)
			}
			t.Logf("%s, heap +%d MiB", took.Round(time.Millisecond), grown>>20)
		})
	}
}

// TestSplitCapturesCapped: a separator with many captures adds that many
// pieces per match, so RegExp.prototype[Symbol.split] called directly (no
// limit, or one past the cap) reaches MaxArrayLength pieces after a few
// thousand matches: it throws there instead of building a 100 Mi-element
// array. Each piece costs a property read, so this takes seconds, not
// milliseconds: JS_TIMEOUT is set far away, and the heap is what is
// checked. With a limit under the cap the spec's truncation is kept.
func TestSplitCapturesCapped(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	const sep = `new RegExp('()'.repeat(1000))`
	for _, c := range []struct{ name, src, want string }{
		{"direct", `RegExp.prototype[Symbol.split].call(` + sep + `, 'x'.repeat(1e5))`, "RangeError: RegExp.prototype[Symbol.split]: array length limit 4 Mi exceeded"},
		{"limit under the cap", `RegExp.prototype[Symbol.split].call(` + sep + `, 'x'.repeat(1e5), 5000).length`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			vm := newVM(t)
			w := NewWatchdog(vm, Limits{Timeout: 2 * time.Minute}, nil)
			defer w.Close()
			var v goja.Value
			var err error
			grown := peakHeap(func() {
				w.Begin()
				v, err = vm.RunString(c.src)
				w.End()
			})
			if c.want == "" {
				if err != nil || v.ToInteger() != 5000 {
					t.Fatalf("got %v, %v; want 5000 pieces", v, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			// At the cap: 4 Mi references (64 MiB) and the copy of their
			// last growth, and the match arrays left for the GC. Without
			// the cap: 100 Mi references, 1.6 GiB.
			if grown > 384<<20 {
				t.Errorf("heap rose by %d MiB", grown>>20)
			}
			t.Logf("heap +%d MiB", grown>>20)
		})
	}
}

// TestBuffer: Node's Buffer statics are capped too.
func TestBuffer(t *testing.T) {
	t.Parallel()
	vm := goja.New()
	// A stand-in for goja_nodejs' Buffer: the statics are what is wrapped.
	if _, err := vm.RunString(`globalThis.Buffer = { alloc: function alloc(n) { return n; }, from: function from(a) { return a.length; } };`); err != nil {
		t.Fatal(err)
	}
	if err := GuardBuffer(vm); err != nil {
		t.Fatal(err)
	}
	if v, err := vm.RunString(`Buffer.alloc(16) + Buffer.from([1, 2])`); err != nil || v.ToInteger() != 18 {
		t.Fatalf("got %v, %v", v, err)
	}
	for src, want := range map[string]string{
		`Buffer.alloc(2 ** 31)`:            "RangeError: Buffer.alloc: buffer size limit 64MiB exceeded",
		`Buffer.from({ length: 2 ** 31 })`: "RangeError: Buffer.from: buffer size limit 64MiB exceeded",
	} {
		if _, err := vm.RunString(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
	}
}

// TestWatchdogTimeout: a spinning turn is interrupted with a LimitError
// that names JS_TIMEOUT, and the runtime runs the next turn normally.
func TestWatchdogTimeout(t *testing.T) {
	t.Parallel()
	vm := newVM(t)
	w := NewWatchdog(vm, Limits{Timeout: 100 * time.Millisecond}, nil)
	defer w.Close()
	w.Begin()
	_, err := vm.RunString(`for (;;) {}`)
	w.End()
	lim, intr := Interrupted(err)
	if lim == nil || intr == nil || !errors.Is(lim, ErrTimeout) || lim.Error() != "exceeded JS_TIMEOUT 100ms" {
		t.Fatalf("got %v (%v), want a JS_TIMEOUT interrupt", err, lim)
	}
	w.Begin()
	v, err := vm.RunString(`1 + 1`)
	w.End()
	if err != nil || v.ToInteger() != 2 {
		t.Fatalf("next turn: %v, %v", v, err)
	}
}

// TestWatchdogInGoLoop: an interrupt lands inside a long Go loop of a
// guarded built-in (a join of 4 Mi elements), not only between calls.
func TestWatchdogInGoLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	t.Parallel()
	vm := newVM(t)
	if _, err := vm.RunString(`var a = new Array(4 << 20).fill('abc');`); err != nil {
		t.Fatal(err)
	}
	w := NewWatchdog(vm, Limits{Timeout: 20 * time.Millisecond}, nil)
	defer w.Close()
	start := time.Now()
	w.Begin()
	_, err := vm.RunString(`a.join(''); a.join(''); a.join('').length`)
	w.End()
	if lim, _ := Interrupted(err); lim == nil || lim.Kind != Timeout {
		t.Fatalf("got %v, want a JS_TIMEOUT interrupt", err)
	}
	t.Logf("interrupted after %s", time.Since(start))
}

// TestWatchdogMemory: a turn that retains memory is interrupted with a
// LimitError that names JS_MEMORY_LIMIT; short-lived garbage does not
// count.
func TestWatchdogMemory(t *testing.T) {
	vm := newVM(t)
	before := liveHeap()
	w := NewWatchdog(vm, Limits{Timeout: time.Minute, Memory: 64 << 20}, nil)
	defer w.Close()
	w.Begin()
	v, err := vm.RunString(`let sum = 0; for (let i = 0; i < 200; i++) { sum += ('x'.repeat(1 << 20) + i).length; } sum`)
	w.End()
	if err != nil || v.ToInteger() == 0 {
		t.Fatalf("churn: %v, %v", v, err)
	}
	grown := peakHeap(func() {
		w.Begin()
		_, err = vm.RunString(`(function () { const keep = []; for (;;) keep.push({ s: 'x' + Math.random(), n: [1, 2, 3] }); })()`)
		w.End()
	})
	if lim, _ := Interrupted(err); lim == nil || !errors.Is(lim, ErrMemoryLimit) || lim.Error() != "exceeded JS_MEMORY_LIMIT 64MiB" {
		t.Fatalf("got %v, want a JS_MEMORY_LIMIT interrupt", err)
	}
	// Interrupted near the limit, not GC cycles later (the live heap
	// figure is refreshed once the heap grew by the limit).
	t.Logf("heap rose by %d MiB", grown>>20)
	if grown > 3*64<<20 {
		t.Errorf("heap rose by %d MiB before the interrupt, want ≤ 3× JS_MEMORY_LIMIT", grown>>20)
	}
	// What the interrupted turn retained is garbage once it ended (goja
	// keeps an interrupted call's values on its stack until End resets it).
	if live := liveHeap(); live > before+16<<20 {
		t.Errorf("live heap %d MiB after the interrupted turn, %d MiB before it", live>>20, before>>20)
	}
}

// TestWatchdogStuck: a turn that ignores the interrupt (a Go native that
// blocks stands for a built-in no cap covers) is reported stuck once, a
// grace period after the interrupt.
func TestWatchdogStuck(t *testing.T) {
	t.Parallel()
	vm := newVM(t)
	release := make(chan struct{})
	if err := vm.Set("block", func() { <-release }); err != nil {
		t.Fatal(err)
	}
	var stuck atomic.Int32
	reported := make(chan error, 1)
	w := NewWatchdog(vm, Limits{Timeout: 50 * time.Millisecond, Grace: 100 * time.Millisecond}, func(err *StuckError) {
		stuck.Add(1)
		reported <- err
	})
	defer w.Close()
	done := make(chan error, 1)
	go func() {
		w.Begin()
		_, err := vm.RunString(`block()`)
		w.End()
		done <- err
	}()
	err := <-reported
	if !errors.Is(err, ErrStuck) || !strings.Contains(err.Error(), "exceeded JS_TIMEOUT 50ms and did not stop within 100ms of the interrupt (stuck in a built-in)") {
		t.Errorf("got %v", err)
	}
	close(release)
	<-done
	if n := stuck.Load(); n != 1 {
		t.Errorf("onStuck called %d times", n)
	}
}

// TestWatchdogIdle: a watchdog with no turn running parks, and Close ends
// its goroutine (goleak checks it in TestMain).
func TestWatchdogIdle(t *testing.T) {
	t.Parallel()
	vm := newVM(t)
	w := NewWatchdog(vm, Limits{Timeout: time.Second, Memory: 1 << 30}, nil)
	for i := 0; i < 100; i++ {
		w.Begin()
		w.End()
	}
	w.Close()
	w.Close()
}

// TestWatchdogPause: time spent paused (in a use_execjs call) is not
// charged to the turn; the time before and after is.
func TestWatchdogPause(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	t.Parallel()
	vm := newVM(t)
	w := NewWatchdog(vm, Limits{Timeout: 300 * time.Millisecond, Grace: 100 * time.Millisecond}, func(*StuckError) {
		t.Error("reported stuck while paused")
	})
	defer w.Close()
	if err := vm.Set("outside", func() {
		resume := w.Pause()
		time.Sleep(600 * time.Millisecond) // paused past Timeout+Grace: the behaviour under test
		resume()
	}); err != nil {
		t.Fatal(err)
	}
	w.Begin()
	_, err := vm.RunString(`outside(); outside(); 1`)
	w.End()
	if err != nil {
		t.Fatalf("paused time was charged: %v", err)
	}
	w.Begin()
	_, err = vm.RunString(`outside(); for (;;) {}`)
	w.End()
	if lim, _ := Interrupted(err); lim == nil || lim.Kind != Timeout {
		t.Fatalf("got %v, want a JS_TIMEOUT interrupt after the pause", err)
	}
}

// TestSameAsGoja: the guarded built-ins give exactly what goja's own give,
// on edge cases of the paths the guards reimplement (split, join,
// replacement patterns, stringify) — compared with a runtime without the
// guards, the reference.
func TestSameAsGoja(t *testing.T) {
	t.Parallel()
	exprs := []string{
		`"a1b2c".split(/(\d)/)`,
		`"a1b2c".split(/(\d)(x)?/)`,
		`"".split(/x/)`,
		`"".split(/(?:)/)`,
		`"abc".split(/(?:)/)`,
		`"test".split(/(?:)/, 2)`,
		`"a,b,c".split(/,/, 0)`,
		`"a,b,c".split(/,/, -1)`,
		`"\ud83d\ude00\ud83d\ude00".split(/(?:)/u).length`,
		`"\ud83d\ude00\ud83d\ude00".split(/(?:)/).length`,
		`"aXbxc".split(/x/i)`,
		`"a b  c".split(/\s*/)`,
		`"one two".split(/(?<w>\w+)/)`,
		`"abc".split(/$/)`,
		`"abc".split(/^/m)`,
		`"a\nb\nc".split(/^/m)`,
		`"xaxbx".split(/x/y)`,
		`[1, [2, [3, null]], undefined, "é", 1.5, -0, true, 10n].join(";")`,
		`[].join()`,
		`[,,].join("-")`,
		`Array.prototype.join.call("abc", "+")`,
		`"abcabc".replace(/b/g, "[$$|$&|$\x60|$'|$1|$0|$<n>]")`,
		`"abcabc".replace(/(?<n>b)(c)/g, "[$2$1|$<n>|$<zz>|$<n|$10|$01|$3]")`,
		`"x".repeat(300).replaceAll("x", "$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&").length`,
		`"abc".replace("b", "$'$\x60$&$$")`,
		`JSON.stringify({ a: [1, { b: "x\u0000y" }], c: new Date(0), d: undefined, e: () => 1 }, null, "--")`,
		`JSON.stringify([new Number(3), new String("s"), new Boolean(false), NaN, Infinity, null])`,
		`JSON.stringify({ a: 1, b: [1, 2], c: { d: 1 } }, ["c", "a", "d"])`,
		`JSON.stringify({ a: 1, b: { c: 2 } }, function (k, v) { return typeof v === "number" ? v * 10 : v; }, 1)`,
		`JSON.stringify(new Uint8Array([1, 2]))`,
		`JSON.stringify("\ud800")`,
		`JSON.stringify(undefined)`,
		`[3, 1, 2].toSorted ? [3, 1, 2].toSorted() : "none"`,
		`[1, 2, 3].with ? [1, 2, 3].with(0, 9) : "none"`,
		`[1, [2, [3, [4]]]].flat(2)`,
		`new Float32Array([1.5, 2]).join("|")`,
		`"ab".padStart(5, "xy") + "ab".padEnd(5, "xy")`,
		`"é".repeat(3) + "a".concat(1, {}, [2])`,
		// Replacements big enough to go through the counting function
		// (and the Go GetSubstitution).
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])("x".repeat(3000).replaceAll("x", "$&".repeat(20) + "$$"))`,
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])("ab".repeat(2000).replace(/(?<n>a)(b)/g, "[$2$1|$<n>|$<z>|$'|$\x60|$3|$0|$$]"))`,
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])("éb".repeat(2000).replace(/(é)|(q)/g, "<$1$2$'>"))`,
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])("ab".repeat(2000).replace(/b/g, (m, i) => m + i))`,
		// RegExp.prototype[Symbol.replace] and [Symbol.split] called
		// directly, small and through the counting function (node 20
		// gives the same for each of these, checked by hand).
		`RegExp.prototype[Symbol.replace].call(/b/g, "abcabc", "[$$|$&|$\x60|$'|$1|$0|$<n>]")`,
		`/(?<n>b)(c)/g[Symbol.replace]("abcabc", "[$2$1|$<n>|$<zz>|$<n|$10|$01|$3]")`,
		`/b/[Symbol.replace]("abcabc", "x")`,
		`/b/y[Symbol.replace]("abcabc", "x")`,
		`/b/g[Symbol.replace]("abab", (m, i, s) => m + i + s.length)`,
		`/(?<n>b)/g[Symbol.replace]("abab", (...a) => JSON.stringify(a))`,
		`RegExp.prototype[Symbol.replace].call(/x/g, "axbx", { toString() { return "$&$&"; } })`,
		`RegExp.prototype[Symbol.replace].call(/x/g, 12345, "-")`,
		`RegExp.prototype[Symbol.replace].call("not a regexp", "a", "b")`,
		`RegExp.prototype[Symbol.replace].call({ exec() { return null; }, flags: "" }, "abc", "x")`,
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])(RegExp.prototype[Symbol.replace].call(/x/g, "x".repeat(3000), "$&".repeat(20) + "$$"))`,
		`((s) => [s.length, s.slice(0, 300), s.slice(-300)])(/(?<n>a)(b)/g[Symbol.replace]("ab".repeat(2000), "[$2$1|$<n>|$<z>|$'|$\x60|$3|$0|$$]"))`,
		`RegExp.prototype[Symbol.split].call(/(\d)/, "a1b2c")`,
		`RegExp.prototype[Symbol.split].call(/,/, "a,b,c", 2)`,
		`RegExp.prototype[Symbol.split].call(/,/, "a,b,c", 2 ** 32 + 1)`,
		`/(?:)/[Symbol.split]("abc")`,
		`(() => { class R extends RegExp {} return ["a1b2c".split(new R("(\\d)")), new R(",")[Symbol.split]("a,b", 1)]; })()`,
		`"x".repeat(20).split(new RegExp("()".repeat(5))).length`,
	}
	plain := goja.New()
	guarded := newVM(t)
	for _, e := range exprs {
		run := func(vm *goja.Runtime) string {
			v, err := vm.RunString(`(function () { try { return JSON.stringify(` + e + `); } catch (err) { return "threw " + err.name; } })()`)
			if err != nil {
				return "error " + err.Error()
			}
			return v.String()
		}
		if got, want := run(guarded), run(plain); got != want {
			t.Errorf("%s:\n got  %s\n want %s", e, got, want)
		}
	}
}
