package jobserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// child is a running job's process.
type child struct {
	cmd *exec.Cmd
}

// signal asks the child to stop: SIGTERM is spiderrun's graceful stop (in-
// flight requests finish, feeds are flushed), SIGKILL ends it at once.
func (c *child) signal(kill bool) {
	if c.cmd.Process == nil {
		return
	}
	if kill {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
}

// dispatch starts pending jobs while fewer than MaxJobs run: the highest
// priority first, then the oldest.
func (s *Server) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || len(s.running) >= s.opts.MaxJobs {
		return
	}
	jobs, err := s.store.jobs()
	if err != nil {
		s.log.Error("job store", "err", err)
		return
	}
	var pending []*Job
	for _, j := range jobs {
		if j.State == Pending {
			pending = append(pending, j)
		}
	}
	sort.SliceStable(pending, func(a, b int) bool { return pending[a].Priority > pending[b].Priority })
	for _, j := range pending {
		if len(s.running) >= s.opts.MaxJobs {
			return
		}
		s.startLocked(j)
	}
}

// args is the command line of a job's child: `spiderrun run SPEC` with its
// log, feed, stats and snapshot files under --data, then the job's -a and
// -s (which come last, so they win over the server's).
func (s *Server) args(j *Job) []string {
	a := []string{"run", j.Spec,
		"--logfile", s.logPath(j),
		"-O", s.itemsPath(j) + ":jsonlines",
		"--stats-json", s.statsPath(j),
		"-s", "STATS_SNAPSHOT_FILE=" + s.snapshotPath(j),
		"-s", "STATS_SNAPSHOT_INTERVAL=" + s.opts.SnapshotInterval.String(),
	}
	keys := make([]string, 0, len(j.Args))
	for k := range j.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "-a", k+"="+j.Args[k])
	}
	for _, kv := range j.Settings {
		a = append(a, "-s", kv)
	}
	return a
}

// startLocked starts j's child process; s.mu is held. A job that cannot
// start is finished as failed with the reason.
func (s *Server) startLocked(j *Job) {
	for _, p := range []string{s.logPath(j), s.itemsPath(j), s.snapshotPath(j)} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.failLocked(j, err)
			return
		}
	}
	logf, err := os.OpenFile(s.logPath(j), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.failLocked(j, err)
		return
	}
	cmd := exec.Command(s.opts.Exe, s.args(j)...)
	// The jobs' relative paths (JOBDIR on -s) are under --data.
	cmd.Dir = s.opts.Data
	// What the child writes outside its log (a Go panic, a usage error
	// before the log is open) still ends up in the job's log.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append([]string(nil), s.opts.Env...), "SPIDERRUN_JOB_ID="+j.ID)
	// Its own process group: a Ctrl-C on the server's terminal is the
	// server's to handle (it stops the jobs itself). Pdeathsig: a server
	// killed outright still stops its jobs gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	c := &child{cmd: cmd}
	started := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Pdeathsig fires when the thread that started the child exits:
		// this goroutine keeps its thread until the child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err != nil {
			logf.Close()
			return
		}
		werr := cmd.Wait()
		logf.Close()
		s.finish(j.ID, werr)
	}()
	if err := <-started; err != nil {
		s.failLocked(j, fmt.Errorf("start %s: %w", s.opts.Exe, err))
		return
	}
	s.running[j.ID] = c
	s.live[j.ID] = &liveJob{}
	_, err = s.store.update(j.ID, func(j *Job) {
		j.State, j.Started, j.PID = Running, time.Now(), cmd.Process.Pid
	})
	if err != nil {
		s.log.Error("job store", "job", j.ID, "err", err)
	}
	s.log.Info("job started", "job", j.ID, "spider", j.Spider, "pid", cmd.Process.Pid)
}

func (s *Server) failLocked(j *Job, err error) {
	_, uerr := s.store.update(j.ID, func(j *Job) {
		j.State, j.Outcome, j.Ended, j.Error = Finished, OutcomeFailed, time.Now(), err.Error()
	})
	if uerr != nil {
		s.log.Error("job store", "job", j.ID, "err", uerr)
	}
	s.log.Error("job failed to start", "job", j.ID, "spider", j.Spider, "err", err)
}

