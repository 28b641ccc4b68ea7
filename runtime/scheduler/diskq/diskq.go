// Package diskq is the disk backend of the crawl frontier (JOBDIR, SCHEDULER
// disk): a priority queue and an exact fingerprint dupefilter stored in one
// bbolt file, so that a crawl stopped with Ctrl-C, SIGTERM or even kill -9
// resumes where it stopped when it is run again with the same directory.
//
// Every change is one bbolt transaction, so the file is consistent at any
// kill point: a transaction is either wholly in the file or not at all. A
// request returned by Next is moved, in the same transaction, from the queue
// to an in-flight bucket; Ack deletes it. Open puts in-flight requests back at
// their old place in the queue, so after a crash at most the requests that
// were in flight are fetched again.
//
// Layout of DIR:
//
//	DIR/lock       flock(2) lock file holding the owner's pid
//	DIR/queue.db   bbolt database:
//	  meta      format, spider, spec, pending (count), seen (count)
//	  queue     key = 8-byte inverted priority + 8-byte sequence, value = request JSON
//	  inflight  the same keys and values, for requests taken by Next and not yet acked
//	  seen      16-byte request fingerprints (scheduler.Fingerprint)
//	  cookies   "jar:" + cookie jar key -> the jar's cookies (see Saved)
//	  state     "sessions", "spider" -> register_sessions state, spider.state
package diskq

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// FormatVersion is the version of the on-disk layout this build reads and
// writes. A JOBDIR of another version is refused rather than guessed at.
// Version 2 added the per-slot buckets ("slots"); version 1 directories
// are read and upgraded.
const FormatVersion = 2

// File names inside the job directory.
const (
	LockFile = "lock"
	DBFile   = "queue.db"
)

// Stat names this backend adds to the memory scheduler's (Scrapy's names).
const (
	StatEnqueuedDisk   = "scheduler/enqueued/disk"
	StatDequeuedDisk   = "scheduler/dequeued/disk"
	StatUnserializable = "scheduler/unserializable"
	StatRequeued       = "scheduler/requeued/disk"
	// StatCommits counts bbolt write transactions: the JOBDIR's cost per
	// page is read from it (commits ÷ response_received_count).
	StatCommits = "scheduler/commits/disk"
)

// Sentinel errors; the concrete errors carry the details and match these with
// errors.Is.
var (
	// ErrInUse: another process (or another Scheduler in this process)
	// holds the job directory.
	ErrInUse = errors.New("jobdir in use")
	// ErrForeign: the job directory was written for another spider or spec.
	ErrForeign = errors.New("jobdir belongs to another spider")
	// ErrVersion: the job directory has an unknown format version.
	ErrVersion = errors.New("jobdir format version mismatch")
	// ErrWrite: a write to the job directory failed (no space left, I/O
	// error). Nothing already stored is damaged; the failed change is not
	// applied.
	ErrWrite = scheduler.ErrWrite
	// ErrDamaged: the database file cannot be read (bbolt found a corrupt
	// page, for example after a power loss without Fsync).
	ErrDamaged = errors.New("jobdir damaged")
)

// InUseError is returned by Open when the job directory is locked.
type InUseError struct {
	Dir string
	PID int // 0 when the holder's pid could not be read
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("jobdir %s is in use by pid %d", e.Dir, e.PID)
	}
	return fmt.Sprintf("jobdir %s is in use by another process", e.Dir)
}

// Unwrap makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Unwrap() error { return ErrInUse }

// ForeignError is returned by Open when the job directory records another
// spider name or spec hash.
type ForeignError struct {
	Dir    string
	Spider string // the spider recorded in the directory
	Spec   string // the spec hash recorded in the directory ("" if none)
}

func (e *ForeignError) Error() string {
	if e.Spec != "" {
		return fmt.Sprintf("jobdir %s belongs to spider '%s' (spec %s); use a new --jobdir", e.Dir, e.Spider, e.Spec)
	}
	return fmt.Sprintf("jobdir %s belongs to spider '%s'; use a new --jobdir", e.Dir, e.Spider)
}

// Unwrap makes errors.Is(err, ErrForeign) true.
func (e *ForeignError) Unwrap() error { return ErrForeign }

