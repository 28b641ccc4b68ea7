package diskq

// The seen filter (issue 21): a blocked Bloom filter in memory in front of
// the seen bucket. Without it every fingerprint the seen cache does not
// answer — in particular every new URL — costs a B-tree walk over mapped
// pages of the file; with it a fingerprint the filter says is absent is new
// without reading the file. "Maybe present" is always confirmed against the
// bucket, so a false positive costs one read and never drops a URL.
//
// Why a blocked Bloom filter rather than a cuckoo filter (measured in
// filter_test.go, BenchmarkFilter*; figures in specs/benchmarks.md): at
// the default 1 % the Bloom filter is the smaller (10 bits per URL), below
// 0.1 % the cuckoo filter is (by 13-20 %); lookups cost about the same
// (23 and 20 ns of CPU), far below the bbolt read they replace (1.8 µs at
// 1 M URLs). What decided is that an insert never fails (a cuckoo filter
// near full must kick entries around and can give up) and that the filter
// grows by adding a stage, which a cuckoo filter cannot do without the
// keys: a crawl's size is rarely known in advance.
//
// Safety against kill -9 needs no code: the filter is never written to
// disk. Open rebuilds it from the seen bucket, so it holds every committed
// fingerprint; while the directory is open a fingerprint is added to it
// before the transaction that stores it commits (a transaction that then
// fails only leaves a false positive).

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults of Options.ExpectedURLs and Options.FPRate (the settings
// DUPEFILTER_EXPECTED_URLS and DUPEFILTER_FP_RATE): 1 M URLs at 1 % cost
// 1.2 MB of memory, and the filter grows past them.
const (
	DefaultExpectedURLs = 1_000_000
	DefaultFPRate       = 0.01
)

// Stat names of the seen filter. filter_negative counts lookups the filter
// answered alone (a disk read saved: the URL is new); filter_false_positive
// counts "maybe present" answers the seen bucket did not confirm (a read
// that found nothing). filter_bytes is the filter's current size.
const (
	StatFilterNegative      = "dupefilter/filter_negative"
	StatFilterFalsePositive = "dupefilter/filter_false_positive"
	StatFilterBytes         = "dupefilter/filter_bytes"
)

// blockBits is the size of a block: one cache line.
const (
	blockBits  = 512
	blockWords = blockBits / 64
)

// rebuildFilter fills a new filter from the seen bucket. It is sized for
// twice the fingerprints found (at least ExpectedURLs), in one stage: a
// resumed crawl's filter answers in one cache line again, and has room to
// grow by as much as it already holds before it adds a stage. The scan
// maps every page of the bucket, which are then dropped from RSS.
func (s *Scheduler) rebuildFilter() error {
	start := time.Now()
	size := max(s.opts.ExpectedURLs, 2*s.seen)
	if filterBytes(size, s.opts.FPRate) > maxFilterBytes {
		size = s.opts.ExpectedURLs // and grow from there
	}
	f := newSeenFilter(size, s.opts.FPRate)
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSeen).ForEach(func(k, _ []byte) error {
			var fp [16]byte
			copy(fp[:], k)
			f.add(fp)
			n++
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("jobdir %s: rebuild the dupefilter's filter: %w", s.dir, s.writeErr(err))
	}
	s.filter = f
	if st := s.opts.Stats; st != nil {
		st.Set(StatFilterBytes, int64(f.bytes()))
	}
	if n > 0 {
		s.dropMapped()
		s.log.Info("dupefilter filter rebuilt from the jobdir", "jobdir", s.dir, "fingerprints", n,
			"filter_bytes", f.bytes(), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// filterAdd adds fp to the filter before the transaction storing it in the
// seen bucket commits, so that no committed fingerprint is ever missing
// from it; if the transaction fails, fp is merely a false positive. The
// first time the crawl outgrows ExpectedURLs it says so, once.
func (s *Scheduler) filterAdd(fp [16]byte) {
	stages := len(s.filter.stages)
	s.filter.add(fp)
	if len(s.filter.stages) == stages {
		return
	}
	if st := s.opts.Stats; st != nil {
		st.Set(StatFilterBytes, int64(s.filter.bytes()))
	}
	if !s.loggedGrow {
		s.loggedGrow = true
		s.log.Info("the crawl has seen more URLs than DUPEFILTER_EXPECTED_URLS: the dupefilter's filter grows, using more memory per URL than one sized for the crawl (set DUPEFILTER_EXPECTED_URLS to the expected count)",
			"expected", s.opts.ExpectedURLs, "seen", s.filter.count(), "filter_bytes", s.filter.bytes())
	}
}

// filterLookups counts a call's filter answers, added to the stats once
// the lock is released.
type filterLookups struct{ negative, falsePositive int64 }

func (s *Scheduler) countLookups(l filterLookups) {
	st := s.opts.Stats
	if st == nil {
		return
	}
	if l.negative > 0 {
		st.Inc(StatFilterNegative, l.negative)
	}
	if l.falsePositive > 0 {
		st.Inc(StatFilterFalsePositive, l.falsePositive)
	}
}

// seenFilter is a scalable blocked Bloom filter over 16-byte fingerprints:
// a list of stages, each sized for a number of fingerprints. When the last
// stage is full a new one twice as large is added with half its
// false-positive rate, so the rate of the whole stays below twice the first
// stage's however far the crawl outgrows the expected count (Almeida et
// al., "Scalable Bloom Filters", 2007), at the cost of one more cache line
// per lookup for each doubling. Guarded by Scheduler.mu.
type seenFilter struct {
	stages []*bloomStage
	rate   float64 // the first stage's false-positive rate
}

// bloomStage is one blocked Bloom filter: a fingerprint selects one
// 512-bit block and sets k bits in it.
type bloomStage struct {
	words []uint64
	nblk  uint64
	k     int
	cap   int // fingerprints it is sized for
	n     int // fingerprints added
	seed  uint64
}

// newSeenFilter returns a filter sized for expected fingerprints at the
// false-positive rate rate (0 < rate < 1).
func newSeenFilter(expected int, rate float64) *seenFilter {
	f := &seenFilter{rate: rate}
	f.stages = []*bloomStage{newBloomStage(max(expected, 1), rate, 0)}
	return f
}

// maxFilterBytes bounds the first stage asked for: a typing error in
// DUPEFILTER_EXPECTED_URLS must be an error, not an allocation that kills
// the process.
const maxFilterBytes = 16 << 30

// filterBytes is the size of a filter's first stage.
func filterBytes(expected int, rate float64) int {
	bpk, _ := bloomShape(rate)
	return int(math.Ceil(float64(expected)*bpk/blockBits)) * blockBits / 8
}

func newBloomStage(capacity int, rate float64, seed uint64) *bloomStage {
	bpk, k := bloomShape(rate)
	nblk := uint64(math.Ceil(float64(capacity) * bpk / blockBits))
	nblk = max(nblk, 1)
	return &bloomStage{words: make([]uint64, nblk*blockWords), nblk: nblk, k: k, cap: capacity, seed: seed}
}

// add records fp. Adding a fingerprint twice is harmless (it counts twice
// towards the stage's capacity, which only makes growth come earlier).
func (f *seenFilter) add(fp [16]byte) {
	last := f.stages[len(f.stages)-1]
	if last.n >= last.cap {
		i := len(f.stages)
		last = newBloomStage(2*last.cap, f.rate/float64(uint64(1)<<min(i, 62)), uint64(i))
		f.stages = append(f.stages, last)
	}
	last.add(fp)
}

// mayContain is false only for a fingerprint never added.
func (f *seenFilter) mayContain(fp [16]byte) bool {
	// The newest stage first: it is the largest and holds the most recent
	// fingerprints.
	for i := len(f.stages) - 1; i >= 0; i-- {
		if f.stages[i].has(fp) {
			return true
		}
	}
	return false
}

// bytes is the memory the filter's bit arrays take.
func (f *seenFilter) bytes() int {
	n := 0
	for _, s := range f.stages {
		n += 8 * len(s.words)
	}
	return n
}

// count is the number of fingerprints added.
func (f *seenFilter) count() int {
	n := 0
	for _, s := range f.stages {
		n += s.n
	}
	return n
}

// locate returns fp's block (its first word) and the word from which its
// bit positions are drawn. Fingerprints are SHA-1 prefixes, but Options
// lets tests pass any function, so both halves are mixed again.
func (s *bloomStage) locate(fp [16]byte) (base uint64, w uint64) {
	h1 := mix64(binary.LittleEndian.Uint64(fp[:8]) ^ s.seed*0x9e3779b97f4a7c15)
	h2 := mix64(binary.LittleEndian.Uint64(fp[8:]) + s.seed)
	blk, _ := bits.Mul64(h1, s.nblk) // uniform in [0, nblk) without a division
	return blk * blockWords, h2
}

func (s *bloomStage) add(fp [16]byte) {
	base, h := s.locate(fp)
	w := h
	blk := s.words[base : base+blockWords : base+blockWords]
	for i := 0; i < s.k; i++ {
		if i > 0 && i%7 == 0 {
			// 7 positions of 9 bits use 63 of w's 64: draw a new word
			// from the fingerprint, not from w's leftover bit.
			w = mix64(h + uint64(i)*0x9e3779b97f4a7c15)
		}
		bit := w & (blockBits - 1)
		w >>= 9
		blk[bit>>6] |= 1 << (bit & 63)
	}
	s.n++
}

func (s *bloomStage) has(fp [16]byte) bool {
	base, h := s.locate(fp)
	blk := s.words[base : base+blockWords : base+blockWords]
	w := h
	// The bits are gathered into one mask per word and tested at the end:
	// a loop that stops at the first clear bit stops at a random place,
	// and the mispredicted branch cost more than the bits it skipped
	// (35 against 23 ns of CPU per lookup, BenchmarkFilterBloomLookup).
	var m [blockWords]uint64
	for i := 0; i < s.k; i++ {
		if i > 0 && i%7 == 0 {
			w = mix64(h + uint64(i)*0x9e3779b97f4a7c15)
		}
		bit := w & (blockBits - 1)
		w >>= 9
		m[bit>>6] |= 1 << (bit & 63)
	}
	miss := uint64(0)
	for j := range blockWords {
		miss |= m[j] &^ blk[j]
	}
	return miss == 0
}

// mix64 is SplitMix64's finalizer: a bijection whose output bits each
// depend on all input bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// bloomShape returns the bits per fingerprint and the number of bits set
// per fingerprint that give a blocked Bloom filter a false-positive rate of
// at most rate when it holds its capacity. A blocked filter needs more bits
// than the textbook -ln(rate)/ln²2, because blocks fill unevenly: the rate
// is computed exactly over the Poisson-distributed load of a block (Putze,
// Sanders, Singler, "Cache-, Hash- and Space-Efficient Bloom Filters",
// 2007), searching upwards from the textbook size in steps of 1/8 bit.
func bloomShape(rate float64) (bitsPerKey float64, k int) {
	rate = min(max(rate, 1e-12), 0.999)
	textbook := -math.Log(rate) / (math.Ln2 * math.Ln2)
	for b := math.Max(math.Floor(textbook*8)/8, 0.125); ; b += 0.125 {
		bestK, best := 1, 1.0
		center := max(int(math.Round(b*math.Ln2)), 1)
		for k := max(center-3, 1); k <= center+3; k++ {
			if p := blockedRate(b, k); p < best {
				bestK, best = k, p
			}
		}
		if best <= rate || b > 64 {
			return b, bestK
		}
	}
}

// blockedRate is the false-positive rate of a full blocked Bloom filter
// with b bits per key and k bits per key: a block holds j keys with the
// Poisson probability of mean blockBits/b; in a block holding j keys a bit
// is set with probability q = 1-(1-1/blockBits)^(jk), and a query is a
// false positive when all of its distinct positions are set (k positions
// drawn from 512 collide: 9 of them 7 % of the time, which makes a query
// weaker than k bits).
func blockedRate(b float64, k int) float64 {
	const m = blockBits
	// distinct[d]: probability that k draws give d distinct positions.
	distinct := make([]float64, k+1)
	distinct[0] = 1
	for i := 0; i < k; i++ {
		for d := i + 1; d >= 1; d-- {
			distinct[d] = distinct[d]*float64(d)/m + distinct[d-1]*float64(m-d+1)/m
		}
		distinct[0] = 0
	}
	lambda := m / b
	hi := int(lambda + 12*math.Sqrt(lambda) + 20)
	logP := -lambda // log of P(j = 0)
	sum := 0.0
	for j := 0; j <= hi; j++ {
		if j > 0 {
			logP += math.Log(lambda) - math.Log(float64(j))
		}
		q := 1 - math.Pow(1-1.0/m, float64(j*k))
		given := 0.0
		for d := 1; d <= k; d++ {
			given += distinct[d] * math.Pow(q, float64(d))
		}
		sum += math.Exp(logP) * given
	}
	return sum
}
