package jobserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// scrapydTime is how Scrapyd writes times (Python's str(datetime), local
// time): "2026-12-07 14:05:09.123456".
const scrapydTime = "2006-01-02 15:04:05.000000"

// validID is what a job id (and a spider name in a URL) may hold: no path
// separators, so it is safe in file names.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (s *Server) routeAPI(mux *http.ServeMux) {
	for _, r := range []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"GET", "/daemonstatus.json", s.daemonStatus},
		{"GET", "/listprojects.json", s.listProjects},
		{"GET", "/listversions.json", s.listVersions},
		{"GET", "/listspiders.json", s.listSpiders},
		{"GET", "/listjobs.json", s.listJobs},
		{"GET", "/status.json", s.jobStatus},
		{"POST", "/schedule.json", s.schedule},
		{"POST", "/cancel.json", s.cancelJob},
		{"POST", "/resume.json", s.resumeJob},
		{"GET", "/jobs/{id}/stats.json", s.jobStats},
		{"GET", "/logs/{project}/{spider}/{file}", s.jobFile("log")},
		{"GET", "/items/{project}/{spider}/{file}", s.jobFile("items")},
		{"POST", "/addversion.json", s.addVersion},
		{"POST", "/addschedule.json", s.addSchedule},
		{"GET", "/listschedules.json", s.listSchedules},
		{"POST", "/delschedule.json", s.delSchedule},
	} {
		mux.HandleFunc(r.path, s.onlyMethod(r.method, r.h))
	}
}

// onlyMethod answers any other method than method (HEAD counting as GET)
// with Scrapyd's JSON error and 405, as every API error is JSON, instead
// of the mux's plain-text "Method Not Allowed".
func (s *Server) onlyMethod(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			s.fail(w, http.StatusMethodNotAllowed, fmt.Errorf("%s takes %s, not %s", r.URL.Path, method, r.Method))
			return
		}
		h(w, r)
	}
}

// reply writes a JSON object with Scrapyd's "node_name" and "status": "ok".
func (s *Server) reply(w http.ResponseWriter, v map[string]any) {
	v["node_name"] = s.opts.NodeName
	if _, ok := v["status"]; !ok {
		v["status"] = "ok"
	}
	writeJSON(w, http.StatusOK, v)
}

// fail writes Scrapyd's error object: {"status": "error", "message": ...}.
func (s *Server) fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]any{"node_name": s.opts.NodeName, "status": "error", "message": err.Error()})
}

// failFor maps an error to its status: the client's mistakes are 4xx.
func (s *Server) failFor(w http.ResponseWriter, err error) {
	var ie *inputError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", mb.Limit))
	case errors.As(err, &ie):
		s.fail(w, http.StatusBadRequest, err)
	case errors.Is(err, errNotFound):
		s.fail(w, http.StatusNotFound, err)
	default:
		s.log.Error("request failed", "err", err)
		s.fail(w, http.StatusInternalServerError, err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// form parses the request's parameters (query and a urlencoded or
// multipart body, as Scrapyd accepts them) within the body limit.
func form(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(1 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &inputError{fmt.Errorf("bad request parameters: %w", err)}
	}
	return nil
}

// required returns the parameter name or an input error naming it.
func required(r *http.Request, name string) (string, error) {
	v := r.Form.Get(name)
	if v == "" {
		return "", &inputError{fmt.Errorf("missing required parameter: %s", name)}
	}
	return v, nil
}

// project checks the project parameter: a server has one project.
// formProject parses the request's parameters and checks its project
// (required when need is set): the start of every Scrapyd endpoint.
func formProject(r *http.Request, need bool) error {
	if err := form(r); err != nil {
		return err
	}
	return project(r, need)
}

func project(r *http.Request, need bool) error {
	p := r.Form.Get("project")
	if p == "" {
		if need {
			return &inputError{errors.New("missing required parameter: project")}
		}
		return nil
	}
	if p != DefaultProject {
		return &inputError{fmt.Errorf("project %q not found (this server has one project, %q)", p, DefaultProject)}
	}
	return nil
}

func (s *Server) counts() (pending, running, finished int, err error) {
	jobs, err := s.store.jobs()
	for _, j := range jobs {
		switch j.State {
		case Pending:
			pending++
		case Running:
			running++
		case Finished:
			finished++
		}
	}
	return
}

func (s *Server) daemonStatus(w http.ResponseWriter, r *http.Request) {
	p, ru, f, err := s.counts()
	if err != nil {
		s.failFor(w, err)
		return
	}
	s.reply(w, map[string]any{"pending": p, "running": ru, "finished": f})
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	s.reply(w, map[string]any{"projects": []string{DefaultProject}})
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, true); err != nil {
		s.failFor(w, err)
		return
	}
	cat, err := s.catalog()
	if err != nil {
		s.failFor(w, err)
		return
	}
	versions := []string{}
	for _, e := range cat {
		if v := s.uploadedVersion(e.Path); v != "" && e.Err == nil {
			versions = append(versions, v)
		}
	}
	s.reply(w, map[string]any{"versions": versions})
}

func (s *Server) listSpiders(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, true); err != nil {
		s.failFor(w, err)
		return
	}
	cat, err := s.catalog()
	if err != nil {
		s.failFor(w, err)
		return
	}
	names := []string{}
	invalid := map[string]string{}
	for _, e := range cat {
		if e.Err != nil {
			invalid[e.Path] = e.Err.Error()
			continue
		}
		names = append(names, e.Name)
	}
	out := map[string]any{"spiders": names}
	if len(invalid) > 0 {
		out["invalid"] = invalid // not in Scrapyd: specs that do not load, and why
	}
	s.reply(w, out)
}