// VersionError is returned by Open for a job directory of another format.
type VersionError struct {
	Dir     string
	Version string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("jobdir %s has format version %s, this spiderrun reads versions 1 to %d; use a new --jobdir", e.Dir, e.Version, FormatVersion)
}

// Unwrap makes errors.Is(err, ErrVersion) true.
func (e *VersionError) Unwrap() error { return ErrVersion }

// writeError reads "jobdir write failed: <cause>" and matches both ErrWrite
// and the cause (syscall.ENOSPC, syscall.EIO).
type writeError struct{ cause error }

func (e *writeError) Error() string   { return "jobdir write failed: " + e.cause.Error() }
func (e *writeError) Unwrap() []error { return []error{ErrWrite, e.cause} }

// Options configures Open.
type Options struct {
	// Spider is the spider name recorded in a new directory and checked
	// against an existing one. Required.
	Spider string
	// SpecHash identifies the spec (for example "sha256:…" of the spec
	// file). When both the directory and Options have one and they differ,
	// Open refuses. "" skips the check.
	SpecHash string
	// Fsync makes every commit wait for fsync: the queue then survives a
	// power loss or kernel crash. Without it (the default) every commit is
	// still written to the kernel before the call returns, which survives
	// the process being killed (kill -9, OOM killer, panic) but not a power
	// loss, after which the file may be unusable.
	Fsync bool
	// Fingerprint computes dupefilter fingerprints; default
	// scheduler.Fingerprint (Scrapy's).
	Fingerprint func(*crawl.Request) [16]byte
	// Stats receives scheduler/enqueued[/disk|/memory],
	// scheduler/dequeued[/disk|/memory], scheduler/unserializable,
	// scheduler/requeued/disk and dupefilter/filtered.
	Stats stats.Collector
	// Logger receives the resume summary, the first unserializable request
	// and duplicate-filter debug lines; default discards.
	Logger *slog.Logger
	// Debug logs every filtered duplicate (DUPEFILTER_DEBUG).
	Debug bool
	// ExpectedURLs sizes the in-memory filter in front of the seen bucket
	// (DUPEFILTER_EXPECTED_URLS; 0 = DefaultExpectedURLs): at this many
	// fingerprints it answers "maybe seen" for a new one at FPRate. Past
	// it the filter grows (see seenFilter).
	ExpectedURLs int
	// FPRate is the filter's false-positive rate at ExpectedURLs
	// (DUPEFILTER_FP_RATE; 0 = DefaultFPRate). A false positive costs one
	// read of the seen bucket, never a URL.
	FPRate float64
	// SlotKey, when set, gives each download slot its own queue
	// (SCHEDULER_PRIORITY_QUEUE DownloaderAwarePriorityQueue, slots.go):
	// it must be the downloader's slot key (downloader.SlotKey). Nil keeps
	// one global queue.
	SlotKey func(*crawl.Request) string
}

var (
	bucketMeta     = []byte("meta")
	bucketQueue    = []byte("queue")
	bucketInflight = []byte("inflight")
	bucketSeen     = []byte("seen")
	bucketCookies  = []byte("cookies")
	bucketState    = []byte("state")

	metaFormat  = []byte("format")
	metaSpider  = []byte("spider")
	metaSpec    = []byte("spec")
	metaPending = []byte("pending")
	metaSeen    = []byte("seen")
)

// Scheduler is the disk-backed scheduler.Scheduler. It is safe for concurrent
// use; changes are serialized (bbolt has one writer).
type Scheduler struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *dirLock
	db   *bolt.DB

	mu       sync.Mutex
	pending  int    // requests in the disk queue
	inflight int    // requests in the disk in-flight bucket
	seen     int    // fingerprints on disk
	seq      uint64 // last sequence number given to a disk request
	localSeq uint64 // FIFO tie-break among memory-only requests
	// local holds requests that cannot be serialized (Request.Local, or meta
	// holding a JavaScript object); localSeen holds their fingerprints until
	// they are acked, so an unfetched one lost at a pause does not stay
	// recorded as seen.
	local     localHeap
	localSeen map[[16]byte]struct{}
	seenCache seenCache // fingerprints known to be in the seen bucket
	// filter holds at least every fingerprint in the seen bucket (filter.go).
	filter     *seenFilter
	loggedGrow bool
	// ready holds requests moved to the in-flight bucket and not handed
	// out yet (take.go); qLow is a lower bound of the disk queue's keys
	// when qLowSet, else the queue's keys all sort after ready's.
	ready     []readyEntry
	qLow      [16]byte
	qLowSet   bool
	writes    int // successful commits, for dropMapped
	dups      scheduler.DuplicateLog
	loggedLoc bool
	opened    bool
	closed    bool

	// slots orders the per-slot queues (Options.SlotKey; nil: the global
	// queue); window counts the disk requests their windows hold, and
	// slotLocals their memory-only requests (slots.go).
	slots      *scheduler.SlotRing[*diskSlot]
	window     int
	slotLocals int
}

