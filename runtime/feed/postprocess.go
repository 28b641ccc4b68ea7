package feed

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dsnet/compress/bzip2"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Plugin names: Scrapy 2.8's built-in postprocessing plugins, as FEEDS'
// postprocessing lists them.
const (
	GzipPlugin = "scrapy.extensions.postprocessing.GzipPlugin"
	Bz2Plugin  = "scrapy.extensions.postprocessing.Bz2Plugin"
	LZMAPlugin = "scrapy.extensions.postprocessing.LZMAPlugin"
)

// Plugins lists the postprocessing plugins a feed may name.
var Plugins = []string{GzipPlugin, LZMAPlugin, Bz2Plugin}

// Plugin is one step of a feed's postprocessing (Scrapy's
// PostProcessingManager): the bytes the exporter writes go through the
// first plugin, its output through the next, and the last one's output
// to the file.
type Plugin struct {
	// Name is one of Plugins.
	Name string
	// Level is gzip_compresslevel (0-9) or bz2_compresslevel (1-9);
	// Scrapy's default is 9.
	Level int
	// GzipMtime is gzip_mtime (seconds since the epoch written in the
	// header; nil: now, as Python's GzipFile); GzipFilename is
	// gzip_filename (nil: the file's name without .gz, as Python's).
	GzipMtime    *int64
	GzipFilename *string
	// LZMAFormat is lzma_format: 1 (lzma.FORMAT_XZ, the default) or 2
	// (FORMAT_ALONE); LZMACheck is lzma_check for xz: -1 (default, CRC64),
	// 0 (none), 1 (CRC32), 4 (CRC64), 10 (SHA256); LZMAPreset is
	// lzma_preset 0-9 (the dictionary size; default 6).
	LZMAFormat int
	LZMACheck  int
	LZMAPreset int
}

// Flushable reports whether the plugin can make what it was given so far
// decodable from the file (gzip's sync flush). Bz2 and LZMA cannot: their
// output is complete only when the feed is closed.
func (p Plugin) Flushable() bool { return p.Name == GzipPlugin }

// lzmaDictCap is the dictionary size of each lzma_preset (xz's presets).
var lzmaDictCap = [10]int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}

// PluginError is a feed option the postprocessing refuses; Option names
// it as the spec writes it (postprocessing[1], gzip_compresslevel).
type PluginError struct {
	Option string
	Msg    string
}

func (e *PluginError) Error() string { return e.Option + ": " + e.Msg }

// ParsePlugins reads a feed's postprocessing list and the plugin options
// (opts: gzip_compresslevel, gzip_mtime, gzip_filename,
// bz2_compresslevel, lzma_format, lzma_check, lzma_preset, JSON-like
// values, absent ones nil). A plugin that is not one of Scrapy's built-in
// ones, or an option whose plugin is not listed, is an error.
func ParsePlugins(names []string, opts map[string]any) ([]Plugin, error) {
	var errs []error
	fail := func(opt, format string, args ...any) {
		errs = append(errs, &PluginError{Option: opt, Msg: fmt.Sprintf(format, args...)})
	}
	var out []Plugin
	used := map[string]bool{}
	for i, n := range names {
		name := n
		if !strings.Contains(n, ".") {
			name = "scrapy.extensions.postprocessing." + n
		}
		switch name {
		case GzipPlugin, Bz2Plugin, LZMAPlugin:
		default:
			fail(fmt.Sprintf("postprocessing[%d]", i), "unknown plugin %q: Python plugins cannot run here; the built-in ones are %s (compress in a JS pipeline's close_spider hook for anything else)",
				n, strings.Join(Plugins, ", "))
			continue
		}
		p := Plugin{Name: name, Level: 9, LZMAFormat: 1, LZMACheck: -1, LZMAPreset: 6}
		used[name] = true
		intOpt := func(key string, lo, hi int) (int, bool) {
			v, ok := opts[key]
			if !ok || v == nil {
				return 0, false
			}
			n, isInt := v.(int64)
			if !isInt || n < int64(lo) || n > int64(hi) {
				fail(key, "expected an integer from %d to %d, got %s", lo, hi, describe(v))
				return 0, false
			}
			return int(n), true
		}
		switch name {
		case GzipPlugin:
			if n, ok := intOpt("gzip_compresslevel", 0, 9); ok {
				p.Level = n
			}
			if v, ok := opts["gzip_mtime"]; ok && v != nil {
				n, isInt := v.(int64)
				if !isInt || n < 0 || n > 1<<32-1 {
					fail("gzip_mtime", "expected seconds since 1970 (an integer), got %s", describe(v))
				} else {
					p.GzipMtime = &n
				}
			}
			if v, ok := opts["gzip_filename"]; ok && v != nil {
				s, isStr := v.(string)
				if !isStr {
					fail("gzip_filename", "expected a string, got %s", describe(v))
				} else {
					p.GzipFilename = &s
				}
			}
		case Bz2Plugin:
			if n, ok := intOpt("bz2_compresslevel", 1, 9); ok {
				p.Level = n
			}
		case LZMAPlugin:
			if v, ok := opts["lzma_format"]; ok && v != nil {
				switch v {
				case int64(1), "FORMAT_XZ", "lzma.FORMAT_XZ":
					p.LZMAFormat = 1
				case int64(2), "FORMAT_ALONE", "lzma.FORMAT_ALONE":
					p.LZMAFormat = 2
				default:
					fail("lzma_format", "expected 1 (FORMAT_XZ) or 2 (FORMAT_ALONE), got %s (FORMAT_RAW needs lzma_filters, which are not supported)", describe(v))
				}
			}
			if v, ok := opts["lzma_check"]; ok && v != nil {
				switch v {
				case int64(-1), int64(4), "CHECK_CRC64", "lzma.CHECK_CRC64":
					p.LZMACheck = 4
				case int64(0), "CHECK_NONE", "lzma.CHECK_NONE":
					p.LZMACheck = 0
				case int64(1), "CHECK_CRC32", "lzma.CHECK_CRC32":
					p.LZMACheck = 1
				case int64(10), "CHECK_SHA256", "lzma.CHECK_SHA256":
					p.LZMACheck = 10
				default:
					fail("lzma_check", "expected -1, 0 (CHECK_NONE), 1 (CHECK_CRC32), 4 (CHECK_CRC64) or 10 (CHECK_SHA256), got %s", describe(v))
				}
			}
			if n, ok := intOpt("lzma_preset", 0, 9); ok {
				p.LZMAPreset = n
			}
			if v := opts["lzma_check"]; p.LZMAFormat == 2 && v != nil && v != int64(-1) && v != int64(0) && v != "CHECK_NONE" && v != "lzma.CHECK_NONE" {
				fail("lzma_check", "integrity checks are only supported by FORMAT_XZ (Python raises ValueError)")
			}
		}
		out = append(out, p)
	}
	for _, o := range []struct{ key, plugin string }{
		{"gzip_compresslevel", GzipPlugin}, {"gzip_mtime", GzipPlugin}, {"gzip_filename", GzipPlugin},
		{"bz2_compresslevel", Bz2Plugin},
		{"lzma_format", LZMAPlugin}, {"lzma_check", LZMAPlugin}, {"lzma_preset", LZMAPlugin},
	} {
		if v, ok := opts[o.key]; ok && v != nil && !used[o.plugin] {
			fail(o.key, "has no effect without %s in postprocessing", o.plugin)
		}
	}
	return out, errors.Join(errs...)
}

