// Package jsguard holds the guards that both goja hosts of spiderrun share —
// the spider's callback runtime (package jsbridge) and the isolated
// use_execjs contexts (package jsbridge/execjs) — so that no single
// JavaScript call can take the process down:
//
//   - Install (and GuardBuffer, for goja_nodejs' Buffer) caps the built-ins
//     that goja's Interrupt cannot stop because they run as one Go call
//     ('x'.repeat(2**30), new Array(1e8).fill(0), new Uint8Array(2**31),
//     JSON.parse of a 1e6-deep document, String of an array nested 1e6
//     deep, ...): a call whose result would pass a cap throws a RangeError
//     at once, so no single call grows the heap by more than a small
//     constant (MaxStringLength, MaxArrayLength, MaxBufferBytes, MaxDepth).
//     It also turns a regular expression that runs into its match timeout
//     (RegexTimeout) into an Error, where goja would silently report "no
//     match" (RELIABILITY.md M5–M9).
//   - Watchdog bounds each turn of JavaScript by a wall-clock timeout
//     (JS_TIMEOUT) and by heap growth (JS_MEMORY_LIMIT, on one figure: the
//     live heap, see Limits.Memory), interrupting the runtime, and reports
//     a turn that did not stop within one grace period (Grace) after the
//     interrupt — stuck in a built-in no cap covers — so that its host
//     abandons the runtime.
//   - Classify sorts what goja returned (an exception, a limit, another
//     interrupt, a stack overflow) the same way for both hosts, and
//     ParseStackLine / FramePos read positions out of goja stacks.
//
// The hosts differ only in what they do with an error: a callback error is
// counted and the crawl goes on; an execjs call returns it to the spider,
// and a context whose runtime was interrupted or abandoned is reloaded on
// its next use.
//
//	if err := jsguard.Install(vm); err != nil { ... } // once, before any user code runs
//	wd := jsguard.NewWatchdog(vm, jsguard.Limits{Timeout: 30 * time.Second, Memory: 512 << 20},
//		func(stuck *jsguard.StuckError) { /* abandon vm */ })
//	defer wd.Close()
//	wd.Begin()
//	_, err := vm.RunProgram(prog) // past a limit: a *goja.InterruptedError (jsguard.Interrupted gives the *LimitError)
//	wd.End()
package jsguard

import (
	"errors"
	"fmt"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
)

// Caps of the built-ins that run as one uninterruptible Go call. They are
// constants, not settings: each bounds what one call may allocate (about
// 32 MiB for a string, 64 MiB for an array or a buffer), far below the
// default JS_MEMORY_LIMIT, and far above what spider and signing code
// needs.
const (
	// MaxStringLength bounds the length (UTF-16 code units) of a string
	// built by repeat, padStart, padEnd, concat, join, replace,
	// replaceAll and RegExp.prototype[Symbol.replace], and of the output
	// of JSON.stringify.
	MaxStringLength = 16 << 20
	// MaxArrayLength bounds the length of an array that a built-in walks
	// or fills element by element (fill, join, sort, map, indexOf, from,
	// apply, split, ...). new Array(n) allocates nothing in goja, but the
	// first such method on it would.
	MaxArrayLength = 1 << 22
	// MaxBufferBytes bounds an ArrayBuffer, a typed array and a Node
	// Buffer allocated by one call.
	MaxBufferBytes = 64 << 20
	// MaxDepth bounds the nesting of JSON.parse input and JSON.stringify
	// values (RELIABILITY.md M8, M9).
	MaxDepth = 1000
	// RegexTimeout bounds one regular-expression match attempt; a match
	// that hits it throws instead of silently not matching (RELIABILITY.md
	// M6, M7). It is process-wide: goja copies regexp2's default into each
	// regex it compiles.
	RegexTimeout = time.Second
)

func init() {
	// goja copies the default into each regex at compile time; set it
	// before any runtime exists (a global of regexp2/v2, which only goja
	// uses in this module).
	regexp2.DefaultMatchTimeout = RegexTimeout
}

// Limit errors (match with errors.Is). Both hosts return them as the cause
// of their own error types.
var (
	// ErrTimeout: a turn ran longer than Limits.Timeout (JS_TIMEOUT).
	ErrTimeout = errors.New("JS_TIMEOUT exceeded")
	// ErrMemoryLimit: the heap grew by more than Limits.Memory
	// (JS_MEMORY_LIMIT) during a turn.
	ErrMemoryLimit = errors.New("JS_MEMORY_LIMIT exceeded")
	// ErrStuck: a turn did not stop within the grace period after it was
	// interrupted; its runtime must be abandoned.
	ErrStuck = errors.New("javascript runtime stuck in a built-in")
)

// LimitKind says which limit a turn hit.
type LimitKind int

const (
	// Timeout is JS_TIMEOUT.
	Timeout LimitKind = iota
	// Memory is JS_MEMORY_LIMIT.
	Memory
)

// LimitError is the value a Watchdog passes to goja's Interrupt, found
// again in the *goja.InterruptedError the interrupted call returns (see
// Interrupted). It matches ErrTimeout or ErrMemoryLimit with errors.Is.
type LimitError struct {
	Kind LimitKind
	// Limit is the bound as configured: "30s", "512MiB".
	Limit string
}

func (e *LimitError) Error() string {
	if e.Kind == Memory {
		return "exceeded JS_MEMORY_LIMIT " + e.Limit
	}
	return "exceeded JS_TIMEOUT " + e.Limit
}

// Is matches ErrTimeout or ErrMemoryLimit.
func (e *LimitError) Is(target error) bool {
	if e.Kind == Memory {
		return target == ErrMemoryLimit
	}
	return target == ErrTimeout
}

// TimeoutError is the LimitError of a timeout d.
func TimeoutError(d time.Duration) *LimitError {
	return &LimitError{Kind: Timeout, Limit: d.String()}
}

// MemoryError is the LimitError of a memory limit of n bytes.
func MemoryError(n int64) *LimitError {
	return &LimitError{Kind: Memory, Limit: FormatBytes(n)}
}

// Interrupted returns the LimitError behind err when err is (or wraps) a
// goja interrupt raised by a Watchdog, and the interrupt itself; nil, nil
// when err is no interrupt. An interrupt with another value gives a nil
// LimitError and the interrupt.
func Interrupted(err error) (*LimitError, *goja.InterruptedError) {
	var intr *goja.InterruptedError
	if !errors.As(err, &intr) {
		return nil, nil
	}
	lim, _ := intr.Value().(*LimitError)
	return lim, intr
}

// Grace is how long a turn may take to stop after its interrupt before the
// watchdog reports it stuck: max(2s, timeout). A regex match (RegexTimeout)
// always fits in it, and a turn is abandoned within 2×timeout of its start
// when the timeout is 2s or more.
func Grace(timeout time.Duration) time.Duration {
	return max(2*time.Second, timeout)
}

// FormatBytes renders a byte count the way the settings are written:
// "512MiB", "1GiB", "64KiB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
