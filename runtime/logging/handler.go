// Package logging is the crawl's log output: Scrapy-style text lines or
// JSON (LOG_FORMAT), and a live progress line on a terminal (Live).
//
// The text format is Scrapy's LOG_FORMAT and LOG_DATEFORMAT,
//
//	2026-12-07 06:16:00 [spiderrun] INFO: Spider opened
//
// followed by the record's attributes as key=value pairs, so that users'
// grep habits carry over. A string attribute that holds line breaks (a
// JavaScript stack trace) is written after the line, indented, with its
// line breaks kept.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Formats are the values of LOG_FORMAT.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// DefaultName is the bracketed logger name of lines from no component.
const DefaultName = "spiderrun"

// NameKey is the attribute that names a line's component (`[redisq]`);
// SpiderKey, the spider's name, is left out of text lines (one process
// runs one spider) but kept in JSON.
const (
	NameKey   = "component"
	SpiderKey = "spider"
)

// NewHandler returns a handler writing format ("text" or "json"; "" is
// text) to w at level. Writes to w are serialised.
func NewHandler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
	switch strings.ToLower(format) {
	case "", FormatText:
		return &textHandler{out: &lockedWriter{w: w}, level: level, name: DefaultName}, nil
	case FormatJSON:
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonLevel}), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT %q: want text or json", format)
}

// ParseLevel reads LOG_LEVEL (Scrapy's names; WARN is WARNING, CRITICAL
// logs errors).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug, nil
	case "", "INFO":
		return slog.LevelInfo, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR", "CRITICAL":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("LOG_LEVEL %q: want DEBUG, INFO, WARNING, ERROR or CRITICAL", s)
}

func jsonLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(stats.LevelName(l))
		}
	}
	return a
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(b)
	return err
}

// textHandler writes Scrapy-style lines. attrs holds the formatted
// attributes of WithAttrs, prefix the open groups.
type textHandler struct {
	out    *lockedWriter
	level  slog.Leveler
	name   string
	attrs  []byte
	blocks []byte // multi-line attributes of WithAttrs
	prefix string
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]byte(nil), h.attrs...)
	c.blocks = append([]byte(nil), h.blocks...)
	for _, a := range as {
		if h.prefix == "" && a.Key == NameKey {
			c.name = a.Value.String()
			continue
		}
		c.attrs, c.blocks = appendAttr(c.attrs, c.blocks, h.prefix, a)
	}
	return &c
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	b := make([]byte, 0, 256)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = t.AppendFormat(b, "2006-01-02 15:04:05")
	b = append(b, " ["...)
	name := h.name
	attrs, blocks := h.attrs, h.blocks
	var own, ownBlocks []byte
	r.Attrs(func(a slog.Attr) bool {
		if h.prefix == "" && a.Key == NameKey {
			name = a.Value.String()
			return true
		}
		own, ownBlocks = appendAttr(own, ownBlocks, h.prefix, a)
		return true
	})
	b = append(b, name...)
	b = append(b, "] "...)
	b = append(b, stats.LevelName(r.Level)...)
	b = append(b, ": "...)
	b = append(b, r.Message...)
	b = append(b, attrs...)
	b = append(b, own...)
	b = append(b, '\n')
	b = append(b, blocks...)
	b = append(b, ownBlocks...)
	return h.out.write(b)
}

// appendAttr appends " key=value" to line; a multi-line string value is
// written as "key=⏎" on the line and its lines, indented, to blocks.
func appendAttr(line, blocks []byte, prefix string, a slog.Attr) ([]byte, []byte) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return line, blocks
	}
	if prefix == "" && a.Key == SpiderKey {
		return line, blocks
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			line, blocks = appendAttr(line, blocks, p, g)
		}
		return line, blocks
	}
	key := prefix + a.Key
	var s string
	switch a.Value.Kind() {
	case slog.KindString:
		s = a.Value.String()
	case slog.KindTime:
		s = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			s = err.Error()
		} else {
			s = a.Value.String()
		}
	default:
		s = a.Value.String()
	}
	line = append(line, ' ')
	line = append(line, key...)
	line = append(line, '=')
	if strings.Contains(strings.TrimRight(s, "\n"), "\n") {
		line = append(line, "(below)"...)
		blocks = append(blocks, "    "...)
		blocks = append(blocks, key...)
		blocks = append(blocks, ":\n"...)
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			blocks = append(blocks, "    "...)
			blocks = append(blocks, strings.TrimRight(l, "\r")...)
			blocks = append(blocks, '\n')
		}
		return line, blocks
	}
	return appendValue(line, s), blocks
}

// appendValue writes s bare when it is one plain token, else quoted.
func appendValue(b []byte, s string) []byte {
	if s == "" || needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == '"' || r == '=' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}
