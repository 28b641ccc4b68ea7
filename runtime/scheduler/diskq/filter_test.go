package diskq

import (
	"encoding/binary"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

// randomFps returns n fingerprints drawn from a seeded generator: the same
// ones on every run, so the rates below are not flaky.
func randomFps(seed uint64, n int) [][16]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	fps := make([][16]byte, n)
	for i := range fps {
		binary.LittleEndian.PutUint64(fps[i][:8], r.Uint64())
		binary.LittleEndian.PutUint64(fps[i][8:], r.Uint64())
	}
	return fps
}

// TestFilterNoFalseNegatives: every fingerprint added is reported present,
// in one stage and across many grown stages, including fingerprints that
// differ in one byte only (sequential counters, what a test Fingerprint
// might return).
func TestFilterNoFalseNegatives(t *testing.T) {
	for _, tc := range []struct {
		name     string
		expected int
		rate     float64
		n        int
	}{
		{"one stage", 100_000, 0.01, 100_000},
		{"grown 7 times", 1_000, 0.01, 100_000},
		{"tiny and loose", 1, 0.5, 20_000},
		{"tight", 10_000, 1e-6, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSeenFilter(tc.expected, tc.rate)
			fps := randomFps(1, tc.n)
			for i := 0; i < 1000; i++ {
				var fp [16]byte
				binary.BigEndian.PutUint32(fp[12:], uint32(i))
				fps = append(fps, fp)
			}
			for _, fp := range fps {
				f.add(fp)
			}
			for i, fp := range fps {
				if !f.mayContain(fp) {
					t.Fatalf("fingerprint %d of %d added but reported absent (%d stages)", i, len(fps), len(f.stages))
				}
			}
			if f.count() != len(fps) {
				t.Errorf("count %d, want %d", f.count(), len(fps))
			}
		})
	}
}

// TestFilterFalsePositiveRate fills a filter to its expected count with
// 1 M random fingerprints and asks for 1 M others: the share reported
// present must be what the filter was sized for. The bound is the
// configured rate plus 4 standard deviations of the count (a correct
// filter exceeds it with probability 3 × 10⁻⁵; the generator is seeded,
// so the outcome is the same on every run), and the measured rate must not
// be far below it either (that would mean memory wasted on bits that are
// not needed).
func TestFilterFalsePositiveRate(t *testing.T) {
	const n = 1_000_000
	for _, rate := range []float64{0.01, 0.001} {
		f := newSeenFilter(n, rate)
		for _, fp := range randomFps(2, n) {
			f.add(fp)
		}
		if len(f.stages) != 1 {
			t.Fatalf("rate %g: %d stages for the expected count", rate, len(f.stages))
		}
		fpos := 0
		for _, fp := range randomFps(3, n) {
			if f.mayContain(fp) {
				fpos++
			}
		}
		got := float64(fpos) / n
		sigma := math.Sqrt(rate * (1 - rate) / n)
		bpk := float64(f.bytes()*8) / n
		t.Logf("configured %g, measured %.5f (%d of %d), %.2f bits (%.2f B) per URL, k=%d",
			rate, got, fpos, n, bpk, bpk/8, f.stages[0].k)
		if got > rate+4*sigma {
			t.Errorf("configured rate %g, measured %.5f: above the bound %.5f", rate, got, rate+4*sigma)
		}
		if got < rate/2 {
			t.Errorf("configured rate %g, measured %.5f: the filter is oversized", rate, got)
		}
	}
}

// TestFilterGrowsKeepingRate: a filter sized for 1 000 fingerprints that
// receives 128 000 (7 doublings) grows, and its false-positive rate stays
// below twice the configured one (the geometric series of the stages'
// rates; 200 000 queries put the bound 6 standard deviations away).
func TestFilterGrowsKeepingRate(t *testing.T) {
	const rate = 0.01
	f := newSeenFilter(1_000, rate)
	const n = 128_000
	for _, fp := range randomFps(4, n) {
		f.add(fp)
	}
	fpos := 0
	const q = 200_000
	for _, fp := range randomFps(5, q) {
		if f.mayContain(fp) {
			fpos++
		}
	}
	got := float64(fpos) / q
	t.Logf("%d stages, measured rate %.5f, %.2f bits per URL", len(f.stages), got, float64(f.bytes()*8)/n)
	if len(f.stages) < 7 {
		t.Errorf("%d stages for 128 × the expected count", len(f.stages))
	}
	if got > 2*rate {
		t.Errorf("measured rate %.5f above twice the configured %g", got, rate)
	}
}

// TestBloomShape: the sizing meets the rate asked for, and a looser rate
// never costs more bits.
func TestBloomShape(t *testing.T) {
	prev := math.Inf(1)
	for _, rate := range []float64{1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.5} {
		b, k := bloomShape(rate)
		if p := blockedRate(b, k); p > rate {
			t.Errorf("rate %g: shape %.3f bits, k=%d gives %g", rate, b, k, p)
		}
		if b >= prev {
			t.Errorf("rate %g needs %.3f bits, a tighter rate needed %.3f", rate, b, prev)
		}
		prev = b
	}
}

// cuckoo is the candidate the blocked Bloom filter was measured against
// (only here, for the benchmarks): buckets of four 16-bit tags, one uint64
// each, two candidate buckets per fingerprint (Fan et al., "Cuckoo Filter:
// Practically Better Than Bloom", 2014), filled to 95 %.
type cuckoo struct {
	b  []uint64
	nb uint64
	r  *rand.Rand
}

const lanes = 0x0001000100010001

func newCuckoo(n int) *cuckoo {
	nb := uint64(math.Ceil(float64(n) / (4 * 0.95)))
	return &cuckoo{b: make([]uint64, nb), nb: nb, r: rand.New(rand.NewPCG(1, 2))}
}