// lease is what Next puts in Request.Lease for Ack.
type lease struct {
	key   [16]byte
	local bool
	fp    [16]byte
	dedup bool // the fingerprint was recorded (DontFilter off)
}

// Open locks dir (creating it), opens or creates its database and checks
// that it belongs to opts.Spider and has this build's format. The returned
// Scheduler must still be opened with its Open method, which puts requests
// left in flight by a previous run back in the queue.
func Open(dir string, opts Options) (*Scheduler, error) {
	if opts.Spider == "" {
		return nil, errors.New("diskq: options.Spider is required")
	}
	if opts.Fingerprint == nil {
		opts.Fingerprint = scheduler.Fingerprint
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ExpectedURLs <= 0 {
		opts.ExpectedURLs = DefaultExpectedURLs
	}
	if opts.FPRate == 0 {
		opts.FPRate = DefaultFPRate
	}
	if !(opts.FPRate > 0 && opts.FPRate < 1) {
		return nil, fmt.Errorf("diskq: options.FPRate %g is not between 0 and 1 exclusive", opts.FPRate)
	}
	if b := filterBytes(opts.ExpectedURLs, opts.FPRate); b > maxFilterBytes {
		return nil, fmt.Errorf("diskq: a dupefilter filter for options.ExpectedURLs %d at options.FPRate %g needs %d MiB of memory, more than the %d MiB allowed",
			opts.ExpectedURLs, opts.FPRate, b>>20, maxFilterBytes>>20)
	}
	// The directory holds cookies (Saved): only its owner may read it.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobdir %s: %w", dir, err)
	}
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	// A compaction killed before its rename leaves its copy behind.
	_ = os.Remove(filepath.Join(dir, compactFile))
	db, err := openDB(dir, opts)
	if errors.Is(err, bolt.ErrTimeout) {
		lk.unlock()
		return nil, &InUseError{Dir: dir}
	}
	if errors.Is(err, ErrDamaged) {
		lk.unlock()
		return nil, err
	}
	if err != nil {
		lk.unlock()
		return nil, fmt.Errorf("jobdir %s: open %s: %w (if the file is damaged, use a new --jobdir)", dir, DBFile, err)
	}
	s := &Scheduler{dir: dir, opts: opts, log: opts.Logger, lock: lk, db: db, localSeen: map[[16]byte]struct{}{},
		seenCache: newSeenCache(seenCacheSize),
		dups:      scheduler.DuplicateLog{Stats: opts.Stats, Logger: opts.Logger, Debug: opts.Debug}}
	if opts.SlotKey != nil {
		s.slots = scheduler.NewSlotRing[*diskSlot]()
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		lk.unlock()
		return nil, err
	}
	if err := s.rebuildFilter(); err != nil {
		_ = db.Close()
		lk.unlock()
		return nil, err
	}
	return s, nil
}

// openDB opens the bbolt file. bbolt panics on some damaged pages while
// opening (the freelist); that becomes an error. The panicking open leaks
// bbolt's file descriptor, which the process exit releases.
func openDB(dir string, opts Options) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, &damageError{dir: dir, cause: p}
		}
	}()
	return bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{
		// Our own lock already excludes other processes; the timeout only
		// guards against a holder that ignores it.
		Timeout:      time.Second,
		NoSync:       !opts.Fsync,
		FreelistType: bolt.FreelistMapType,
	})
}

