package diskq

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// compactFile is the copy a finished crawl's database is rewritten into
// before it replaces DBFile.
const compactFile = DBFile + ".compact"

var (
	stateSessions = []byte("sessions")
	stateSpider   = []byte("spider")
	cookiePrefix  = "jar:"
)

// Saved is what a crawl keeps in the job directory beside its frontier, so
// that a resumed crawl is still logged in and keeps its spider's state.
// The values are stored as given; the caller encodes them (JSON).
type Saved struct {
	// Cookies holds the cookies of each cookie jar by jar key ("" is the
	// default jar).
	Cookies map[string][]byte
	// Sessions is the state of the register_sessions groups.
	Sessions []byte
	// SpiderState is the spider's state (spider.state).
	SpiderState []byte
}

// LoadSaved returns what the previous runs saved (nothing in a new
// directory). A finished crawl (Close with ReasonFinished) leaves its
// spider state, not its cookies nor its sessions.
func (s *Scheduler) LoadSaved() (Saved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Saved{}, scheduler.ErrClosed
	}
	var v Saved
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCookies).Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			key, ok := bytes.CutPrefix(k, []byte(cookiePrefix))
			if !ok {
				continue
			}
			if v.Cookies == nil {
				v.Cookies = map[string][]byte{}
			}
			v.Cookies[string(key)] = bytes.Clone(val)
		}
		st := tx.Bucket(bucketState)
		v.Sessions = bytes.Clone(st.Get(stateSessions))
		v.SpiderState = bytes.Clone(st.Get(stateSpider))
		return nil
	})
	if err != nil {
		return Saved{}, fmt.Errorf("jobdir %s: read saved state: %w", s.dir, err)
	}
	return v, nil
}

// Save stores v in one transaction (a kill leaves either the previous save
// or this one). Cookies, when not nil, replaces the saved cookies of every
// jar: a jar missing from the map is deleted. Sessions and SpiderState,
// when not nil, replace theirs; nil fields are left as they are. Values
// equal to the stored ones are not rewritten.
func (s *Scheduler) Save(v Saved) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return scheduler.ErrClosed
	}
	err := s.update(func(tx *bolt.Tx) error {
		if v.Cookies != nil {
			b := tx.Bucket(bucketCookies)
			var stale [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				key, _ := bytes.CutPrefix(k, []byte(cookiePrefix))
				if _, ok := v.Cookies[string(key)]; !ok {
					stale = append(stale, bytes.Clone(k))
				}
			}
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			for key, val := range v.Cookies {
				if err := putChanged(b, []byte(cookiePrefix+key), val); err != nil {
					return err
				}
			}
		}
		st := tx.Bucket(bucketState)
		if v.Sessions != nil {
			if err := putChanged(st, stateSessions, v.Sessions); err != nil {
				return err
			}
		}
		if v.SpiderState != nil {
			return putChanged(st, stateSpider, v.SpiderState)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save: %w", s.writeErr(err))
	}
	return nil
}

func putChanged(b *bolt.Bucket, k, v []byte) error {
	if old := b.Get(k); old != nil && bytes.Equal(old, v) {
		return nil
	}
	return b.Put(k, v)
}

// compact rewrites the database into a new file holding only live data and
// renames it over DBFile, so the bytes of deleted entries (cookies, fetched
// requests) are no longer in the file. The caller holds s.mu and closes
// s.db afterwards (compact closes it before the rename; closing twice is
// harmless). On an error the original file is left as it was.
func (s *Scheduler) compact() error {
	tmp := filepath.Join(s.dir, compactFile)
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	err = func() (err error) {
		defer s.recoverDamage(&err)
		return bolt.Compact(dst, s.db, 64<<20)
	}()
	if err == nil {
		// The copy must be on disk before it replaces the original.
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.db.Close()
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, DBFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
