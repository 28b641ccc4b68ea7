package quic

// spiderrun patch (change 4 in PATCHES.md): Chromium's "chaos protection"
// of the client's Initial packets, ported from quiche
// (quic/core/quic_packet_creator.cc MultiPacketChaosProtect and
// quic/core/quic_chaos_protector.cc), so that a client can send its
// ClientHello laid out as Chromium does. Off unless Config.ChaosProtection
// is set; nothing here runs for plain quic-go.

import (
	"fmt"
	"math/rand/v2"

	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/ackhandler"
	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/protocol"
	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/wire"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// quiche's constants: the first packet's head fragment is 55 (a TLS
// ClientHello's fixed header with 3 cipher suites up to the first
// extension's length) plus 0..31 bytes; each Initial gets 2..10 CRYPTO
// splits attempted and 2..10 PING frames.
const (
	chaosMinFirstFrameLength    = 55
	chaosFirstFrameLengthRandom = 32
	chaosMinAdded               = 2
	chaosMaxAdded               = 10
)

// minCryptoFrameSize is quiche's QuicFramer::GetMinCryptoFrameSize: type
// byte, offset and length varints.
func minCryptoFrameSize(offset, length protocol.ByteCount) protocol.ByteCount {
	return 1 + protocol.ByteCount(quicvarint.Len(uint64(offset))+quicvarint.Len(uint64(length)))
}

// chaosHelloLength reports the length of the TLS handshake message at the
// start of b (4-byte header plus body), or 0 while the header is not all
// there.
func chaosHelloLength(b []byte) protocol.ByteCount {
	if len(b) < 4 {
		return 0
	}
	return 4 + protocol.ByteCount(b[1])<<16 + protocol.ByteCount(b[2])<<8 + protocol.ByteCount(b[3])
}

// popChaosFirstPacket is quiche's MultiPacketChaosProtect: when the whole
// ClientHello (written at offset 0) does not fit the first Initial, that
// packet carries the hello's first 55..86 bytes and its end, so that a
// middlebox must reassemble several packets to read any extension; the
// following packets carry the middle in order. The first packet holds as
// much hello data as the others, less the reserve for the second frame.
// maxLen is the first packet's room for frames. It returns nil (and
// changes nothing) when the hello fits one packet or is not complete yet.
func (s *initialCryptoStream) popChaosFirstPacket(maxLen protocol.ByteCount, r *rand.Rand) []*wire.CryptoFrame {
	if !s.chaos || s.chaosPlanned || s.writeOffset != 0 {
		return nil
	}
	w := chaosHelloLength(s.writeBuf)
	if w == 0 || protocol.ByteCount(len(s.writeBuf)) < w {
		return nil
	}
	s.chaosPlanned = true
	m := minCryptoFrameSize(w-1, w)
	if maxLen < 2*m {
		return nil
	}
	maxFirst := maxLen - 2*m
	maxOther := maxLen - m
	if w <= maxFirst {
		return nil // one packet: only the per-packet protection applies
	}
	occupied := maxOther - maxFirst
	packets := (w + occupied + maxOther - 1) / maxOther
	inOther := (w + occupied + packets - 1) / packets
	if inOther < occupied {
		return nil
	}
	inFirst := inOther - occupied
	first := protocol.ByteCount(chaosMinFirstFrameLength + r.IntN(chaosFirstFrameLengthRandom))
	if w <= first || inFirst <= first {
		return nil
	}
	last := inFirst - first
	buf := s.writeBuf
	head := &wire.CryptoFrame{Offset: 0, Data: buf[:first:first]}
	tail := &wire.CryptoFrame{Offset: w - last, Data: buf[w-last : w : w]}
	// What is left to send: the middle, then whatever followed the hello.
	rest := make([]byte, 0, len(buf)-int(inFirst))
	rest = append(rest, buf[first:w-last]...)
	rest = append(rest, buf[w:]...)
	s.writeBuf = rest
	s.writeOffset = first
	s.chaosGapAt, s.chaosGapLen = w-last, last
	return []*wire.CryptoFrame{head, tail}
}

// popChaosCryptoFrame is PopCryptoFrame with the hello's tail, already
// sent in the first packet, skipped.
func (s *initialCryptoStream) popChaosCryptoFrame(maxLen protocol.ByteCount) *wire.CryptoFrame {
	if s.chaosGapLen == 0 {
		return s.baseCryptoStream.PopCryptoFrame(maxLen)
	}
	f := &wire.CryptoFrame{Offset: s.writeOffset}
	n := min(f.MaxDataLen(maxLen), protocol.ByteCount(len(s.writeBuf)), s.chaosGapAt-s.writeOffset)
	if n <= 0 {
		return nil
	}
	f.Data = s.writeBuf[:n:n]
	s.writeBuf = s.writeBuf[n:]
	s.writeOffset += n
	if s.writeOffset == s.chaosGapAt {
		s.writeOffset += s.chaosGapLen
		s.chaosGapLen = 0
	}
	return f
}

// chaosItem is one frame of a chaos-protected Initial payload, in wire
// order: a frame (with the handler told of its loss or acknowledgement;
// a fragment keeps its CRYPTO frame's), the ACK, or padding bytes.
type chaosItem struct {
	frame   wire.Frame
	handler ackhandler.FrameHandler
	isAck   bool
	padding protocol.ByteCount
}

func (c chaosItem) length(v protocol.Version) protocol.ByteCount {
	if c.frame == nil {
		return c.padding
	}
	return c.frame.Length(v)
}

// chaosProtect is quiche's QuicChaosProtector for one client Initial that
// carries CRYPTO data and paddingLen bytes of padding: it splits the CRYPTO
// frames at random points, adds PING frames, spreads the padding between
// the frames and shuffles them (an ACK keeps its place), spending only the
// padding bytes, so the packet keeps its size. It returns the frames in
// wire order and pl with its frames (the fragments, the PINGs) and length
// updated; layout is nil when the packet is not one to protect.
func chaosProtect(pl payload, paddingLen protocol.ByteCount, r *rand.Rand, v protocol.Version) (_ payload, layout []chaosItem, err error) {
	if paddingLen <= 0 || len(pl.streamFrames) > 0 {
		return pl, nil, nil
	}
	var items []chaosItem
	if pl.ack != nil {
		items = append(items, chaosItem{frame: pl.ack, isAck: true})
	}
	var lo, hi protocol.ByteCount
	hasCrypto := false
	for _, f := range pl.frames {
		items = append(items, chaosItem{frame: f.Frame, handler: f.Handler})
		cf, isCrypto := f.Frame.(*wire.CryptoFrame)
		if !isCrypto {
			continue
		}
		end := cf.Offset + protocol.ByteCount(len(cf.Data))
		if !hasCrypto {
			lo, hi = cf.Offset, end
		}
		lo, hi = min(lo, cf.Offset), max(hi, end)
		hasCrypto = true
	}
	if !hasCrypto {
		return pl, nil, nil
	}
	remaining := paddingLen

	// SplitCryptoFrame: a random frame (only CRYPTO ones are split) is cut
	// at a random point, paying the new frame header from the padding.
	maxOverhead := minCryptoFrameSize(hi, hi-lo)
	splits := chaosMinAdded + r.IntN(chaosMaxAdded+1-chaosMinAdded)
	for range splits {
		if remaining < maxOverhead {
			break
		}
		i := r.IntN(len(items))
		cf, isCrypto := items[i].frame.(*wire.CryptoFrame)
		if !isCrypto || len(cf.Data) <= 1 {
			continue
		}
		oldOverhead := minCryptoFrameSize(cf.Offset, protocol.ByteCount(len(cf.Data)))
		keep := 1 + r.IntN(len(cf.Data)-1)
		second := &wire.CryptoFrame{Offset: cf.Offset + protocol.ByteCount(keep), Data: cf.Data[keep:]}
		first := &wire.CryptoFrame{Offset: cf.Offset, Data: cf.Data[:keep:keep]}
		items[i].frame = first
		items = append(items, chaosItem{frame: second, handler: items[i].handler})
		remaining -= minCryptoFrameSize(second.Offset, protocol.ByteCount(len(second.Data)))
		remaining -= minCryptoFrameSize(first.Offset, protocol.ByteCount(len(first.Data)))
		remaining += oldOverhead
	}

	// AddPingFrames.
	if remaining > 0 {
		pings := min(protocol.ByteCount(chaosMinAdded+r.IntN(chaosMaxAdded+1-chaosMinAdded)), remaining)
		for range pings {
			items = append(items, chaosItem{frame: &wire.PingFrame{}, handler: emptyHandler{}})
		}
		remaining -= pings
	}

	// SpreadPadding: before each frame a random share of what is left (not
	// before an ACK), the rest at the end.
	spread := make([]chaosItem, 0, 2*len(items)+1)
	for _, it := range items {
		n := protocol.ByteCount(r.Int64N(int64(remaining) + 1))
		if n > 0 && !it.isAck {
			spread = append(spread, chaosItem{padding: n})
			remaining -= n
		}
		spread = append(spread, it)
	}
	if remaining > 0 {
		spread = append(spread, chaosItem{padding: remaining})
	}

	// ReorderFrames: walk backwards, swapping each with a random earlier
	// one; an ACK stays where it is.
	for i := len(spread) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		if !spread[i].isAck && !spread[j].isAck {
			spread[i], spread[j] = spread[j], spread[i]
		}
	}

	out := payload{ack: pl.ack}
	var padded protocol.ByteCount
	for _, it := range spread {
		switch {
		case it.frame == nil:
			padded += it.padding
			continue
		case !it.isAck:
			out.frames = append(out.frames, ackhandler.Frame{Frame: it.frame, Handler: it.handler})
		}
		out.length += it.length(v)
	}
	if out.length+padded != pl.length+paddingLen {
		// The packet's Length field is computed from these: a mismatch
		// would send a corrupt packet.
		return pl, nil, fmt.Errorf("PacketPacker BUG: chaos protection laid out %d+%d bytes for %d+%d", out.length, padded, pl.length, paddingLen)
	}
	return out, spread, nil
}

// appendChaosPayload writes a chaos-protected payload in its layout order.
func appendChaosPayload(raw []byte, layout []chaosItem, v protocol.Version) ([]byte, error) {
	for _, it := range layout {
		if it.frame == nil {
			raw = append(raw, make([]byte, it.padding)...)
			continue
		}
		var err error
		if raw, err = it.frame.Append(raw, v); err != nil {
			return nil, err
		}
	}
	return raw, nil
}