// init creates the buckets of a new directory or checks an existing one, and
// loads the counters.
func (s *Scheduler) init() error {
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			for k, v := range map[string]string{
				string(metaFormat): strconv.Itoa(FormatVersion),
				string(metaSpider): s.opts.Spider,
				string(metaSpec):   s.opts.SpecHash,
			} {
				if err := meta.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		switch v := string(meta.Get(metaFormat)); v {
		case strconv.Itoa(FormatVersion):
		case "1":
			// Version 1 had no per-slot buckets: it reads as version 2,
			// which an older build must not open (it would not see them).
			if err := meta.Put(metaFormat, []byte(strconv.Itoa(FormatVersion))); err != nil {
				return err
			}
		default:
			return &VersionError{Dir: s.dir, Version: v}
		}
		spider, spec := string(meta.Get(metaSpider)), string(meta.Get(metaSpec))
		if spider != s.opts.Spider || (spec != "" && s.opts.SpecHash != "" && spec != s.opts.SpecHash) {
			return &ForeignError{Dir: s.dir, Spider: spider, Spec: spec}
		}
		for _, b := range [][]byte{bucketQueue, bucketInflight, bucketSeen, bucketCookies, bucketState, bucketSlots} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		s.pending = getCount(meta, metaPending)
		s.seen = getCount(meta, metaSeen)
		s.inflight = tx.Bucket(bucketInflight).Stats().KeyN
		s.seq = tx.Bucket(bucketQueue).Sequence()
		return nil
	})
	var ve *VersionError
	var fe *ForeignError
	if errors.As(err, &ve) || errors.As(err, &fe) {
		return err
	}
	if err != nil {
		return s.writeErr(err)
	}
	return nil
}

// SpecHash returns the value for Options.SpecHash of a spec file's
// contents: "sha256:" and the hex digest.
func SpecHash(spec []byte) string {
	sum := sha256.Sum256(spec)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Dir returns the job directory.
func (s *Scheduler) Dir() string { return s.dir }

// Open implements scheduler.Scheduler: requests a previous run left in flight
// (it was killed, or paused before they were acked) go back to the front of
// their priority, at their old position.
func (s *Scheduler) Open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return scheduler.ErrClosed
	}
	if s.opened {
		return nil
	}
	requeued := 0
	if s.inflight > 0 {
		err := s.update(func(tx *bolt.Tx) error {
			inf, q := tx.Bucket(bucketInflight), tx.Bucket(bucketQueue)
			c := inf.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if err := q.Put(k, v); err != nil {
					return err
				}
				requeued++
			}
			if err := tx.DeleteBucket(bucketInflight); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketInflight); err != nil {
				return err
			}
			return putCount(tx.Bucket(bucketMeta), metaPending, s.pending+requeued)
		})
		if err != nil {
			return s.writeErr(err)
		}
		s.pending += requeued
		s.inflight = 0
	}
	for {
		err := s.update(s.convertQueues)
		if errors.Is(err, errNoChange) {
			break
		}
		if err != nil {
			return s.writeErr(err)
		}
	}
	if s.slots != nil {
		if err := s.loadSlots(); err != nil {
			return err
		}
	}
	s.opened = true
	if st := s.opts.Stats; st != nil && requeued > 0 {
		st.Inc(StatRequeued, int64(requeued))
	}
	switch {
	case s.pending > 0:
		s.log.Info("resuming crawl from jobdir", "jobdir", s.dir, "pending", s.pending,
			"requeued_in_flight", requeued, "seen", s.seen)
	case s.seen > 0:
		// Scrapy's behaviour, which surprises users: say why nothing runs.
		s.log.Warn("jobdir holds a crawl with nothing pending: requests it already fetched will be filtered as duplicates; use a new --jobdir for a fresh crawl",
			"jobdir", s.dir, "seen", s.seen)
	}
	return nil
}