// reserved are schedule.json's own parameters; every other one is a spider
// argument.
var reserved = map[string]bool{"project": true, "spider": true, "setting": true, "jobid": true, "priority": true, "_version": true, "cron": true, "id": true}

// jobFromForm reads a job (or a schedule's template) from schedule.json's
// parameters.
func jobFromForm(r *http.Request) (*Job, error) {
	if err := project(r, true); err != nil {
		return nil, err
	}
	spider, err := required(r, "spider")
	if err != nil {
		return nil, err
	}
	j := &Job{Spider: spider, Args: map[string]string{}}
	for _, kv := range r.Form["setting"] {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &inputError{fmt.Errorf("setting %q: want KEY=VALUE", kv)}
		}
		j.Settings = append(j.Settings, kv)
	}
	if p := r.Form.Get("priority"); p != "" {
		if j.Priority, err = strconv.ParseFloat(p, 64); err != nil {
			return nil, &inputError{fmt.Errorf("priority %q: not a number", p)}
		}
	}
	for k, vs := range r.Form {
		if !reserved[k] && len(vs) > 0 {
			j.Args[k] = vs[0]
		}
	}
	return j, nil
}

func (s *Server) schedule(w http.ResponseWriter, r *http.Request) {
	if err := form(r); err != nil {
		s.failFor(w, err)
		return
	}
	j, err := jobFromForm(r)
	if err != nil {
		s.failFor(w, err)
		return
	}
	if id := r.Form.Get("jobid"); id != "" {
		if !validID.MatchString(id) {
			s.failFor(w, &inputError{fmt.Errorf("jobid %q: use letters, digits, '.', '_' and '-' (at most 128)", id)})
			return
		}
		j.ID = id
	}
	if err := s.submit(j); err != nil {
		s.failFor(w, err)
		return
	}
	s.reply(w, map[string]any{"jobid": j.ID})
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, true); err != nil {
		s.failFor(w, err)
		return
	}
	id, err := required(r, "job")
	if err != nil {
		s.failFor(w, err)
		return
	}
	// Scrapyd's optional signal: TERM (the default) and INT stop
	// gracefully, KILL at once.
	var kill bool
	switch sig := strings.TrimPrefix(strings.ToUpper(r.Form.Get("signal")), "SIG"); sig {
	case "", "TERM", "INT", "15", "2":
	case "KILL", "9":
		kill = true
	default:
		s.failFor(w, &inputError{fmt.Errorf("signal %q: use TERM, INT or KILL", r.Form.Get("signal"))})
		return
	}
	prev, err := s.cancel(id, kill)
	if err != nil {
		if errors.Is(err, errNotFound) {
			err = fmt.Errorf("job %q: %w", id, errNotFound)
		}
		s.failFor(w, err)
		return
	}
	s.reply(w, map[string]any{"prevstate": prev})
}

// jobStatus is Scrapyd's status.json: one job's state, "unknown" for a job
// the server does not have.
func (s *Server) jobStatus(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, false); err != nil {
		s.failFor(w, err)
		return
	}
	id, err := required(r, "job")
	if err != nil {
		s.failFor(w, err)
		return
	}
	j, err := s.store.get(id)
	if err != nil {
		s.failFor(w, err)
		return
	}
	state := "unknown"
	if j != nil {
		state = j.State
	}
	s.reply(w, map[string]any{"currstate": state})
}

func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request) {
	if err := form(r); err != nil {
		s.failFor(w, err)
		return
	}
	id, err := required(r, "job")
	if err != nil {
		s.failFor(w, err)
		return
	}
	nj, err := s.resume(id)
	if err != nil {
		if errors.Is(err, errNotFound) {
			err = fmt.Errorf("job %q: %w", id, errNotFound)
		}
		s.failFor(w, err)
		return
	}
	s.reply(w, map[string]any{"jobid": nj.ID})
}

func (s *Server) urls(j *Job) (logURL, itemsURL string) {
	return "/logs/" + j.Project + "/" + j.Spider + "/" + j.ID + ".log",
		"/items/" + j.Project + "/" + j.Spider + "/" + j.ID + ".jl"
}