// compressor is one plugin's writer.
type compressor interface {
	io.WriteCloser
}

// newCompressor returns p writing to w; path is the feed file's path (for
// gzip's file name header).
func newCompressor(p Plugin, w io.Writer, path string) (compressor, error) {
	switch p.Name {
	case GzipPlugin:
		z, err := gzip.NewWriterLevel(w, p.Level)
		if err != nil {
			return nil, err
		}
		z.ModTime = time.Now()
		if p.GzipMtime != nil {
			z.ModTime = time.Unix(*p.GzipMtime, 0)
		}
		name := path
		if p.GzipFilename != nil {
			name = *p.GzipFilename
		}
		z.Name = gzipHeaderName(name)
		return z, nil
	case Bz2Plugin:
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: p.Level})
	case LZMAPlugin:
		dict := lzmaDictCap[p.LZMAPreset]
		if p.LZMAFormat == 2 {
			return lzma.WriterConfig{DictCap: dict}.NewWriter(w)
		}
		c := xz.WriterConfig{DictCap: dict}
		switch p.LZMACheck {
		case 0:
			c.NoCheckSum = true
		case 1:
			c.CheckSum = xz.CRC32
		case 10:
			c.CheckSum = xz.SHA256
		default:
			c.CheckSum = xz.CRC64
		}
		return c.NewWriter(w)
	}
	return nil, fmt.Errorf("unknown postprocessing plugin %q", p.Name)
}

// gzipHeaderName is the FNAME of a gzip header as Python's GzipFile
// writes it: the base name without ".gz", left out when it is not
// Latin-1 (RFC 1952).
func gzipHeaderName(name string) string {
	if name == "" {
		return ""
	}
	name = strings.TrimSuffix(filepath.Base(name), ".gz")
	for _, r := range name {
		if r > 0xff {
			return ""
		}
	}
	return name
}

// chain is a feed's postprocessing: head receives the exporter's bytes.
// It remembers whether anything was written, so that flushing a feed that
// exported nothing leaves its file untouched.
type chain struct {
	head    io.Writer
	steps   []compressor // in data order: steps[0] is the head
	written bool
	closed  bool
}

func newChain(plugins []Plugin, w io.Writer, path string) (*chain, error) {
	c := &chain{}
	steps := make([]compressor, len(plugins))
	for i := len(plugins) - 1; i >= 0; i-- {
		z, err := newCompressor(plugins[i], w, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", plugins[i].Name, err)
		}
		steps[i] = z
		w = z
	}
	c.head, c.steps = w, steps
	return c, nil
}

func (c *chain) Write(b []byte) (int, error) {
	c.written = true
	n, err := c.head.Write(b)
	if err != nil {
		return n, writeErr{err}
	}
	return n, nil
}

// flush pushes what the plugins hold to the file where they can (gzip's
// sync flush, in data order so each step's output reaches the next).
func (c *chain) flush() error {
	if !c.written || c.closed {
		return nil
	}
	for _, s := range c.steps {
		if f, ok := s.(interface{ Flush() error }); ok {
			if err := f.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// close finishes every plugin's stream, head first.
func (c *chain) close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	for _, s := range c.steps {
		if err := s.Close(); err != nil {
			return err
		}
	}
	return nil
}