// alt is the other bucket of a tag in bucket i: (h(tag) - i) mod nb is its
// own inverse, so the table need not be a power of two (which would cost
// up to twice the memory).
func (c *cuckoo) alt(i, tag uint64) uint64 {
	h := mix64(tag) % c.nb
	return (h + c.nb - i) % c.nb
}

func (c *cuckoo) hash(fp [16]byte) (i1, i2 uint64, tag uint64) {
	tag = (mix64(binary.LittleEndian.Uint64(fp[8:])) & 0xffff) | 1
	i1, _ = bits.Mul64(mix64(binary.LittleEndian.Uint64(fp[:8])), c.nb)
	return i1, c.alt(i1, tag), tag
}

// hasLane reports whether one of w's four 16-bit lanes equals tag.
func hasLane(w, tag uint64) bool {
	x := w ^ (tag * lanes)
	return (x-lanes)&^x&(lanes<<15) != 0
}

func (c *cuckoo) has(fp [16]byte) bool {
	i1, i2, tag := c.hash(fp)
	return hasLane(c.b[i1], tag) || hasLane(c.b[i2], tag)
}

func (c *cuckoo) put(i, tag uint64) bool {
	for l := 0; l < 4; l++ {
		if (c.b[i]>>(16*l))&0xffff == 0 {
			c.b[i] |= tag << (16 * l)
			return true
		}
	}
	return false
}

// add is false when the filter is too full: 500 kicks found no place.
func (c *cuckoo) add(fp [16]byte) bool {
	i1, i2, tag := c.hash(fp)
	if c.put(i1, tag) || c.put(i2, tag) {
		return true
	}
	i := i1
	if c.r.IntN(2) == 0 {
		i = i2
	}
	for range 500 {
		l := c.r.IntN(4) * 16
		old := (c.b[i] >> l) & 0xffff
		c.b[i] = c.b[i]&^(0xffff<<l) | tag<<l
		tag = old
		i = c.alt(i, tag)
		if c.put(i, tag) {
			return true
		}
	}
	return false
}

// TestCuckooCandidate: the benchmarked candidate is a working filter (no
// false negatives at 95 % load), and its rate is what the comparison in
// specs/benchmarks.md quotes.
func TestCuckooCandidate(t *testing.T) {
	const n = 1_000_000
	c := newCuckoo(n)
	fps := randomFps(6, n)
	for i, fp := range fps {
		if !c.add(fp) {
			t.Fatalf("cuckoo full after %d of %d", i, n)
		}
	}
	for _, fp := range fps {
		if !c.has(fp) {
			t.Fatal("cuckoo false negative")
		}
	}
	fpos := 0
	for _, fp := range randomFps(7, n) {
		if c.has(fp) {
			fpos++
		}
	}
	t.Logf("cuckoo: %.2f bits per URL, measured rate %.6f", float64(len(c.b)*64)/n, float64(fpos)/n)
}

// The benchmarks look up 1 M random fingerprints in a filter holding 1 M
// others (every lookup a "new URL", the case the filter is for) and report
// the bits per URL as a metric.
const benchN = 1_000_000

func BenchmarkFilterBloomLookup(b *testing.B) {
	for _, rate := range []float64{0.01, 0.0001} {
		b.Run(rateName(rate), func(b *testing.B) {
			f := newSeenFilter(benchN, rate)
			for _, fp := range randomFps(8, benchN) {
				f.add(fp)
			}
			q := randomFps(9, benchN)
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cputime.Process()
			hits := 0
			for i := 0; i < b.N; i++ {
				if f.mayContain(q[i%benchN]) {
					hits++
				}
			}
			reportCPU(b, c0)
			b.ReportMetric(float64(f.bytes()*8)/benchN, "bits/URL")
		})
	}
}

func BenchmarkFilterCuckooLookup(b *testing.B) {
	c := newCuckoo(benchN)
	for _, fp := range randomFps(8, benchN) {
		c.add(fp)
	}
	q := randomFps(9, benchN)
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cputime.Process()
	hits := 0
	for i := 0; i < b.N; i++ {
		if c.has(q[i%benchN]) {
			hits++
		}
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(len(c.b)*64)/benchN, "bits/URL")
}

func BenchmarkFilterBloomAdd(b *testing.B) {
	q := randomFps(10, benchN)
	b.ReportAllocs()
	f := newSeenFilter(benchN, 0.01)
	b.ResetTimer()
	c0 := cputime.Process()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		if i%benchN == 0 && i > 0 {
			b.StopTimer()
			f = newSeenFilter(benchN, 0.01)
			b.StartTimer()
		}
		f.add(q[i%benchN])
	}
}

func BenchmarkFilterCuckooAdd(b *testing.B) {
	q := randomFps(10, benchN)
	b.ReportAllocs()
	c := newCuckoo(benchN)
	b.ResetTimer()
	c0 := cputime.Process()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		if i%benchN == 0 && i > 0 {
			b.StopTimer()
			c = newCuckoo(benchN)
			b.StartTimer()
		}
		c.add(q[i%benchN])
	}
}

// reportCPU reports the process's CPU time per operation since c0: on a
// shared machine the wall time per operation (ns/op) counts the time the
// benchmark waited for a CPU (a profile showed it running 13 % of the
// time), the CPU time does not. The rebuilds between rounds of the Add
// benchmarks are in it, as a small share.
func reportCPU(b *testing.B, c0 time.Duration) {
	b.ReportMetric(float64(cputime.Process()-c0)/float64(b.N), "cpu-ns/op")
}

func rateName(r float64) string {
	switch r {
	case 0.01:
		return "rate=1%"
	case 0.0001:
		return "rate=0.01%"
	}
	return "rate=other"
}
