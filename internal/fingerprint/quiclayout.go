package fingerprint

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Chromium's quiche lays out a client's Initial packets at random
// ("chaos protection", quic/core/quic_chaos_protector.cc and
// quic_packet_creator.cc's MultiPacketChaosProtect): no two connections
// look alike, so a summary cannot keep the layout itself. It keeps
// instead the rules every connection's layout satisfies, as ranges: a
// client whose counts fall outside (quic-go's two CRYPTO frames and no
// PING) is told apart, one inside is as random as the browser.
const (
	// The first packet of a split ClientHello starts with 55 + 0..31
	// bytes of it (kMinFirstFrameLength, kFirstFrameLengthRandom).
	chaosFirstMin = 55
	chaosFirstMax = 86
	// Each Initial gets 2..10 PING frames and 2..10 attempts at splitting
	// a CRYPTO frame (kMin/kMaxAddedPingFrames, ...CryptoFrames).
	chaosMinAdded = 2
	chaosMaxAdded = 10
)

// Hello splits as QUICInitialLayout.HelloSplit names them.
const (
	SplitChaos    = "chaos protection: packet 1 carries the hello's first 55-86 bytes and its end, the next packets the middle in order"
	SplitOne      = "one packet"
	SplitInOrder  = "in order"
	SplitScramble = "other (fragments out of order, not chaos protection's head and tail)"
)

// QUICInitialLayout is how the client's Initial packets carry the
// ClientHello, over all connections of a summary: the split of the hello
// over the packets, and per packet the number of PING frames, CRYPTO
// frames and PADDING runs. A count is given as Chromium's range ("2-10")
// when every connection lies within it, else as the range seen
// ("seen 0-0").
type QUICInitialLayout struct {
	HelloSplit string `json:"hello_split"`
	// PingFrames, PaddingRuns: per packet, all packets.
	PingFrames  string `json:"ping_frames_per_packet"`
	PaddingRuns string `json:"padding_runs_per_packet"`
	// CryptoFrames per packet index ("packet 1: 2-12").
	CryptoFrames []string `json:"crypto_frames_per_packet"`
}

// QUICLayoutCounts are one connection's Initial packets as counts, the
// distributions a test logs and the docs quote.
type QUICLayoutCounts struct {
	Split string
	// Per packet, in order.
	Ping, Crypto, Padding []int
	// First is the length of the hello's head fragment in packet 1 (the
	// merged fragments from offset 0) when the split is SplitChaos.
	First int
}

// fragmentRuns merges a packet's CRYPTO fragments into the byte ranges
// [start, end) they cover.
func fragmentRuns(p InitialPacket) [][2]uint64 {
	cs := make([][2]uint64, 0, len(p.Crypto))
	for _, c := range p.Crypto {
		cs = append(cs, [2]uint64{c[0], c[0] + c[1]})
	}
	slices.SortFunc(cs, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
	var out [][2]uint64
	for _, c := range cs {
		if n := len(out); n > 0 && out[n-1][1] == c[0] {
			out[n-1][1] = c[1]
			continue
		}
		out = append(out, c)
	}
	return out
}

func varintLen(v uint64) uint64 {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	}
	return 8
}

// LayoutCounts reads the Initial packets of one connection: how the
// hello is split and the frame counts per packet.
func (q *QUICHello) LayoutCounts() QUICLayoutCounts {
	var c QUICLayoutCounts
	var packets []InitialPacket
	for _, p := range q.Packets {
		if len(p.Crypto) > 0 {
			packets = append(packets, p)
		}
	}
	for _, p := range packets {
		count := func(k string) int {
			n := 0
			for _, f := range p.Frames {
				if f == k {
					n++
				}
			}
			return n
		}
		c.Ping = append(c.Ping, count(FramePing))
		c.Crypto = append(c.Crypto, count(FrameCrypto))
		c.Padding = append(c.Padding, count(FramePadding))
	}
	c.Split = SplitScramble
	if len(packets) == 0 {
		return c
	}
	runs := make([][][2]uint64, len(packets))
	for i, p := range packets {
		runs[i] = fragmentRuns(p)
	}
	if len(packets) == 1 {
		if len(runs[0]) == 1 && runs[0][0][0] == 0 {
			c.Split = SplitOne
		}
		return c
	}
	inOrder := true
	var next uint64
	for _, r := range runs {
		if len(r) != 1 || r[0][0] != next {
			inOrder = false
			break
		}
		next = r[0][1]
	}
	if inOrder {
		c.Split = SplitInOrder
		return c
	}
	// Chaos protection: packet 1 holds [0, F) and [W-L, W); packets 2..n
	// hold [F, W-L) in order; packet 1 carries ceil((W+m)/n)-m bytes, m
	// being the smallest CRYPTO frame overhead at the hello's end.
	first := runs[0]
	if len(first) != 2 || first[0][0] != 0 {
		return c
	}
	f, tail, w := first[0][1], first[1][0], first[1][1]
	next = f
	for _, r := range runs[1:] {
		if len(r) != 1 || r[0][0] != next {
			return c
		}
		next = r[0][1]
	}
	n := uint64(len(packets))
	m := 1 + varintLen(w-1) + varintLen(w)
	if next != tail || f < chaosFirstMin || f > chaosFirstMax || f+(w-tail) != (w+m+n-1)/n-m {
		return c
	}
	c.Split, c.First = SplitChaos, int(f)
	return c
}

// rangeOf describes values against Chromium's range [lo, hi]: the range
// itself when they all lie in it, else what was seen.
func rangeOf(vs []int, lo, hi int) string {
	if len(vs) == 0 {
		return "none"
	}
	mn, mx := slices.Min(vs), slices.Max(vs)
	if mn >= lo && (hi < 0 || mx <= hi) {
		if hi < 0 {
			return fmt.Sprintf("%d or more", lo)
		}
		return fmt.Sprintf("%d-%d", lo, hi)
	}
	return fmt.Sprintf("seen %d-%d", mn, mx)
}

