package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func record(level slog.Level, msg string, attrs ...any) slog.Record {
	r := slog.NewRecord(time.Date(2026, 12, 7, 6, 16, 0, 0, time.Local), level, msg, 0)
	r.Add(attrs...)
	return r
}

func TestTextLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		with  []any
		group string
		rec   slog.Record
		want  string
	}{
		{"Scrapy's layout", nil, "", record(slog.LevelInfo, "Spider opened"),
			"2026-12-07 06:16:00 [spiderrun] INFO: Spider opened\n"},
		{"levels in Scrapy's names", nil, "", record(slog.LevelWarn, "w"),
			"2026-12-07 06:16:00 [spiderrun] WARNING: w\n"},
		{"attributes as key=value, quoted when needed", nil, "", record(slog.LevelError, "failed", "url", "http://x.test/a b", "n", 3, "err", errors.New(`no "such" host`), "empty", ""),
			`2026-12-07 06:16:00 [spiderrun] ERROR: failed url="http://x.test/a b" n=3 err="no \"such\" host" empty=""` + "\n"},
		{"the component names the line; the spider is left out", []any{"spider", "quotes", "component", "redisq"}, "", record(slog.LevelInfo, "lease bound", "max_leases", 16),
			"2026-12-07 06:16:00 [redisq] INFO: lease bound max_leases=16\n"},
		{"groups prefix keys", []any{"a", 1}, "g", record(slog.LevelDebug, "m", "b", 2),
			"2026-12-07 06:16:00 [spiderrun] DEBUG: m a=1 g.b=2\n"},
		{"a stack trace keeps its line breaks", nil, "", record(slog.LevelError, "callback failed", "url", "http://x.test/", "error", "TypeError: x is undefined\n    at parse (spider.js:3:5)\n"),
			"2026-12-07 06:16:00 [spiderrun] ERROR: callback failed url=http://x.test/ error=(below)\n    error:\n    TypeError: x is undefined\n        at parse (spider.js:3:5)\n"},
		{"a message with a line break stays as written (Scrapy's Scraped from)", nil, "", record(slog.LevelDebug, "Scraped from <200 http://x.test/>\n{\"a\":1}"),
			"2026-12-07 06:16:00 [spiderrun] DEBUG: Scraped from <200 http://x.test/>\n{\"a\":1}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h, err := NewHandler(&buf, "text", slog.LevelDebug)
			if err != nil {
				t.Fatal(err)
			}
			l := slog.New(h)
			if tc.with != nil {
				l = l.With(tc.with...)
			}
			if tc.group != "" {
				l = l.WithGroup(tc.group)
			}
			if err := l.Handler().Handle(context.Background(), tc.rec); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Fatalf("\n got %q\nwant %q", buf.String(), tc.want)
			}
		})
	}
}

func TestJSONAndLevels(t *testing.T) {
	var buf bytes.Buffer
	h, err := NewHandler(&buf, "JSON", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(h).With("spider", "quotes")
	l.Debug("hidden")
	l.Warn("slow", "url", "http://x.test/")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if got["level"] != "WARNING" || got["msg"] != "slow" || got["spider"] != "quotes" || got["url"] != "http://x.test/" {
		t.Fatalf("%v", got)
	}
	if _, err := NewHandler(&buf, "yaml", slog.LevelInfo); err == nil || !strings.Contains(err.Error(), `LOG_FORMAT "yaml": want text or json`) {
		t.Fatalf("bad format: %v", err)
	}
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "": slog.LevelInfo, "WARN": slog.LevelWarn, "WARNING": slog.LevelWarn, "CRITICAL": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseLevel("LOUD"); err == nil || !strings.Contains(err.Error(), "want DEBUG, INFO, WARNING, ERROR or CRITICAL") {
		t.Fatalf("bad level: %v", err)
	}
}

// Log lines scroll above the progress line: each write erases it first
// and draws it again after.
func TestLiveKeepsLineBelowLogs(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf)
	l.Write([]byte("first\n"))
	l.Update(Snapshot{Pages: 10, Items: 4, Queued: 7, InFlight: 2, Errors: 1}, l.start.Add(2*time.Second))
	l.Write([]byte("second\n"))
	l.Stop()
	l.Write([]byte("third\n"))
	line := "10 pages (5.0/s) · 4 items (2.0/s) · queue 7 · in flight 2 · errors 1 · 2s"
	want := "first\n" + "\r\x1b[K" + line + "\r\x1b[K" + "second\n" + line + "\r\x1b[K" + "third\n"
	if buf.String() != want {
		t.Fatalf("\n got %q\nwant %q", buf.String(), want)
	}
	if got := FormatProgress(Snapshot{Queued: -1}, 0, 0, 0); !strings.Contains(got, "queue ?") {
		t.Fatalf("unknown queue: %q", got)
	}
}