// finish records how a job's child ended and starts the next pending job.
func (s *Server) finish(id string, werr error) {
	s.mu.Lock()
	stopping := s.stopping
	delete(s.running, id)
	s.mu.Unlock()
	code := 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if werr != nil {
		code = -1
	}
	j, err := s.store.update(id, func(j *Job) {
		j.State, j.Ended, j.ExitCode = Finished, time.Now(), code
		switch {
		case j.Cancels > 0:
			j.Outcome = OutcomeCancelled
		case stopping:
			j.Outcome = OutcomeInterrupted
			j.Error = "the server stopped while the job ran"
		case code == 0:
			j.Outcome = OutcomeFinished
		default:
			j.Outcome = OutcomeFailed
			j.Error = fmt.Sprintf("exit status %d%s", code, lastError(s.logPath(j)))
		}
	})
	if err != nil {
		s.log.Error("job store", "job", id, "err", err)
		return
	}
	s.log.Info("job ended", "job", id, "spider", j.Spider, "outcome", j.Outcome, "exit", code)
	s.dispatch()
}

// lastError is the last "spiderrun: ..." or ERROR line of a job's log, to
// say why it failed without opening the log.
func lastError(path string) string {
	b, err := readTail(path, 16<<10)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "spiderrun: ") || strings.Contains(l, "] ERROR: ") {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			return ": " + l
		}
	}
	return ""
}

// cancel stops a job as Scrapyd's cancel.json does and returns its state
// before: a pending job is removed from the queue (finished, cancelled); a
// running one gets SIGTERM, and SIGKILL on a second cancel (or at once
// with kill).
func (s *Server) cancel(id string, kill bool) (prev string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.store.get(id)
	if err != nil {
		return "", err
	}
	if j == nil {
		return "", errNotFound
	}
	prev = j.State
	switch j.State {
	case Pending:
		_, err = s.store.update(id, func(j *Job) {
			j.State, j.Outcome, j.Ended = Finished, OutcomeCancelled, time.Now()
		})
	case Running:
		c := s.running[id]
		if c == nil {
			return prev, nil
		}
		var n int
		_, err = s.store.update(id, func(j *Job) { j.Cancels++; n = j.Cancels })
		c.signal(kill || n > 1)
		s.log.Info("job cancelled", "job", id, "kill", kill || n > 1)
	}
	return prev, err
}

// submit validates and stores a new pending job and starts it when a slot
// is free.
func (s *Server) submit(j *Job) error {
	sp, err := s.spider(j.Spider)
	if err != nil {
		return &inputError{err}
	}
	if err := s.opts.Validate(sp.Path, j.Settings, j.Args); err != nil {
		return &inputError{fmt.Errorf("spider %s (%s): %w", j.Spider, sp.Path, err)}
	}
	j.Spec = sp.Path
	if j.ID == "" {
		j.ID = newID()
	}
	j.Project = DefaultProject
	j.State = Pending
	j.Created = time.Now()
	for _, kv := range j.Settings {
		if k, v, _ := strings.Cut(kv, "="); strings.TrimSpace(k) == "JOBDIR" && v != "" {
			j.JobDir = v
		}
	}
	if err := s.store.insert(j); err != nil {
		if errors.Is(err, errDuplicate) {
			return &inputError{fmt.Errorf("jobid %q is taken", j.ID)}
		}
		return err
	}
	s.dispatch()
	return nil
}

// resume schedules a new job that continues an interrupted or cancelled
// one from its JOBDIR.
func (s *Server) resume(id string) (*Job, error) {
	old, err := s.store.get(id)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, errNotFound
	}
	if old.State != Finished || old.JobDir == "" || old.Outcome == OutcomeFinished {
		return nil, &inputError{fmt.Errorf("job %s cannot be resumed: only a stopped job with a JOBDIR can (state %s, outcome %s)", id, old.State, old.Outcome)}
	}
	nj := &Job{Spider: old.Spider, Args: old.Args, Settings: old.Settings, Priority: old.Priority, ResumeOf: old.ID}
	if err := s.submit(nj); err != nil {
		return nil, err
	}
	return nj, nil
}

// inputError is a request the client got wrong (a 4xx).
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }
