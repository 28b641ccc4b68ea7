package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/logging"
	"github.com/spiderrun/spiderrun/runtime/metrics"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func init() { register(newRunCmd) }

// runFlags are the flags shared by run and parse.
type runFlags struct {
	settings []string
	args     []string
	logLevel string
	logFile  string
	noLog    bool
}

func (f *runFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.settings, "set", "s", nil, "override a setting: `KEY=VALUE` (repeatable)")
	cmd.Flags().StringArrayVarP(&f.args, "arg", "a", nil, "spider argument `NAME=VALUE`, available as spider.args (repeatable)")
	cmd.Flags().StringVarP(&f.logLevel, "loglevel", "L", "", "log level: DEBUG, INFO, WARNING or ERROR (= -s LOG_LEVEL=...)")
	cmd.Flags().StringVar(&f.logFile, "logfile", "", "write the log to `FILE` instead of stderr (= -s LOG_FILE=...)")
	cmd.Flags().BoolVar(&f.noLog, "nolog", false, "write no log at all (= -s LOG_ENABLED=false)")
}

// loaded is a spec ready to run: settings applied, script compiled, checked.
type loaded struct {
	spec *dsl.Spec
	prog *compile.Program
	args map[string]string
}

// load reads the spec, applies -s and -L, compiles the script and runs the
// semantic checks; problems are usage errors.
func (f *runFlags) load(path string) (*loaded, error) {
	spec, err := dsl.Load(path)
	if err != nil {
		return nil, usageErr(err)
	}
	return f.prepare(spec, true)
}

// prepare applies -s and -L to a loaded spec, compiles its script, runs the
// semantic checks (when check is set) and reads -a.
func (f *runFlags) prepare(spec *dsl.Spec, check bool) (*loaded, error) {
	sets := f.settings
	// The flags win over -s, as in Scrapy.
	sets = append([]string(nil), sets...)
	if f.logLevel != "" {
		sets = append(sets, "LOG_LEVEL="+strings.ToUpper(f.logLevel))
	}
	if f.logFile != "" {
		sets = append(sets, "LOG_FILE="+f.logFile)
	}
	if f.noLog {
		sets = append(sets, "LOG_ENABLED=false")
	}
	if err := applySettings(spec.Settings, sets); err != nil {
		return nil, err
	}
	args, err := parseArgs(f.args)
	if err != nil {
		return nil, err
	}
	prog, err := spiderrun.CompileScript(spec)
	if err != nil {
		// Print what validate prints: Check compiles the script again and
		// reports its errors with the spec's, in the same words.
		if errs := spiderrun.Check(spec, spiderrun.CheckOptions{Args: args}); len(errs) > 0 {
			return nil, usageErr(errors.Join(errs...))
		}
		return nil, usageErr(err)
	}
	if check {
		if errs := spiderrun.Check(spec, spiderrun.CheckOptions{Program: prog, Args: args}); len(errs) > 0 {
			return nil, usageErr(errors.Join(errs...))
		}
	}
	return &loaded{spec: spec, prog: prog, args: args}, nil
}

// parseArgs reads -a NAME=VALUE spider arguments.
func parseArgs(kvs []string) (map[string]string, error) {
	args := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErr(fmt.Errorf("-a %s: want NAME=VALUE", kv))
		}
		args[k] = v
	}
	return args, nil
}

// applySettings applies -s KEY=VALUE overrides, each parsed by its
// setting's type; the first bad one is a usage error naming it.
func applySettings(set *dsl.Settings, kvs []string) error {
	for _, kv := range kvs {
		if err := set.SetFromCLI(kv); err != nil {
			// SetFromCLI's error names the flag ("-s NAME: ..."), as
			// validate prints it.
			return usageErr(err)
		}
	}
	return nil
}

