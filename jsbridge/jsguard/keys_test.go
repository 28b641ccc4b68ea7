package jsguard

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// TestKeysBombs: spreading or iterating a huge string and listing the index
// keys of a huge string or typed array raise a RangeError at once (they
// ran for 18 s past JS_TIMEOUT and took 1.4 GiB, or 1 GiB, before).
func TestKeysBombs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ src, want string }{
		{`[...'x'.repeat(16e6)]`, "RangeError: String.prototype[Symbol.iterator]: array length limit 4 Mi exceeded"},
		{`for (const c of 'x'.repeat(5e6)) {}`, "RangeError: String.prototype[Symbol.iterator]: array length limit 4 Mi exceeded"},
		{`Object.keys('x'.repeat(16e6))`, "RangeError: Object.keys: array length limit 4 Mi exceeded"},
		{`Object.values(new String('x'.repeat(16e6)))`, "RangeError: Object.values: array length limit 4 Mi exceeded"},
		{`Object.entries('x'.repeat(16e6))`, "RangeError: Object.entries: array length limit 4 Mi exceeded"},
		{`Object.getOwnPropertyNames(new Uint8Array(32 << 20))`, "RangeError: Object.getOwnPropertyNames: array length limit 4 Mi exceeded"},
		{`Reflect.ownKeys(new Uint8Array(32 << 20))`, "RangeError: Reflect.ownKeys: array length limit 4 Mi exceeded"},
	} {
		vm := newVM(t)
		w := NewWatchdog(vm, Limits{Timeout: 10 * time.Second}, nil)
		start := time.Now()
		grown := peakHeap(func() {
			w.Begin()
			_, err := vm.RunString(c.src)
			w.End()
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %q", c.src, err, c.want)
			}
		})
		w.Close()
		if grown > 256<<20 {
			t.Errorf("%s: heap rose by %d MiB", c.src, grown>>20)
		}
		t.Logf("%s: %s, heap +%d MiB", c.src, time.Since(start).Round(time.Millisecond), grown>>20)
	}
}

// TestKeysSemantics: on ordinary values the guarded iterator and key
// listers give what goja's own give.
func TestKeysSemantics(t *testing.T) {
	t.Parallel()
	exprs := []string{
		`[...'abc']`,
		`[...'a\ud83d\ude00b']`,
		`(() => { const out = []; for (const c of 'x\u00e9y') out.push(c); return out })()`,
		`Array.from('hey')`,
		`Object.keys('ab')`,
		`Object.keys({ b: 1, a: 2, 1: 3 })`,
		`Object.values(new String('ab'))`,
		`Object.entries([7, 8])`,
		`Object.getOwnPropertyNames(new Uint8Array(3))`,
		`Object.keys(new Float64Array(2))`,
		`Reflect.ownKeys({ [Symbol.iterator]: 1, x: 2 }).length`,
		`Object.keys(Object.create(null))`,
		`String.prototype[Symbol.iterator].name`,
		`typeof 'x'[Symbol.iterator]().next`,
	}
	plain := goja.New()
	vm := newVM(t)
	for _, e := range exprs {
		want, werr := plain.RunString("JSON.stringify(" + e + ")")
		got, gerr := vm.RunString("JSON.stringify(" + e + ")")
		if (werr == nil) != (gerr == nil) || (werr == nil && got.String() != want.String()) {
			t.Errorf("%s: guarded %v (%v), goja %v (%v)", e, got, gerr, want, werr)
		}
	}
	for _, e := range []string{`Object.keys(1)`, `Object.keys(null)`, `Reflect.ownKeys('s')`} {
		_, werr := plain.RunString(e)
		_, gerr := vm.RunString(e)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: guarded error %v, goja error %v", e, gerr, werr)
		}
	}
}
