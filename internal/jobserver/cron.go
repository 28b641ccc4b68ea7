package jobserver

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// cronRunner runs the stored periodic schedules (cron syntax, five fields
// or @every/@daily descriptors) with robfig/cron.
type cronRunner struct {
	s       *Server
	c       *cron.Cron
	mu      sync.Mutex
	entries map[string]cron.EntryID
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func newCronRunner(s *Server) (*cronRunner, error) {
	cr := &cronRunner{s: s, c: cron.New(cron.WithParser(cronParser)), entries: map[string]cron.EntryID{}}
	scs, err := s.store.schedules()
	if err != nil {
		return nil, err
	}
	for _, sc := range scs {
		if err := cr.add(sc); err != nil {
			s.log.Error("stored schedule does not parse any more", "schedule", sc.ID, "cron", sc.Cron, "err", err)
		}
	}
	cr.c.Start()
	return cr, nil
}

func (cr *cronRunner) add(sc *Schedule) error {
	id, err := cr.c.AddFunc(sc.Cron, func() {
		j := &Job{Spider: sc.Spider, Args: sc.Args, Settings: sc.Settings, Schedule: sc.ID}
		if err := cr.s.submit(j); err != nil {
			cr.s.log.Error("periodic schedule could not start a job", "schedule", sc.ID, "spider", sc.Spider, "err", err)
			return
		}
		cr.s.log.Info("periodic schedule started a job", "schedule", sc.ID, "job", j.ID)
	})
	if err != nil {
		return err
	}
	cr.mu.Lock()
	cr.entries[sc.ID] = id
	cr.mu.Unlock()
	return nil
}

func (cr *cronRunner) remove(id string) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if e, ok := cr.entries[id]; ok {
		cr.c.Remove(e)
		delete(cr.entries, id)
	}
}

func (cr *cronRunner) next(id string) time.Time {
	cr.mu.Lock()
	e, ok := cr.entries[id]
	cr.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return cr.c.Entry(e).Next
}

func (cr *cronRunner) stop() { <-cr.c.Stop().Done() }

// addSchedule (not in Scrapyd) takes schedule.json's parameters and cron=
// and stores a periodic schedule.
func (s *Server) addSchedule(w http.ResponseWriter, r *http.Request) {
	if err := form(r); err != nil {
		s.failFor(w, err)
		return
	}
	j, err := jobFromForm(r)
	if err != nil {
		s.failFor(w, err)
		return
	}
	spec, err := required(r, "cron")
	if err != nil {
		s.failFor(w, err)
		return
	}
	if _, err := cronParser.Parse(spec); err != nil {
		s.failFor(w, &inputError{fmt.Errorf("cron %q: %w", spec, err)})
		return
	}
	sp, err := s.spider(j.Spider)
	if err != nil {
		s.failFor(w, &inputError{err})
		return
	}
	if err := s.opts.Validate(sp.Path, j.Settings, j.Args); err != nil {
		s.failFor(w, &inputError{fmt.Errorf("spider %s (%s): %w", j.Spider, sp.Path, err)})
		return
	}
	sc := &Schedule{ID: newID(), Project: DefaultProject, Spider: j.Spider, Cron: spec, Args: j.Args, Settings: j.Settings, Created: time.Now()}
	if err := s.store.putSchedule(sc); err != nil {
		s.failFor(w, err)
		return
	}
	if err := s.cron.add(sc); err != nil {
		s.failFor(w, err)
		return
	}
	s.reply(w, map[string]any{"id": sc.ID, "next_run": s.cron.next(sc.ID).Local().Format(scrapydTime)})
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	scs, err := s.store.schedules()
	if err != nil {
		s.failFor(w, err)
		return
	}
	out := []map[string]any{}
	for _, sc := range scs {
		e := map[string]any{"id": sc.ID, "project": sc.Project, "spider": sc.Spider, "cron": sc.Cron, "args": sc.Args, "settings": append([]string{}, sc.Settings...)}
		if n := s.cron.next(sc.ID); !n.IsZero() {
			e["next_run"] = n.Local().Format(scrapydTime)
		}
		out = append(out, e)
	}
	s.reply(w, map[string]any{"schedules": out})
}

func (s *Server) delSchedule(w http.ResponseWriter, r *http.Request) {
	if err := form(r); err != nil {
		s.failFor(w, err)
		return
	}
	id, err := required(r, "id")
	if err != nil {
		s.failFor(w, err)
		return
	}
	found, err := s.store.deleteSchedule(id)
	if err != nil {
		s.failFor(w, err)
		return
	}
	if !found {
		s.failFor(w, fmt.Errorf("schedule %q: %w", id, errNotFound))
		return
	}
	s.cron.remove(id)
	s.reply(w, map[string]any{})
}
