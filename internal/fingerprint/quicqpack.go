package fingerprint

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/internal/qpackdyn"
)

// QPACKConn is what a client's QPACK encoder sent on one HTTP/3
// connection, from the QUIC server's captures: the requests in stream
// order (the order the encoder encoded them), each with its field list as
// decoded and its field section as sent, and the encoder stream.
type QPACKConn struct {
	Conn     int
	Paths    []string
	Streams  []uint64
	Fields   [][]qpackdyn.Field
	Sections [][]byte
	// EncoderStream is the whole encoder stream received by the last
	// answer.
	EncoderStream []byte
	// SettingsAt is the first request whose section references the
	// dynamic table: the ones before it were encoded before the server's
	// SETTINGS reached the client (len(Streams) when none did).
	SettingsAt int
}

// QPACKConns groups HTTP/3 captures by connection, in connection order.
func QPACKConns(caps []Capture) ([]*QPACKConn, error) {
	byConn := map[int]*QPACKConn{}
	var order []int
	for _, c := range caps {
		if c.H3 == nil {
			continue
		}
		q := byConn[c.Conn]
		if q == nil {
			q = &QPACKConn{Conn: c.Conn}
			byConn[c.Conn] = q
			order = append(order, c.Conn)
		}
		sec, err := hex.DecodeString(c.H3.FieldSection)
		if err != nil || len(sec) < 2 {
			return nil, fmt.Errorf("connection %d %s: field section %q", c.Conn, c.Path, c.H3.FieldSection)
		}
		enc, err := hex.DecodeString(c.H3.EncoderStream)
		if err != nil {
			return nil, fmt.Errorf("connection %d %s: encoder stream: %w", c.Conn, c.Path, err)
		}
		if len(enc) > len(q.EncoderStream) {
			q.EncoderStream = enc
		}
		var fields []qpackdyn.Field
		for _, p := range c.H3.PseudoOrder {
			v := map[string]string{":method": c.Method, ":authority": c.Authority, ":path": c.Path, ":scheme": "https"}[p]
			fields = append(fields, qpackdyn.Field{Name: p, Value: v})
		}
		for _, h := range c.Headers {
			fields = append(fields, qpackdyn.Field{Name: strings.ToLower(h.Name), Value: h.Value})
		}
		i, _ := slices.BinarySearch(q.Streams, c.H3.StreamID)
		q.Streams = slices.Insert(q.Streams, i, c.H3.StreamID)
		q.Paths = slices.Insert(q.Paths, i, c.Path)
		q.Fields = slices.Insert(q.Fields, i, fields)
		q.Sections = slices.Insert(q.Sections, i, sec)
	}
	var out []*QPACKConn
	for _, id := range order {
		q := byConn[id]
		q.SettingsAt = len(q.Sections)
		for i, s := range q.Sections {
			if s[0] != 0 {
				q.SettingsAt = i
				break
			}
		}
		out = append(out, q)
	}
	return out, nil
}

// Replay encodes q's field lists with qpackdyn's quiche encoder under the
// same conditions (SETTINGS at q.SettingsAt; the server's table capacity
// and blocked streams, limit the client's own capacity) and lists where
// the result differs from what the client sent: nothing for a client
// that encodes as quiche does. fields replaces q.Fields when not nil.
func (q *QPACKConn) Replay(fields [][]qpackdyn.Field, capacity, blocked, limit uint64) []string {
	if fields == nil {
		fields = q.Fields
	}
	enc, secs := qpackdyn.Replay(fields, q.Streams, q.SettingsAt, capacity, limit, blocked)
	var diffs []string
	for i, s := range secs {
		if !slices.Equal(s, q.Sections[i]) {
			diffs = append(diffs, fmt.Sprintf("%s (stream %d): field section %x, quiche's %x", q.Paths[i], q.Streams[i], q.Sections[i], s))
		}
	}
	if !slices.Equal(enc, q.EncoderStream) {
		diffs = append(diffs, fmt.Sprintf("encoder stream %x, quiche's %x", q.EncoderStream, enc))
	}
	return diffs
}

// QPACKEvidence is a browser's QPACK captures against a server allowing
// a dynamic table, kept as testdata.
type QPACKEvidence struct {
	Browser string `json:"browser"`
	Capture string `json:"capture"`
	// The server's SETTINGS_QPACK_MAX_TABLE_CAPACITY and
	// SETTINGS_QPACK_BLOCKED_STREAMS, and the table capacity the browser
	// announces (quiche's encoder sets at most that).
	ServerCapacity       uint64    `json:"server_capacity"`
	ServerBlockedStreams uint64    `json:"server_blocked_streams"`
	BrowserTableCapacity uint64    `json:"browser_table_capacity"`
	Captures             []Capture `json:"captures"`
}
