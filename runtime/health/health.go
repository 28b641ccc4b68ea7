// Package health keeps a per-domain scoreboard of how a crawl is received:
// responses, blocks, failures and latency, over the whole crawl and over a
// window of the latest attempts, so that a domain that starts blocking or
// failing is noticed (logged once when it degrades, once when it recovers)
// instead of being found in the final stats.
package health

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Outcome is what one attempt on a domain gave.
type Outcome int

const (
	// OK is a response that is content (any status the spider gets).
	OK Outcome = iota
	// Blocked is an anti-bot answer (runtime/blocks).
	Blocked
	// Failed is a download that ended without a response.
	Failed
)

// Defaults of Board.
const (
	DefaultWindow = 20   // attempts a domain's recent health is judged on
	DefaultBad    = 0.5  // share of bad attempts in the window that degrades it
	DefaultGood   = 0.2  // share at or under which a degraded domain has recovered
	maxDomains    = 4096 // rows kept; past it the least used row is dropped
)

// Board is the scoreboard. The zero value is not usable: use New.
type Board struct {
	Window    int
	Bad, Good float64
	Logger    *slog.Logger
	// Alive, when set, says how many identities are active, for the log
	// line of a degraded domain.
	Alive func() int
	// OnDegrade, when set, is called (outside the board's lock) each time
	// a domain degrades: the crawler counts health/domains_degraded.
	OnDegrade func(domain string)

	mu      sync.Mutex
	domains map[string]*domain
}

type domain struct {
	Row
	recent   []Outcome // ring of the latest Window outcomes
	next     int
	degraded bool
}

// Row is one domain's figures.
type Row struct {
	Domain    string        `json:"domain"`
	Requests  int64         `json:"requests"`
	OK        int64         `json:"ok"`
	Blocked   int64         `json:"blocked"`
	Failed    int64         `json:"failed"`
	Bytes     int64         `json:"bytes"` // response bodies, as received after decoding
	Latency   time.Duration `json:"-"`
	LatencyMS float64       `json:"avg_latency_ms"` // mean over the OK and blocked responses
	Degraded  bool          `json:"degraded"`
}

// New returns a board with the defaults.
func New(log *slog.Logger) *Board {
	return &Board{Window: DefaultWindow, Bad: DefaultBad, Good: DefaultGood, Logger: log, domains: map[string]*domain{}}
}

// Record adds one attempt on dom: its outcome, latency (0 for a failure)
// and body bytes.
func (b *Board) Record(dom string, o Outcome, latency time.Duration, bytes int) {
	b.mu.Lock()
	d := b.domains[dom]
	if d == nil {
		if len(b.domains) >= maxDomains {
			b.evictLocked()
		}
		d = &domain{Row: Row{Domain: dom}, recent: make([]Outcome, 0, b.Window)}
		b.domains[dom] = d
	}
	d.Requests++
	switch o {
	case OK:
		d.OK++
	case Blocked:
		d.Blocked++
	case Failed:
		d.Failed++
	}
	d.Latency += latency
	d.Bytes += int64(bytes)
	if len(d.recent) < b.Window {
		d.recent = append(d.recent, o)
	} else {
		d.recent[d.next] = o
		d.next = (d.next + 1) % b.Window
	}
	var bad int
	for _, r := range d.recent {
		if r != OK {
			bad++
		}
	}
	share := float64(bad) / float64(len(d.recent))
	var degraded, recovered bool
	switch {
	case !d.degraded && len(d.recent) == b.Window && share >= b.Bad:
		d.degraded, degraded = true, true
	case d.degraded && share <= b.Good:
		d.degraded, recovered = false, true
	}
	row := d.snapshot()
	blocked, failed := countIn(d, Blocked), countIn(d, Failed)
	b.mu.Unlock()

	if degraded && b.OnDegrade != nil {
		b.OnDegrade(dom)
	}
	if b.Logger == nil || !(degraded || recovered) {
		return
	}
	attrs := []any{"domain", dom, "window", b.Window, "blocked", blocked, "failed", failed,
		"requests", row.Requests, "avg_latency_ms", row.LatencyMS}
	if b.Alive != nil {
		attrs = append(attrs, "identities_alive", b.Alive())
	}
	if degraded {
		b.Logger.Warn("domain degraded: most of its latest responses are blocks or failures", attrs...)
	} else {
		b.Logger.Info("domain recovered", attrs...)
	}
}

// countIn counts o in d's window; the caller holds the board's lock.
func countIn(d *domain, o Outcome) int {
	n := 0
	for _, r := range d.recent {
		if r == o {
			n++
		}
	}
	return n
}

func (d *domain) snapshot() Row {
	r := d.Row
	r.Degraded = d.degraded
	if n := r.OK + r.Blocked; n > 0 {
		r.LatencyMS = float64(r.Latency.Microseconds()) / 1000 / float64(n)
	}
	return r
}

// evictLocked drops the row with the fewest requests: a broad crawl's
// scoreboard stays bounded; the domains that matter are the busy ones.
func (b *Board) evictLocked() {
	var victim string
	least := int64(-1)
	for k, d := range b.domains {
		if least < 0 || d.Requests < least {
			victim, least = k, d.Requests
		}
	}
	delete(b.domains, victim)
}

// Rows returns the domains with the most requests first, at most n (n <= 0:
// all).
func (b *Board) Rows(n int) []Row {
	b.mu.Lock()
	out := make([]Row, 0, len(b.domains))
	for _, d := range b.domains {
		out = append(out, d.snapshot())
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Domain < out[j].Domain
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// WriteReport writes the rows (Rows(0): the busiest domain first) to path
// as JSON lines, through a temporary file synced and renamed into place,
// so a reader never sees half a report; missing directories are made.
// Every write error is returned.
func (b *Board) WriteReport(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	enc := json.NewEncoder(bw)
	for _, r := range b.Rows(0) {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
