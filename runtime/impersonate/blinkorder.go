package impersonate

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Chromium sends the headers a page's script gives fetch() or
// XMLHttpRequest, and the ones Blink adds to them (User-Agent and the
// low-entropy client hints), in the order its renderer keeps them in:
// blink::HTTPHeaderMap, a WTF::HashMap keyed by the case-folded name. The
// request's headers are read out of it by iterating the hash table, slot
// by slot, into the network service's request, which adds the rest
// (Accept, Origin, sec-fetch-*, Referer, ...) after them. So where an
// author header lands depends on its name's hash and on how full the
// table is: reproduced here from Chromium's source (WTF's
// CaseFoldingHash over rapidhash, HashTable's open addressing with
// DoubleHash probing, kMinimumTableSize 8, kMaxLoad 2) and held to
// Chromium 148 by internal/livebrowser's TestRequestKinds.

// blinkMapNames are the headers of a fetch/XHR request that Blink's map
// holds besides the script's own (and Content-Type, which the script or
// the body sets).
var blinkMapNames = []string{"user-agent", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "content-type"}

// rapidhash constants (third_party/rapidhash, as Chromium ships it).
const (
	rapidSeed = 0xbdd89aa982704029
	rapidS0   = 0x2d358dccaa6c78a5
	rapidS1   = 0x8bb84b93962eacc9
	rapidS2   = 0x4b33a62ed433d4a3
)

func rapidMix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(p []byte) uint64 {
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

func le32(p []byte) uint64 {
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24
}

// rapidhash is rapidhash v1 with the default seed and secrets.
func rapidhash(p []byte) uint64 {
	n := uint64(len(p))
	seed := uint64(rapidSeed)
	seed ^= rapidMix(seed^rapidS0, rapidS1) ^ n
	var a, b uint64
	switch {
	case n <= 16 && n >= 4:
		last := n - 4
		a = le32(p)<<32 | le32(p[last:])
		delta := (n & 24) >> (n >> 3)
		b = le32(p[delta:])<<32 | le32(p[last-delta:])
	case n <= 16 && n > 0:
		a, b = uint64(p[0])<<56|uint64(p[n>>1])<<32|uint64(p[n-1]), 0
	case n <= 16:
	default:
		i, off := n, uint64(0)
		if i > 48 {
			see1, see2 := seed, seed
			for i >= 48 {
				seed = rapidMix(le64(p[off:])^rapidS0, le64(p[off+8:])^seed)
				see1 = rapidMix(le64(p[off+16:])^rapidS1, le64(p[off+24:])^see1)
				see2 = rapidMix(le64(p[off+32:])^rapidS2, le64(p[off+40:])^see2)
				off, i = off+48, i-48
			}
			seed ^= see1 ^ see2
		}
		if i > 16 {
			seed = rapidMix(le64(p[off:])^rapidS2, le64(p[off+8:])^seed^rapidS1)
			if i > 32 {
				seed = rapidMix(le64(p[off+16:])^rapidS2, le64(p[off+24:])^seed)
			}
		}
		a, b = le64(p[off+i-16:]), le64(p[off+i-8:])
	}
	a ^= rapidS1
	b ^= seed
	hi, lo := bits.Mul64(a, b)
	return rapidMix(lo^rapidS0^n, hi^rapidS1)
}

// caseFoldingHash is WTF::CaseFoldingHash of an ASCII name: rapidhash of
// its lower-cased UTF-16 (CaseFoldingHashReader always hashes UTF-16),
// masked to the 24 bits StringHasher keeps (never 0).
func caseFoldingHash(name string) uint32 {
	lower := strings.ToLower(name)
	buf := make([]byte, 0, 2*len(lower))
	for i := 0; i < len(lower); i++ {
		buf = append(buf, lower[i], 0)
	}
	h := uint32(rapidhash(buf) & (1<<24 - 1))
	if h == 0 {
		h = 0x80000000 >> 8
	}
	return h
}

// doubleHash is WTF's second hash, the probe step's source.
func doubleHash(key uint32) uint32 {
	key = ^key + (key >> 23)
	key ^= key << 12
	key ^= key >> 7
	key ^= key << 2
	key ^= key >> 20
	return key
}

// blinkOrder returns names (distinct case-insensitively) in the order a
// WTF::HashMap iterates them after they were inserted in the order given:
// the table starts at 8 slots and doubles, every entry reinserted in slot
// order, once it is half full; a taken slot sends the probe on by
// 1|doubleHash(hash).
func blinkOrder(names []string) []string {
	var table []string
	place := func(t []string, name string) {
		mask := uint32(len(t) - 1)
		h := caseFoldingHash(name)
		i, k := h&mask, uint32(0)
		for t[i] != "" {
			if k == 0 {
				k = 1 | doubleHash(h)
			}
			i = (i + k) & mask
		}
		t[i] = name
	}
	count := 0
	for _, n := range names {
		if table == nil {
			table = make([]string, 8)
		}
		place(table, n)
		count++
		if count*2 >= len(table) {
			old := table
			table = make([]string, 2*len(old))
			for _, o := range old {
				if o != "" {
					place(table, o)
				}
			}
		}
	}
	return slices.DeleteFunc(table, func(s string) bool { return s == "" })
}

// blinkReorder puts the headers of out that Blink's map holds for a
// script's request (blinkMapNames, and every name the kind's order o does
// not know: the script's own) in the map's order, in the places they
// took. They are inserted the script's headers first, in the order
// fetch()'s header list sorts them (by lower-cased name), then User-Agent
// and the client hints, as Blink builds the request.
func blinkReorder(out crawl.Headers, o kindOrder) crawl.Headers {
	known := func(name string) bool {
		return slices.ContainsFunc(o.names, func(n string) bool { return strings.EqualFold(n, name) })
	}
	var at []int
	var author, added []string
	byName := map[string]crawl.Header{}
	for i, kv := range out {
		name := strings.ToLower(kv.Name)
		switch {
		case slices.Contains(blinkMapNames, name):
			if name == "content-type" {
				author = append(author, name)
			} else {
				added = append(added, name)
			}
		case !known(name):
			if _, dup := byName[name]; dup {
				continue // a repeated name: the map holds it once (joined)
			}
			author = append(author, name)
		default:
			continue
		}
		at = append(at, i)
		byName[name] = kv
	}
	if len(at) < 2 {
		return out
	}
	slices.Sort(author)
	// Among Blink's own, the insertion order only matters when two
	// collide, which none of these does in a table of 16 or 32 slots: it
	// is not measured.
	slices.SortFunc(added, func(a, b string) int {
		return slices.Index(blinkMapNames, a) - slices.Index(blinkMapNames, b)
	})
	order := blinkOrder(append(author, added...))
	res := out.Clone()
	for j, i := range at {
		res[i] = byName[order[j]]
	}
	return res
}