// Enqueue implements scheduler.Scheduler. A request that cannot be
// serialized (Request.Local set, or meta holding a JavaScript object) is
// kept in memory only, with a warning the first time: it is lost if the
// crawl is paused before it is fetched.
func (s *Scheduler) Enqueue(ctx context.Context, r *crawl.Request) (bool, error) {
	if r == nil {
		return false, errors.New("diskq: enqueue nil request")
	}
	// ctx is not consulted here nor in Next and Ack: a local write does not
	// block, and a crawl that is being cancelled must still record the
	// requests its last callbacks emit before their parents are acked.
	var body []byte
	var whyLocal error
	if r.Local != nil {
		whyLocal = errors.New("it carries process-local state (a callback that is not an exported function)")
	} else {
		var err error
		if body, err = json.Marshal(r); err != nil {
			whyLocal = err
		}
	}
	var fp [16]byte
	if !r.DontFilter {
		fp = s.opts.Fingerprint(r)
	}
	var slot string
	if s.opts.SlotKey != nil {
		slot = s.slotOf(r)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, fmt.Errorf("enqueue %s: %w", r.URL, scheduler.ErrClosed)
	}
	if !r.DontFilter {
		if _, ok := s.localSeen[fp]; ok || s.seenCache.has(fp) {
			s.mu.Unlock()
			s.dups.Filtered(r)
			return false, nil
		}
	}
	var (
		dup    bool
		newFp  bool
		seq    uint64
		commit error
		look   filterLookups
	)
	if !r.DontFilter && s.filter.mayContain(fp) {
		// A read-only transaction costs no commit, and most links a crawl
		// finds are duplicates. Writes are serialized under s.mu, so the
		// answer still holds in the Update below.
		commit = s.view(func(tx *bolt.Tx) error {
			dup = tx.Bucket(bucketSeen).Get(fp[:]) != nil
			return nil
		})
		if commit == nil && !dup {
			look.falsePositive++
		}
	} else if !r.DontFilter {
		// Absent from the filter: certainly not in the bucket.
		look.negative++
	}
	// The fingerprint of a memory-only request is written on Ack, once it
	// has been fetched.
	if whyLocal == nil && commit == nil && !dup {
		commit = s.update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if !r.DontFilter {
				s.filterAdd(fp)
				if err := tx.Bucket(bucketSeen).Put(fp[:], nil); err != nil {
					return err
				}
				if err := putCount(meta, metaSeen, s.seen+1); err != nil {
					return err
				}
				newFp = true
			}
			q := tx.Bucket(bucketQueue)
			// Keys grow within a priority: fill pages fully instead of
			// bbolt's default half, halving the file of a large frontier.
			q.FillPercent = 0.9
			n, err := q.NextSequence()
			if err != nil {
				return err
			}
			seq = n
			k := queueKey(r.Priority, n)
			dst, err := s.queueBucket(tx, slot)
			if err != nil {
				return err
			}
			if err := dst.Put(k[:], body); err != nil {
				return err
			}
			return putCount(meta, metaPending, s.pending+1)
		})
	}
	if commit != nil {
		s.mu.Unlock()
		return false, fmt.Errorf("enqueue %s: %w", r.URL, s.writeErr(commit))
	}
	if dup || newFp {
		s.seenCache.add(fp)
	}
	if dup {
		s.mu.Unlock()
		s.countLookups(look)
		s.dups.Filtered(r)
		return false, nil
	}
	firstLocal := false
	if whyLocal != nil {
		// Keyed with the last disk sequence: it sorts after the disk
		// requests enqueued before it and before those enqueued after it
		// (see Next), so FIFO within a priority holds across both.
		s.localSeq++
		e := localEntry{key: queueKey(r.Priority, s.seq), n: s.localSeq, fp: fp, r: r}
		if s.slots != nil {
			s.slotLocal(slot, e)
		} else {
			heap.Push(&s.local, e)
		}
		if !r.DontFilter {
			s.localSeen[fp] = struct{}{}
		}
		firstLocal = !s.loggedLoc
		s.loggedLoc = true
	} else {
		if s.slots != nil {
			s.slotQueued(slot, queueKey(r.Priority, seq))
		} else {
			s.queued(queueKey(r.Priority, seq))
		}
		s.pending++
		s.seq = seq
		if newFp {
			s.seen++
		}
	}
	s.mu.Unlock()
	s.countLookups(look)

	if firstLocal {
		s.log.Warn("request cannot be saved in the jobdir and is kept in memory only: it is lost if the crawl is paused before it is fetched (no more such requests will be logged; see stats scheduler/unserializable)",
			"url", r.URL, "reason", whyLocal)
	}
	if st := s.opts.Stats; st != nil {
		st.Inc(stats.SchedulerEnqueued, 1)
		if whyLocal != nil {
			st.Inc(stats.SchedulerEnqueuedMemory, 1)
			st.Inc(StatUnserializable, 1)
		} else {
			st.Inc(StatEnqueuedDisk, 1)
		}
	}
	return true, nil
}

