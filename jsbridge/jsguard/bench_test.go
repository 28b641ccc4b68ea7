package jsguard

import (
	"testing"

	"github.com/dop251/goja"
)

// BenchmarkRegex compares the regex operations of a guarded runtime with
// goja's own on a 1 MB text of 125,000 lines.
func BenchmarkRegex(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		vm := goja.New()
		if guarded {
			if err := Install(vm); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := vm.RunString(`var text = "abc def\n".repeat(125000);`); err != nil {
			b.Fatal(err)
		}
		name := "goja"
		if guarded {
			name = "guarded"
		}
		for _, op := range []string{`text.split(/\n/).length`, `text.replace(/\s+/g, " ").length`, `text.match(/d/g).length`, `/x/.test(text)`} {
			prog := goja.MustCompile("bench.js", op, false)
			b.Run(name+"/"+op, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := vm.RunProgram(prog); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkArrays compares common array and JSON built-ins of a guarded
// runtime with goja's own (100,000 elements).
func BenchmarkArrays(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		vm := goja.New()
		if guarded {
			if err := Install(vm); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := vm.RunString(`var a = Array.from({ length: 100000 }, (_, i) => i); var o = a.map((i) => ({ id: i, name: "n" + i }));`); err != nil {
			b.Fatal(err)
		}
		name := "goja"
		if guarded {
			name = "guarded"
		}
		for _, op := range []string{`a.join(",").length`, `a.indexOf(99999)`, `a.slice(1).length`, `JSON.stringify(o).length`, `JSON.parse(JSON.stringify(a)).length`, `[1, 2, 3].map((x) => x + 1).length`} {
			prog := goja.MustCompile("bench.js", op, false)
			b.Run(name+"/"+op, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := vm.RunProgram(prog); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
