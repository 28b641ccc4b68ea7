// Package jobserver is `spiderrun serve`: a job server that runs each
// spider job as its own child process of the spiderrun binary, with a
// queue bounded by a max-parallel-jobs limit, job state in a bbolt store
// that survives restarts, a Scrapyd-compatible JSON API, authentication
// and a server-rendered dashboard. specs/operate.md documents it.
//
// One file per job: store.go (bbolt), catalog.go (the spiders of --specs),
// runner.go (child processes and the queue), live.go (stats snapshots and
// rate history), api.go (the JSON API), auth.go (credentials, CSRF, body
// limits), upload.go (addversion.json bundles), dashboard.go (HTML),
// cron.go (periodic schedules).
package jobserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultProject is the one project a server has: Scrapyd clients name a
// project in every call, and spiders come from one directory of specs.
const DefaultProject = "default"

// Options configure a Server.
type Options struct {
	// Data is the directory of the job store, logs, feeds and snapshots.
	Data string
	// Specs is the directory of spider specs (*.yaml, */spider.yaml).
	Specs string
	// MaxJobs is how many jobs run at once; more wait in the queue.
	MaxJobs int
	// Exe is the spiderrun binary each job runs (`Exe run SPEC ...`).
	Exe string
	// Inspect loads a spec and returns its spider name (dsl.Load).
	Inspect func(path string) (string, error)
	// Validate checks a spec with a job's settings and arguments as `spiderrun
	// validate` does, before the job is accepted.
	Validate func(path string, settings []string, args map[string]string) error
	// Auth holds the credentials; empty means no authentication.
	Auth Auth
	// Env is the jobs' environment (the command passes its own, less the
	// server's credentials); each job also gets SPIDERRUN_JOB_ID.
	Env []string
	// SnapshotInterval is the jobs' STATS_SNAPSHOT_INTERVAL.
	SnapshotInterval time.Duration
	// StopGrace is how long Close waits for running jobs after SIGTERM
	// before it kills them.
	StopGrace time.Duration
	// MaxBody bounds request bodies (bytes); MaxUpload those of
	// addversion.json.
	MaxBody, MaxUpload int64
	// NodeName is Scrapyd's node_name (the host name by default).
	NodeName string
	Logger   *slog.Logger
}

// Server is a running job server.
type Server struct {
	opts    Options
	store   *store
	log     *slog.Logger
	started time.Time
	csrfKey []byte
	cron    *cronRunner

	mu       sync.Mutex
	running  map[string]*child // by job id
	live     map[string]*liveJob
	stopping bool
	wg       sync.WaitGroup // the jobs' wait goroutines
	quit     chan struct{}
}

// New opens the store under opts.Data, marks the jobs that were running
// when the server last stopped as interrupted, and starts the queue.
func New(opts Options) (*Server, error) {
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = 4
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 30 * time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.NodeName == "" {
		opts.NodeName, _ = os.Hostname()
	}
	for _, d := range []string{opts.Data, filepath.Join(opts.Data, "logs"), filepath.Join(opts.Data, "items"), filepath.Join(opts.Data, "jobs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
	}
	if fi, err := os.Stat(opts.Specs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--specs %s: not a directory of spider specs", opts.Specs)
	}
	st, err := openStore(opts.Data)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		st.close()
		return nil, err
	}
	s := &Server{
		opts: opts, store: st, log: opts.Logger, started: time.Now(), csrfKey: key,
		running: map[string]*child{}, live: map[string]*liveJob{}, quit: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		st.close()
		return nil, err
	}
	s.cron, err = newCronRunner(s)
	if err != nil {
		st.close()
		return nil, err
	}
	go s.sample()
	s.dispatch()
	return s, nil
}

// recover reports the jobs the store says are running as interrupted: the
// server that ran them is gone (their children got SIGTERM when it died,
// Pdeathsig in runner.go).
func (s *Server) recover() error {
	jobs, err := s.store.jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State != Running {
			continue
		}
		_, err := s.store.update(j.ID, func(j *Job) {
			j.State, j.Outcome, j.Ended = Finished, OutcomeInterrupted, time.Now()
			j.Error = fmt.Sprintf("the server stopped while the job ran (pid %d)", j.PID)
		})
		if err != nil {
			return err
		}
		s.log.Warn("job was running when the server stopped: reported as interrupted", "job", j.ID, "spider", j.Spider, "resumable", j.JobDir != "")
	}
	return nil
}

// Handler is the HTTP handler of the API and the dashboard, behind
// authentication and body limits.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routeAPI(mux)
	s.routeDashboard(mux)
	return s.guard(mux)
}

// Close stops the queue, sends SIGTERM to the running jobs and waits for
// them (StopGrace, then SIGKILL); they are reported as interrupted.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	close(s.quit)
	for _, c := range s.running {
		c.signal(false)
	}
	s.mu.Unlock()
	s.cron.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.StopGrace):
		s.mu.Lock()
		for _, c := range s.running {
			c.signal(true)
		}
		s.mu.Unlock()
		<-done
	}
	return s.store.close()
}

// newID is a job id as Scrapyd makes them: 32 hex digits.
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// Paths of a job's files under --data.
func (s *Server) logPath(j *Job) string {
	return filepath.Join(s.opts.Data, "logs", j.Project, j.Spider, j.ID+".log")
}
func (s *Server) itemsPath(j *Job) string {
	return filepath.Join(s.opts.Data, "items", j.Project, j.Spider, j.ID+".jl")
}
func (s *Server) snapshotPath(j *Job) string {
	return filepath.Join(s.opts.Data, "jobs", j.ID, "snapshot.json")
}
func (s *Server) statsPath(j *Job) string {
	return filepath.Join(s.opts.Data, "jobs", j.ID, "stats.json")
}

var errNotFound = errors.New("not found")