func (s *Scheduler) countDequeue(local bool) {
	st := s.opts.Stats
	if st == nil {
		return
	}
	st.Inc(stats.SchedulerDequeued, 1)
	if local {
		st.Inc(stats.SchedulerDequeuedMemory, 1)
	} else {
		st.Inc(StatDequeuedDisk, 1)
	}
}

// Ack implements scheduler.Scheduler: the request's in-flight entry is
// deleted (and the fingerprint of a memory-only request is written). A
// request that did not come from Next is ignored.
func (s *Scheduler) Ack(ctx context.Context, r *crawl.Request) error {
	if r == nil {
		return nil
	}
	l, ok := r.Lease.(*lease)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("ack %s: %w", r.URL, scheduler.ErrClosed)
	}
	if l.local {
		if !l.dedup {
			r.Lease = nil
			return nil
		}
		newFp := false
		err := s.update(func(tx *bolt.Tx) error {
			seen := tx.Bucket(bucketSeen)
			if s.filter.mayContain(l.fp) && seen.Get(l.fp[:]) != nil {
				return nil
			}
			newFp = true
			s.filterAdd(l.fp)
			if err := seen.Put(l.fp[:], nil); err != nil {
				return err
			}
			return putCount(tx.Bucket(bucketMeta), metaSeen, s.seen+1)
		})
		if err != nil {
			return fmt.Errorf("ack %s: %w", r.URL, s.writeErr(err))
		}
		if newFp {
			s.seen++
		}
		s.seenCache.add(l.fp)
		delete(s.localSeen, l.fp)
		r.Lease = nil
		return nil
	}
	found := false
	err := s.update(func(tx *bolt.Tx) error {
		inf := tx.Bucket(bucketInflight)
		if inf.Get(l.key[:]) == nil {
			return nil
		}
		found = true
		return inf.Delete(l.key[:])
	})
	if err != nil {
		return fmt.Errorf("ack %s: %w", r.URL, s.writeErr(err))
	}
	if found {
		s.inflight--
	}
	r.Lease = nil
	return nil
}

// Len implements scheduler.Scheduler: pending requests on disk plus those
// kept in memory and those prefetched and not handed out, not counting
// requests in flight.
func (s *Scheduler) Len(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending + len(s.local) + len(s.ready) + s.slotLocals + s.window, nil
}

// InFlight is the number of requests taken by Next and not acked yet (they
// are fetched again by the next run if this one stops now).
func (s *Scheduler) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight - len(s.ready) - s.window
}

// Seen is the number of fingerprints in the on-disk dupefilter.
func (s *Scheduler) Seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// ReasonFinished is the close reason after which the queue is emptied.
const ReasonFinished = "finished"

// Close implements scheduler.Scheduler and releases the directory. On
// "finished" the queue and in-flight requests are deleted and the dupefilter
// is kept, as in Scrapy: running again with the same directory fetches
// nothing that was fetched before; the saved cookies and sessions are
// deleted too (the spider state is kept) and the file is compacted, so
// their bytes do not linger in free pages. With any other reason
// (shutdown, cancelled, closespider_*) everything is kept for a resume.
func (s *Scheduler) Close(ctx context.Context, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if reason == ReasonFinished {
		// Nothing is left to resume: the cookies go with the queue.
		err := s.update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketState).Delete(stateSessions); err != nil {
				return err
			}
			for _, b := range [][]byte{bucketQueue, bucketInflight, bucketCookies, bucketSlots} {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
				if _, err := tx.CreateBucket(b); err != nil {
					return err
				}
			}
			return putCount(tx.Bucket(bucketMeta), metaPending, 0)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("close: %w", s.writeErr(err)))
		} else {
			s.pending, s.inflight = 0, 0
		}
	} else {
		s.unready()
		if s.slots != nil {
			s.unreadySlots()
		}
		if n := len(s.local) + s.slotLocals; n > 0 {
			s.log.Warn("requests kept in memory only are not saved in the jobdir", "jobdir", s.dir, "lost", n)
		}
		// In-flight requests are pending too: the next run fetches them
		// first.
		s.log.Info("crawl state saved; run again with the same jobdir to resume", "jobdir", s.dir,
			"pending", s.pending+s.inflight, "in_flight", s.inflight-len(s.ready)-s.window, "seen", s.seen)
	}
	s.local, s.ready = nil, nil
	if s.slots != nil {
		s.slots = scheduler.NewSlotRing[*diskSlot]()
		s.window, s.slotLocals = 0, 0
	}
	if reason == ReasonFinished && len(errs) == 0 {
		// Deleted pages keep their bytes until bbolt reuses them: rewrite
		// the file without them, so no cookie outlives the crawl in it.
		if err := s.compact(); err != nil {
			s.log.Warn("jobdir: could not compact the finished crawl's database; deleted cookies may remain in its free pages", "jobdir", s.dir, "error", err)
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("jobdir %s: close: %w", s.dir, err))
	}
	s.lock.unlock()
	return errors.Join(errs...)
}

