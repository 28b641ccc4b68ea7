package spiderrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// jobdirSaveInterval is how often the cookies, the register_sessions
// state and spider.state are written to the JOBDIR while they change: a
// kill -9 loses at most this much of them (specs/jobdir.md).
const jobdirSaveInterval = 2 * time.Second

// jobState is the disk scheduler together with what a resumed crawl needs
// beside its frontier: the cookies of every jar, the register_sessions
// members' state and spider.state. They are restored when the crawler is
// built (before the spider opens and start() runs), saved every
// jobdirSaveInterval while they change, and saved once more when the
// engine closes the scheduler (after the spider's closed hook).
type jobState struct {
	*diskq.Scheduler
	jars     *middleware.CookieJars
	sessions *session.Registry
	js       *jsbridge.Spider
	log      *slog.Logger

	saveMu   sync.Mutex // one save at a time; guards last and stateErr
	last     diskq.Saved
	stateErr string // last spider.state error logged, to log each once

	opened   atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{} // closed when saveLoop returns
}

// withJobState wraps the disk scheduler d (diskBackend) in a jobState
// after restoring what the previous run saved; on error d is closed.
func withJobState(d *diskq.Scheduler, jars *middleware.CookieJars, sessions *session.Registry, js *jsbridge.Spider, logger *slog.Logger) (*jobState, error) {
	j := &jobState{Scheduler: d, jars: jars, sessions: sessions, js: js, log: logger,
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := j.restore(); err != nil {
		_ = d.Close(context.Background(), "shutdown")
		return nil, fmt.Errorf("jobdir: %w", err)
	}
	return j, nil
}

func (j *jobState) restore() error {
	saved, err := j.LoadSaved()
	if err != nil {
		return err
	}
	cookies := map[string][]middleware.SavedCookie{}
	n := 0
	for key, data := range saved.Cookies {
		var cs []middleware.SavedCookie
		if err := json.Unmarshal(data, &cs); err != nil {
			// Our own encoding: only a damaged file gets here. Losing a
			// jar's cookies is better than refusing the resume.
			j.log.Warn("jobdir: saved cookies of a jar cannot be read; the jar starts empty", "jar", key, "error", err)
			continue
		}
		cookies[key] = cs
		n += len(cs)
	}
	j.jars.Restore(cookies)
	if saved.Sessions != nil {
		var states map[string]session.MemberState
		if err := json.Unmarshal(saved.Sessions, &states); err != nil {
			j.log.Warn("jobdir: saved register_sessions state cannot be read", "error", err)
		} else {
			j.sessions.Restore(states)
		}
	}
	if saved.SpiderState != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := j.js.SetState(ctx, saved.SpiderState); err != nil {
			return err
		}
	}
	j.last = saved
	if n > 0 || saved.SpiderState != nil {
		j.log.Info("restored from jobdir", "jobdir", j.Dir(), "cookies", n, "jars", len(cookies),
			"spider_state_bytes", len(saved.SpiderState))
	}
	return nil
}

// Open opens the disk scheduler and starts the periodic saves.
func (j *jobState) Open(ctx context.Context) error {
	if err := j.Scheduler.Open(ctx); err != nil {
		return err
	}
	if j.opened.CompareAndSwap(false, true) {
		go j.saveLoop()
	}
	return nil
}

func (j *jobState) saveLoop() {
	defer close(j.done)
	t := time.NewTicker(jobdirSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), jobdirSaveInterval)
			j.save(ctx, true)
			cancel()
		}
	}
}

// Close stops the periodic saves, saves a last time and closes the disk
// scheduler. A finished crawl's cookies are deleted by diskq, so only
// spider.state is saved then.
func (j *jobState) Close(ctx context.Context, reason string) error {
	j.stopOnce.Do(func() { close(j.stop) })
	if j.opened.Load() {
		select {
		case <-j.done:
		case <-ctx.Done():
		}
	}
	j.save(ctx, reason != diskq.ReasonFinished)
	return j.Scheduler.Close(ctx, reason)
}

// save writes what changed since the last save in one transaction.
func (j *jobState) save(ctx context.Context, withCookies bool) {
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	var v diskq.Saved
	if withCookies {
		cookies := map[string][]byte{}
		for key, cs := range j.jars.Saved() {
			b, err := json.Marshal(cs)
			if err != nil {
				j.log.Error("jobdir: cookies cannot be encoded", "error", err)
				return
			}
			cookies[key] = b
		}
		if !maps.EqualFunc(cookies, j.last.Cookies, bytes.Equal) {
			v.Cookies = cookies
		}
		if st := j.sessions.Saved(); len(st) > 0 {
			if b, err := json.Marshal(st); err == nil && !bytes.Equal(b, j.last.Sessions) {
				v.Sessions = b
			}
		}
	}
	state, err := j.js.State(ctx)
	switch {
	case err != nil:
		// Logged once per distinct error, not every interval.
		if msg := err.Error(); msg != j.stateErr {
			j.stateErr = msg
			j.log.Error("jobdir: spider.state not saved", "error", err)
		}
	case !bytes.Equal(state, j.last.SpiderState):
		j.stateErr = ""
		v.SpiderState = state
	}
	if v.Cookies == nil && v.Sessions == nil && v.SpiderState == nil {
		return
	}
	if err := j.Save(v); err != nil {
		j.log.Error("jobdir: saving cookies and spider.state failed", "error", err)
		return
	}
	if v.Cookies != nil {
		j.last.Cookies = v.Cookies
	}
	if v.Sessions != nil {
		j.last.Sessions = v.Sessions
	}
	if v.SpiderState != nil {
		j.last.SpiderState = v.SpiderState
	}
	j.log.Debug("jobdir: saved", "cookie_jars", len(j.last.Cookies), "cookies_changed", v.Cookies != nil,
		"sessions_changed", v.Sessions != nil, "spider_state_changed", v.SpiderState != nil)
}