// summarizeLayout is the QUICInitialLayout of several connections.
func summarizeLayout(hellos []*QUICHello) *QUICInitialLayout {
	var splits []string
	var pings, paddings []int
	var crypto [][]int // by packet index
	chaos := true
	for _, q := range hellos {
		c := q.LayoutCounts()
		if !slices.Contains(splits, c.Split) {
			splits = append(splits, c.Split)
		}
		chaos = chaos && c.Split == SplitChaos
		pings = append(pings, c.Ping...)
		paddings = append(paddings, c.Padding...)
		for i, n := range c.Crypto {
			if i == len(crypto) {
				crypto = append(crypto, nil)
			}
			crypto[i] = append(crypto[i], n)
		}
	}
	slices.Sort(splits)
	l := &QUICInitialLayout{
		HelloSplit:  strings.Join(splits, "; "),
		PingFrames:  rangeOf(pings, chaosMinAdded, chaosMaxAdded),
		PaddingRuns: rangeOf(paddings, 1, -1),
	}
	for i, ns := range crypto {
		// Packet 1 of a chaos-split hello starts from two fragments (head
		// and tail), every other packet from one; each gets up to 10
		// splits.
		base := 1
		if i == 0 && chaos {
			base = 2
		}
		l.CryptoFrames = append(l.CryptoFrames, fmt.Sprintf("packet %d: %s", i+1, rangeOf(ns, base, base+chaosMaxAdded)))
	}
	return l
}

// ChaosProtected reports whether the summarised connections laid out
// their Initials as Chromium's chaos protection does (the split, when the
// hello needed several packets, and PING frames in Chromium's range in
// every packet).
func (s *QUICSummary) ChaosProtected() bool {
	l := s.InitialLayout
	if l == nil || !slices.Contains(s.FrameKinds, FramePing) || strings.HasPrefix(l.PingFrames, "seen") {
		return false
	}
	return l.HelloSplit == SplitChaos || l.HelloSplit == SplitOne
}

// LayoutDistribution describes the Initial layouts of captures (the first
// capture of each connection counts) as value histograms per packet, for
// test logs and the docs' measurements: "value×times".
func LayoutDistribution(caps []Capture) string {
	seen := map[int]bool{}
	splits := map[string]int{}
	var heads []int
	type hist map[int]int
	var ping, crypto, padding []hist
	conns := 0
	for _, c := range caps {
		if c.QUIC == nil || seen[c.Conn] {
			continue
		}
		seen[c.Conn] = true
		conns++
		l := c.QUIC.LayoutCounts()
		splits[l.Split]++
		if l.First > 0 {
			heads = append(heads, l.First)
		}
		for i := range l.Ping {
			if i == len(ping) {
				ping, crypto, padding = append(ping, hist{}), append(crypto, hist{}), append(padding, hist{})
			}
			ping[i][l.Ping[i]]++
			crypto[i][l.Crypto[i]]++
			padding[i][l.Padding[i]]++
		}
	}
	show := func(h hist) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(h)) {
			parts = append(parts, fmt.Sprintf("%d×%d", k, h[k]))
		}
		return strings.Join(parts, " ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d connections;", conns)
	for _, s := range slices.Sorted(maps.Keys(splits)) {
		short := map[string]string{SplitChaos: "head+tail|middle", SplitOne: "one packet", SplitInOrder: "in order", SplitScramble: "other"}[s]
		fmt.Fprintf(&b, " split %s×%d;", short, splits[s])
	}
	if len(heads) > 0 {
		fmt.Fprintf(&b, " head fragment %d-%d bytes;", slices.Min(heads), slices.Max(heads))
	}
	for i := range ping {
		fmt.Fprintf(&b, " packet %d: PING %s, CRYPTO %s, PADDING runs %s;", i+1, show(ping[i]), show(crypto[i]), show(padding[i]))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// LayoutSpread checks that the random parts of a client's Initial layout
// take as many values over its connections as Chromium's draws do: 2..10
// PING frames uniformly per packet, so over 16 connections (32 packets)
// at least 4 distinct counts (fewer by chance: below 1e-12), and per
// packet position at least 3 distinct CRYPTO frame counts (below 1e-9). A
// client that passes initial_layout's ranges with a fixed or narrow draw
// fails here. It needs at least 16 connections.
func LayoutSpread(caps []Capture) error {
	seen := map[int]bool{}
	pings := map[int]bool{}
	var crypto []map[int]bool
	for _, c := range caps {
		if c.QUIC == nil || seen[c.Conn] {
			continue
		}
		seen[c.Conn] = true
		l := c.QUIC.LayoutCounts()
		for i := range l.Ping {
			pings[l.Ping[i]] = true
			if i == len(crypto) {
				crypto = append(crypto, map[int]bool{})
			}
			crypto[i][l.Crypto[i]] = true
		}
	}
	if len(seen) < 16 {
		return fmt.Errorf("layout spread: %d connections, at least 16 are needed", len(seen))
	}
	if len(pings) < 4 {
		return fmt.Errorf("layout spread: PING counts per packet took %d values over %d connections (%v), Chromium's draw of 2..10 takes at least 4", len(pings), len(seen), slices.Sorted(maps.Keys(pings)))
	}
	for i, m := range crypto {
		if len(m) < 3 {
			return fmt.Errorf("layout spread: CRYPTO frame counts of packet %d took %d values over %d connections (%v), Chromium's take at least 3", i+1, len(m), len(seen), slices.Sorted(maps.Keys(m)))
		}
	}
	return nil
}