// update and view run a bbolt transaction and turn a panic from a damaged
// file (bbolt panics on some corrupt pages; its deferred rollback has
// already released the transaction) into an error: no panic may reach the
// user.
func (s *Scheduler) update(fn func(*bolt.Tx) error) (err error) {
	defer s.recoverDamage(&err)
	if err = s.db.Update(fn); err == nil {
		s.writes++
		if st := s.opts.Stats; st != nil {
			st.Inc(StatCommits, 1)
		}
		if s.writes%dropEvery == 0 {
			s.dropMapped()
		}
	}
	return err
}

// dropEvery is how many commits pass between two dropMapped calls: pages
// touched in between (each commit copies the root-to-leaf paths it changes
// to new pages, about 6 per enqueue: ~25 MiB per 1024 commits) are
// what the mapped part of RSS can grow to.
const dropEvery = 1024

// dropMapped unmaps the database pages read so far from this process (see
// dropPages); the kernel keeps them cached. Callers hold s.mu, so no write
// transaction (the only thing that remaps) runs concurrently, and the read
// transaction pins the mapping while the pages are dropped.
func (s *Scheduler) dropMapped() {
	_ = s.db.View(func(tx *bolt.Tx) error {
		dropPages(s.db.Info().Data, tx.Size())
		return nil
	})
}

func (s *Scheduler) view(fn func(*bolt.Tx) error) (err error) {
	defer s.recoverDamage(&err)
	return s.db.View(fn)
}

func (s *Scheduler) recoverDamage(err *error) {
	if p := recover(); p != nil {
		*err = &damageError{dir: s.dir, cause: p}
	}
}

// damageError reports a database file that bbolt could not read.
type damageError struct {
	dir   string
	cause any
}

func (e *damageError) Error() string {
	return fmt.Sprintf("jobdir %s: %s is damaged (%v); use a new --jobdir", e.dir, DBFile, e.cause)
}

func (e *damageError) Unwrap() error { return ErrDamaged }

func (s *Scheduler) writeErr(err error) error {
	if err == nil || errors.Is(err, ErrDamaged) {
		return err
	}
	return &writeError{cause: err}
}

// queueKey orders by priority, higher first, then by sequence (FIFO).
func queueKey(prio int, seq uint64) [16]byte {
	var k [16]byte
	// Flipping the sign bit makes int64 order unsigned order; inverting all
	// bits makes higher priorities sort first.
	binary.BigEndian.PutUint64(k[:8], ^(uint64(int64(prio)) ^ 1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func getCount(b *bolt.Bucket, key []byte) int {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

func putCount(b *bolt.Bucket, key []byte, n int) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put(key, v[:])
}

// localEntry is a memory-only request with its would-be queue key.
type localEntry struct {
	key [16]byte
	n   uint64 // order among local entries with the same key
	fp  [16]byte
	r   *crawl.Request
}

type localHeap []localEntry

func (h localHeap) Len() int { return len(h) }
func (h localHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key[:], h[j].key[:]); c != 0 {
		return c < 0
	}
	return h[i].n < h[j].n
}
func (h localHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *localHeap) Push(x any)   { *h = append(*h, x.(localEntry)) }
func (h *localHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = localEntry{}
	*h = old[:len(old)-1]
	return x
}
