package jobserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Job states, as Scrapyd names them in listjobs.json.
const (
	Pending  = "pending"
	Running  = "running"
	Finished = "finished"
)

// Outcomes of a finished job (not in Scrapyd, whose finished list does
// not tell a crash from a success).
const (
	OutcomeFinished    = "finished"    // the child exited 0
	OutcomeFailed      = "failed"      // the child exited non-zero or could not start
	OutcomeCancelled   = "cancelled"   // cancel.json, before or while it ran
	OutcomeInterrupted = "interrupted" // the server stopped or died while it ran
)

// Job is one scheduled run of a spider, as kept in the store.
type Job struct {
	ID       string            `json:"id"`
	Project  string            `json:"project"`
	Spider   string            `json:"spider"`
	Spec     string            `json:"spec"` // path of the spec file
	Args     map[string]string `json:"args,omitempty"`
	Settings []string          `json:"settings,omitempty"` // KEY=VALUE, in the order given
	Priority float64           `json:"priority"`

	State    string    `json:"state"`
	Outcome  string    `json:"outcome,omitempty"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitempty"`
	Ended    time.Time `json:"ended,omitempty"`
	PID      int       `json:"pid,omitempty"`
	ExitCode int       `json:"exit_code,omitempty"`
	Error    string    `json:"error,omitempty"`
	Cancels  int       `json:"cancels,omitempty"`   // cancel requests while running
	JobDir   string    `json:"jobdir,omitempty"`    // the JOBDIR setting, when given: the job can be resumed
	ResumeOf string    `json:"resume_of,omitempty"` // the interrupted job this one resumes
	Schedule string    `json:"schedule,omitempty"`  // the periodic schedule that made it
}

// Schedule is a periodic schedule (cron syntax) that creates jobs.
type Schedule struct {
	ID       string            `json:"id"`
	Project  string            `json:"project"`
	Spider   string            `json:"spider"`
	Cron     string            `json:"cron"`
	Args     map[string]string `json:"args,omitempty"`
	Settings []string          `json:"settings,omitempty"`
	Created  time.Time         `json:"created"`
}

var (
	jobsBucket      = []byte("jobs")
	schedulesBucket = []byte("schedules")
)

// store keeps jobs and schedules in a bbolt file under --data, so they
// survive a restart of the server.
type store struct{ db *bolt.DB }

func openStore(dir string) (*store, error) {
	path := filepath.Join(dir, "jobs.db")
	// bbolt locks the file: a second server on the same --data waits for
	// the lock; the timeout turns that into an error naming the file.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("job store %s is locked: is another spiderrun serve using --data %s?", path, dir)
		}
		return nil, fmt.Errorf("job store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{jobsBucket, schedulesBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("job store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) put(j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(jobsBucket).Put([]byte(j.ID), b) })
}

// insert adds a new job; an existing ID is an error.
func (s *store) insert(j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(jobsBucket)
		if bk.Get([]byte(j.ID)) != nil {
			return errDuplicate
		}
		return bk.Put([]byte(j.ID), b)
	})
}

var errDuplicate = errors.New("a job with this id exists")

func (s *store) get(id string) (*Job, error) {
	var j *Job
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket).Get([]byte(id))
		if b == nil {
			return nil
		}
		j = new(Job)
		return json.Unmarshal(b, j)
	})
	return j, err
}

// update applies f to the stored job id and saves it.
func (s *store) update(id string, f func(*Job)) (*Job, error) {
	var j Job
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(jobsBucket)
		b := bk.Get([]byte(id))
		if b == nil {
			return fmt.Errorf("job %s: not in the store", id)
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		f(&j)
		nb, err := json.Marshal(&j)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), nb)
	})
	return &j, err
}

// jobs returns every job, oldest first.
func (s *store) jobs() ([]*Job, error) {
	var out []*Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			j := new(Job)
			if err := json.Unmarshal(v, j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			out = append(out, j)
			return nil
		})
	})
	sort.SliceStable(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out, err
}

func (s *store) putSchedule(sc *Schedule) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(schedulesBucket).Put([]byte(sc.ID), b) })
}

func (s *store) deleteSchedule(id string) (bool, error) {
	found := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(schedulesBucket)
		found = bk.Get([]byte(id)) != nil
		return bk.Delete([]byte(id))
	})
	return found, err
}

func (s *store) schedules() ([]*Schedule, error) {
	var out []*Schedule
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(schedulesBucket).ForEach(func(k, v []byte) error {
			sc := new(Schedule)
			if err := json.Unmarshal(v, sc); err != nil {
				return fmt.Errorf("schedule %s: %w", k, err)
			}
			out = append(out, sc)
			return nil
		})
	})
	sort.SliceStable(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out, err
}
