package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
)

// profileFlags are run's --profile (Scrapy's name: a CPU profile of the
// whole process) and --profile-js (the spider's JavaScript by function and
// line). Both files are pprof profiles: `go tool pprof -top FILE`, or open
// them in https://www.speedscope.app.
type profileFlags struct {
	goPath, jsPath string
	goFile, jsFile *os.File
	prog           *compile.Program // names the script's functions in --profile-js
}

func (p *profileFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.goPath, "profile", "", "write a CPU profile of the whole run to `FILE` (pprof format)")
	cmd.Flags().StringVar(&p.jsPath, "profile-js", "", "write a profile of the spider's JavaScript, by function and line, to `FILE` (pprof format)")
}

// start opens the files and starts the profilers; on error nothing is left
// running.
func (p *profileFlags) start(prog *compile.Program) error {
	p.prog = prog
	if p.goPath != "" {
		f, err := os.Create(p.goPath)
		if err != nil {
			return usageErr(fmt.Errorf("--profile: %w", err))
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return usageErr(fmt.Errorf("--profile: %w", err))
		}
		p.goFile = f
	}
	if p.jsPath != "" {
		f, err := os.Create(p.jsPath)
		if err != nil {
			p.stop()
			return usageErr(fmt.Errorf("--profile-js: %w", err))
		}
		if err := jsbridge.StartProfile(); err != nil {
			f.Close()
			p.stop()
			return usageErr(fmt.Errorf("--profile-js: %w", err))
		}
		p.jsFile = f
	}
	return nil
}

// stop writes and closes what start began.
func (p *profileFlags) stop() error {
	var errs []error
	if p.goFile != nil {
		pprof.StopCPUProfile()
		if err := p.goFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--profile: %w", err))
		}
		p.goFile = nil
	}
	if p.jsFile != nil {
		if err := jsbridge.StopProfile(p.jsFile, p.prog); err != nil {
			errs = append(errs, fmt.Errorf("--profile-js: %w", err))
		}
		if err := p.jsFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--profile-js: %w", err))
		}
		p.jsFile = nil
	}
	return errors.Join(errs...)
}
