package jsbridge

import (
	"bytes"
	"fmt"
	"io"

	"github.com/dop251/goja"
	"github.com/google/pprof/profile"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
)

// StartProfile starts sampling the JavaScript of every spider in the
// process: every 10 ms, the function and line running and its callers,
// until StopProfile.
func StartProfile() error {
	profileBuf.Reset()
	return goja.StartProfile(&profileBuf)
}

var profileBuf bytes.Buffer

// StopProfile stops the profile and writes it to w in pprof format.
// goja reports the lines of the user's files (through the source map) but
// names every function's file after the bundle; the functions of the
// script are renamed to prog's file name (with "+ imports" when the script
// bundles other files, whose lines are then under that name too).
// Functions of spiderrun's own prelude stay under spiderrun-prelude.js.
func StopProfile(w io.Writer, prog *compile.Program) error {
	goja.StopProfile()
	p, err := profile.Parse(&profileBuf)
	profileBuf.Reset()
	if err != nil {
		return fmt.Errorf("js profile: %w", err)
	}
	if prog != nil {
		name := prog.Filename
		if len(prog.Files) > 1 {
			name += " + imports"
		}
		for _, f := range p.Function {
			if f.Filename == helperFile {
				f.Filename = name
			}
		}
	}
	return p.Write(w)
}