// listEntry is a job as listjobs.json shows it: Scrapyd's fields for its
// state, then ours (outcome, exit_code, error, stats_url).
func (s *Server) listEntry(j *Job) map[string]any {
	e := map[string]any{"project": j.Project, "spider": j.Spider, "id": j.ID}
	logURL, itemsURL := s.urls(j)
	switch j.State {
	case Pending:
		set := map[string]string{}
		for _, kv := range j.Settings {
			k, v, _ := strings.Cut(kv, "=")
			set[k] = v
		}
		e["version"] = nil
		e["settings"] = set
		e["args"] = j.Args
	case Running:
		e["pid"] = j.PID
		e["start_time"] = j.Started.Local().Format(scrapydTime)
		e["log_url"], e["items_url"] = logURL, itemsURL
	case Finished:
		e["start_time"] = nil
		if !j.Started.IsZero() {
			e["start_time"] = j.Started.Local().Format(scrapydTime)
			e["log_url"], e["items_url"] = logURL, itemsURL
		}
		e["end_time"] = j.Ended.Local().Format(scrapydTime)
		e["outcome"] = j.Outcome
		e["exit_code"] = j.ExitCode
		if j.Error != "" {
			e["error"] = j.Error
		}
		if j.JobDir != "" && j.Outcome != OutcomeFinished {
			e["resumable"] = true
		}
	}
	e["stats_url"] = "/jobs/" + j.ID + "/stats.json"
	if j.Schedule != "" {
		e["schedule"] = j.Schedule // the periodic schedule that made it
	}
	if j.ResumeOf != "" {
		e["resume_of"] = j.ResumeOf
	}
	return e
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, false); err != nil {
		s.failFor(w, err)
		return
	}
	jobs, err := s.store.jobs()
	if err != nil {
		s.failFor(w, err)
		return
	}
	pending, running, finished := []map[string]any{}, []map[string]any{}, []map[string]any{}
	var fin []*Job
	for _, j := range jobs {
		switch j.State {
		case Pending:
			pending = append(pending, s.listEntry(j))
		case Running:
			running = append(running, s.listEntry(j))
		default:
			fin = append(fin, j)
		}
	}
	// The most recently finished first.
	sort.SliceStable(fin, func(a, b int) bool { return fin[a].Ended.After(fin[b].Ended) })
	for _, j := range fin {
		finished = append(finished, s.listEntry(j))
	}
	s.reply(w, map[string]any{"pending": pending, "running": running, "finished": finished})
}

// jobStats is not in Scrapyd: a job's entry, its latest stats snapshot and,
// once it has ended, its final stats (--stats-json).
func (s *Server) jobStats(w http.ResponseWriter, r *http.Request) {
	j, err := s.store.get(r.PathValue("id"))
	if err != nil {
		s.failFor(w, err)
		return
	}
	if j == nil {
		s.failFor(w, fmt.Errorf("job %q: %w", r.PathValue("id"), errNotFound))
		return
	}
	out := map[string]any{"job": s.listEntry(j), "state": j.State}
	if snap := s.snapshot(j); snap != nil {
		out["snapshot"] = snap
	} else {
		out["snapshot"] = nil
	}
	if b, err := os.ReadFile(s.statsPath(j)); err == nil {
		var final map[string]any
		if json.Unmarshal(b, &final) == nil {
			out["stats"] = final
		}
	}
	s.reply(w, out)
}

// jobFile serves a job's log or feed. The URL names the job; the file is
// found from the store, never from the URL's path, so nothing outside
// --data can be reached.
func (s *Server) jobFile(kind string) http.HandlerFunc {
	ext := map[string]string{"log": ".log", "items": ".jl"}[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutSuffix(r.PathValue("file"), ext)
		if !ok || !validID.MatchString(id) {
			s.fail(w, http.StatusNotFound, fmt.Errorf("%s: %w", r.URL.Path, errNotFound))
			return
		}
		j, err := s.store.get(id)
		if err != nil {
			s.failFor(w, err)
			return
		}
		if j == nil || j.Project != r.PathValue("project") || j.Spider != r.PathValue("spider") {
			s.fail(w, http.StatusNotFound, fmt.Errorf("%s: %w", r.URL.Path, errNotFound))
			return
		}
		path := s.logPath(j)
		ctype := "text/plain; charset=utf-8"
		if kind == "items" {
			path, ctype = s.itemsPath(j), "application/x-ndjson"
		}
		f, err := os.Open(path)
		if err != nil {
			s.fail(w, http.StatusNotFound, fmt.Errorf("%s: no %s yet", r.URL.Path, kind))
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			s.failFor(w, err)
			return
		}
		w.Header().Set("Content-Type", ctype)
		http.ServeContent(w, r, "", fi.ModTime(), f)
	}
}

// uptime is for the dashboard's header.
func (s *Server) uptime() time.Duration { return time.Since(s.started).Round(time.Second) }