func newRunCmd() *cobra.Command {
	var (
		f         runFlags
		appendOut []string
		overOut   []string
		taskData  string
		statsJSON string
		jobdir    string
		metricsAt string
		ui        uiFlags
		prof      profileFlags
	)
	cmd := &cobra.Command{
		Use:   "run SPEC",
		Short: "Run a spider",
		Long: `Run the spider described by SPEC (a spider.yaml) until it finishes.

Items go to -o FILE (append) or -O FILE (overwrite); the format comes from the
extension (.jsonl .json .csv .xml) or a :FORMAT suffix; "-" is standard output.
Logs and the final stats go to standard error. Ctrl-C once stops gracefully
(in-flight requests finish, feeds are flushed); twice aborts at once.

Exit status: 0 finished normally or stopped by one Ctrl-C/SIGTERM; 1 the run
failed (an unhandled callback, pipeline or hook error, a stall, an abort, a
feed or JOBDIR write error such as a full disk, or another close reason);
2 usage or invalid spec.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if jobdir != "" {
				f.settings = append(f.settings, "JOBDIR="+jobdir)
			}
			if cmd.Flags().Changed("metrics-addr") {
				if _, _, err := metrics.ResolveAddr(metricsAt); err != nil {
					return usageErr(fmt.Errorf("--metrics-addr %q: %w", metricsAt, err))
				}
				f.settings = append(f.settings, "METRICS_ADDR="+metricsAt)
			}
			if cmd.Flags().Changed("ui-addr") {
				if _, _, err := metrics.ResolveAddr(ui.addr); err != nil {
					return usageErr(fmt.Errorf("--ui-addr %q: %w", ui.addr, err))
				}
				f.settings = append(f.settings, "UI_ADDR="+ui.addr)
			}
			uiAuth, err := serveAuth(ui.basicFile, ui.tokenFile)
			if err != nil {
				return usageErr(fmt.Errorf("dashboard credentials (--ui-addr): %w", err))
			}
			l, err := f.load(a[0])
			if err != nil {
				return err
			}
			var outs []feed.Config
			for _, o := range appendOut {
				cfg, err := feed.ParseOutput(o, false)
				if err != nil {
					return usageErr(fmt.Errorf("-o %s: %w", o, err))
				}
				outs = append(outs, cfg)
			}
			for _, o := range overOut {
				cfg, err := feed.ParseOutput(o, true)
				if err != nil {
					return usageErr(fmt.Errorf("-O %s: %w", o, err))
				}
				outs = append(outs, cfg)
			}
			var td any
			if taskData != "" {
				data, err := os.ReadFile(taskData)
				if err != nil {
					return usageErr(fmt.Errorf("--task-data: %w", err))
				}
				if err := json.Unmarshal(data, &td); err != nil {
					return usageErr(fmt.Errorf("--task-data %s: invalid JSON: %w", taskData, err))
				}
			}
			if err := prof.start(l.prog); err != nil {
				return err
			}
			// On a terminal a progress line stays below the log lines.
			logw := cmd.ErrOrStderr()
			var live *logging.Live
			if isTerminal(logw) {
				live = logging.NewLive(logw)
				logw = live
			}
			c, err := spiderrun.New(spiderrun.Options{
				Spec: l.spec, Program: l.prog, Outputs: outs, Args: l.args, TaskData: td,
				Log: logw, Stdout: cmd.OutOrStdout(), ServeMetrics: true,
				ServeUI: true, UIAuth: uiAuth, UINoAuth: ui.noAuth,
			})
			if err != nil {
				_ = prof.stop()
				return usageErr(err)
			}
			res, err := runWithSignals(cmd.Context(), c, live)
			if perr := prof.stop(); perr != nil && err == nil {
				err = perr
			}
			if err != nil {
				return failErr(err)
			}
			if statsJSON != "" {
				if err := stats.WriteJSONFile(statsJSON, res.Stats); err != nil {
					return failErr(fmt.Errorf("--stats-json: %w", err))
				}
			}
			return exitForResult(res)
		},
	}
	f.bind(cmd)
	cmd.Flags().StringArrayVarP(&appendOut, "output", "o", nil, "append items to `FILE[:FORMAT]` (- for stdout; repeatable)")
	cmd.Flags().StringArrayVarP(&overOut, "overwrite-output", "O", nil, "write items to `FILE[:FORMAT]`, replacing it (repeatable)")
	cmd.Flags().StringVar(&taskData, "task-data", "", "JSON `FILE` passed to the script's start(task_data)")
	cmd.Flags().StringVar(&statsJSON, "stats-json", "", "write the final stats as JSON to `FILE`")
	prof.bind(cmd)
	cmd.Flags().StringVar(&metricsAt, "metrics-addr", "", "serve Prometheus metrics at http://`ADDR`/metrics while the crawl runs; a port alone listens on 127.0.0.1 (= -s METRICS_ADDR=ADDR)")
	ui.bind(cmd)
	cmd.Flags().StringVar(&jobdir, "jobdir", "", "keep the crawl's state in `DIR` so a stopped crawl resumes where it stopped (= -s JOBDIR=DIR)")
	return cmd
}

// runWithSignals runs the crawl; the first SIGINT/SIGTERM stops it
// gracefully, the second aborts it (engine.StopOnSignals). live, when not
// nil, shows the progress line until the crawl ends.
func runWithSignals(ctx context.Context, c *spiderrun.Crawler, live *logging.Live) (engine.Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go c.Engine().StopOnSignals(sigs)
	if live != nil {
		e := c.Engine()
		live.Start(500*time.Millisecond, func() logging.Snapshot {
			p := e.Progress()
			return logging.Snapshot{Pages: p.Pages, Items: p.Items, Errors: p.Errors, Queued: p.Queued, InFlight: p.Fetching}
		})
		defer live.Stop()
	}
	return c.Run(ctx)
}

// exitForResult maps a close reason to the exit status of DESIGN.md §5: a
// graceful stop the user asked for (one Ctrl-C or SIGTERM, reason
// shutdown) is not a failure, as in Scrapy; an abort (a second signal) is.
func exitForResult(res engine.Result) error {
	switch {
	case res.Reason == engine.ReasonShutdown && res.Aborted:
		return &exitError{code: exitFailed, err: errors.New("spider aborted: in-flight requests were cancelled")}
	case res.Reason == engine.ReasonShutdown && res.Errors == 0:
		return nil
	case res.Reason == engine.ReasonStalled:
		return &exitError{code: exitFailed, err: fmt.Errorf("spider stalled: %s", strings.Join(res.Stalled, "; "))}
	case res.Reason != "finished" && res.Reason != "idle" && !strings.HasPrefix(res.Reason, "closespider_"):
		return &exitError{code: exitFailed, err: fmt.Errorf("spider closed: %s", res.Reason)}
	case res.Errors > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d unhandled error(s) in callbacks, pipelines or hooks (see the log)", res.Errors)}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// uiFlags are run's dashboard flags (UI_ADDR): the address and, as for
// `spiderrun serve`, the credentials.
type uiFlags struct {
	addr, basicFile, tokenFile string
	noAuth                     bool
}

func (u *uiFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&u.addr, "ui-addr", "", "serve the crawl's live dashboard at http://`ADDR`/ while it runs; a port alone listens on 127.0.0.1 (= -s UI_ADDR=ADDR)")
	fl.StringVar(&u.basicFile, "ui-basic-auth-file", "", "`FILE` holding user:password for the dashboard's HTTP basic auth (or "+envBasicAuth+")")
	fl.StringVar(&u.tokenFile, "ui-token-file", "", "`FILE` holding the dashboard's bearer token (or "+envToken+")")
	fl.BoolVar(&u.noAuth, "ui-no-auth", false, "allow a dashboard address other than loopback without credentials (behind an authenticating proxy)")
}
