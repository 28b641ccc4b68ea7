package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/internal/jobserver"
)

func init() { register(newServeCmd) }

// Environment variables that hold the server's credentials (a flag would
// show them in ps).
const (
	envBasicAuth = "SPIDERRUN_BASIC_AUTH" // user:password
	envToken     = "SPIDERRUN_TOKEN"
)

func newServeCmd() *cobra.Command {
	var (
		addr, data, specs    string
		maxJobs              int
		basicFile, tokenFile string
		noAuth               bool
		snapEvery, stopGrace time.Duration
		maxBody, maxUpload   int64
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a job server: a Scrapyd-compatible JSON API and a live dashboard",
		Long: `Serve runs the spiders of --specs as jobs, each in its own spiderrun
process, at most --max-jobs at once (the others wait in a queue). Jobs,
their logs, feeds and stats live under --data and survive a restart; a job
that was running when the server stopped is reported as interrupted (and
can be resumed when it had a JOBDIR).

The HTTP API speaks Scrapyd's JSON (schedule.json, cancel.json,
listjobs.json, listspiders.json, daemonstatus.json, logs/, items/), so
Scrapyd clients can drive it; the dashboard is at http://ADDR/.

Authentication: HTTP basic (user:password in --basic-auth-file or
` + envBasicAuth + `) and/or a bearer token (--token-file or ` + envToken + `).
On an address other than loopback the server refuses to start without
credentials (--no-auth overrides that, e.g. behind an authenticating proxy).
specs/operate.md documents the API, deployment and security.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			auth, err := serveAuth(basicFile, tokenFile)
			if err != nil {
				return usageErr(err)
			}
			loop, err := loopbackAddr(addr)
			if err != nil {
				return usageErr(fmt.Errorf("--addr %q: %w", addr, err))
			}
			if !loop && !auth.Enabled() && !noAuth {
				return usageErr(fmt.Errorf("--addr %s is not a loopback address: refusing to serve without authentication; give credentials with --basic-auth-file / %s or --token-file / %s (or --no-auth behind an authenticating proxy)", addr, envBasicAuth, envToken))
			}
			exe, err := os.Executable()
			if err != nil {
				return failErr(fmt.Errorf("find the spiderrun binary: %w", err))
			}
			dataAbs, err := filepath.Abs(data)
			if err != nil {
				return usageErr(err)
			}
			specsAbs, err := filepath.Abs(specs)
			if err != nil {
				return usageErr(err)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv, err := jobserver.New(jobserver.Options{
				Data: dataAbs, Specs: specsAbs, MaxJobs: maxJobs, Exe: exe,
				Inspect: inspectSpec, Validate: validateJob, Auth: auth, Env: jobEnv(),
				SnapshotInterval: snapEvery, StopGrace: stopGrace, MaxBody: maxBody, MaxUpload: maxUpload, Logger: logger,
			})
			if err != nil {
				return usageErr(err)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				srv.Close()
				return failErr(fmt.Errorf("--addr %s: %w", addr, err))
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
			mode := "no authentication"
			if auth.Enabled() {
				mode = "authentication required"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Serving on http://%s (%s; data %s, specs %s, max %d jobs)\n", l.Addr(), mode, dataAbs, specsAbs, maxJobs)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(l) }()
			select {
			case err := <-errc:
				srv.Close()
				return failErr(err)
			case <-ctx.Done():
			}
			stop()
			fmt.Fprintln(cmd.ErrOrStderr(), "Stopping: running jobs get SIGTERM and are reported as interrupted")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
			if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return failErr(err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:6800", "listen on `HOST:PORT` (Scrapyd's port by default)")
	fl.StringVar(&data, "data", "spiderrun-data", "`DIR` of the job store, logs, feeds and stats")
	fl.StringVar(&specs, "specs", ".", "`DIR` of spider specs: *.yaml and */spider.yaml")
	fl.IntVar(&maxJobs, "max-jobs", 4, "jobs that run at once; more wait in the queue")
	fl.StringVar(&basicFile, "basic-auth-file", "", "`FILE` holding user:password for HTTP basic auth (or "+envBasicAuth+")")
	fl.StringVar(&tokenFile, "token-file", "", "`FILE` holding a bearer token (or "+envToken+")")
	fl.BoolVar(&noAuth, "no-auth", false, "allow an address other than loopback without credentials (behind an authenticating proxy)")
	fl.DurationVar(&snapEvery, "snapshot-interval", time.Second, "how often jobs write their stats snapshot (STATS_SNAPSHOT_INTERVAL), the dashboard's refresh")
	fl.DurationVar(&stopGrace, "stop-grace", 30*time.Second, "on shutdown, how long running jobs may take to stop after SIGTERM before they are killed")
	fl.Int64Var(&maxBody, "max-body", 1<<20, "largest request body in `BYTES`")
	fl.Int64Var(&maxUpload, "max-upload", 16<<20, "largest addversion.json upload (a zip of a spider) in `BYTES`")
	return cmd
}

// jobEnv is the environment of the jobs: the server's, less its
// credentials.
func jobEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != envBasicAuth && k != envToken {
			env = append(env, kv)
		}
	}
	return env
}

// serveAuth reads the credentials from the files or the environment.
func serveAuth(basicFile, tokenFile string) (jobserver.Auth, error) {
	var a jobserver.Auth
	basic := os.Getenv(envBasicAuth)
	if basicFile != "" {
		b, err := os.ReadFile(basicFile)
		if err != nil {
			return a, fmt.Errorf("--basic-auth-file: %w", err)
		}
		basic = strings.TrimSpace(string(b))
	}
	if basic != "" {
		u, p, ok := strings.Cut(basic, ":")
		if !ok || u == "" || p == "" {
			// Not the value: it is a secret.
			return a, fmt.Errorf("basic auth credentials (--basic-auth-file or %s): want user:password with both parts set", envBasicAuth)
		}
		a.User, a.Password = u, p
	}
	a.Token = os.Getenv(envToken)
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return a, fmt.Errorf("--token-file: %w", err)
		}
		a.Token = strings.TrimSpace(string(b))
		if a.Token == "" {
			return a, fmt.Errorf("--token-file %s is empty", tokenFile)
		}
	}
	return a, nil
}

// loopbackAddr reports whether addr listens on loopback only: an empty
// host or 0.0.0.0 is every interface.
func loopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		// A name may resolve to anything: treated as not loopback.
		return false, nil
	}
	return ip.IsLoopback(), nil
}

// inspectSpec is the spider name of a spec (the server's catalog).
func inspectSpec(path string) (string, error) {
	spec, err := dsl.Load(path)
	if err != nil {
		return "", err
	}
	return spec.Name, nil
}

// validateJob checks a job exactly as `spiderrun validate -s ... -a ...`
// does (validate.go: the spec, settings, script, callbacks, selectors, and a
// .ts script's types when tsc is on the PATH), before the server accepts
// it; the error holds validate's messages.
func validateJob(path string, sets []string, args map[string]string) error {
	var errs bytes.Buffer
	if validateOne(io.Discard, &errs, path, sets, args, false) {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(errs.String()), "\n") {
		if !strings.HasPrefix(l, "warning: ") {
			lines = append(lines, l)
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}
