package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the spiderrun version, VCS revision and Go version",
		Long: `version prints three lines: the module version (a release tag such as
v1.2.0 when installed with go install ...@VERSION, a pseudo-version or
(devel) for a build from a checkout), the VCS revision the binary was built
from (+dirty when the work tree had uncommitted changes, "unknown" when the
build had no VCS information, e.g. -buildvcs=false) and the Go toolchain
with the target platform. spiderrun --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), versionText())
			return nil
		},
	}
}

// versionText is what `spiderrun version` and `spiderrun --version` print.
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return formatVersion(bi, runtime.GOOS+"/"+runtime.GOARCH)
}

// formatVersion renders build information:
//
//	spiderrun v1.2.0
//	revision: 3f2a1c9e0b7d51a4c0f6e1d2b3a4c5d6e7f8a9b0+dirty (2026-12-07T05:41:00Z)
//	go: go1.26.8 linux/amd64
//
// bi may be nil (a binary built without module support).
func formatVersion(bi *debug.BuildInfo, platform string) string {
	version, goVersion := "(devel)", runtime.Version()
	var rev, when string
	dirty := false
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "spiderrun %s\n", version)
	switch {
	case rev != "":
		if dirty {
			rev += "+dirty"
		}
		if when != "" {
			rev += " (" + when + ")"
		}
		fmt.Fprintf(&b, "revision: %s\n", rev)
	case version != "(devel)":
		// go install module@version builds from the module zip, which
		// carries no VCS information: the version names the source.
		fmt.Fprintf(&b, "revision: none (built from the module zip of %s)\n", version)
	default:
		b.WriteString("revision: unknown (built without VCS information)\n")
	}
	fmt.Fprintf(&b, "go: %s %s\n", goVersion, platform)
	return b.String()
}
