package downloader

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// zstdMaxWindow is the largest zstd window accepted: RFC 9659 limits the
// "zstd" content coding to 8 MB windows (browsers refuse larger ones), so
// a zstd body never holds more than 8 MiB of history however large
// DOWNLOAD_MAXSIZE is.
const zstdMaxWindow = 8 << 20

// maxEncodingLayers bounds stacked Content-Encodings (gzip, gzip, ...).
const maxEncodingLayers = 4

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// contentEncodings lists the encodings in the order they were applied,
// across repeated headers, without identity.
func contentEncodings(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Content-Encoding") {
		for _, e := range strings.Split(v, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e != "" && e != "identity" {
				out = append(out, e)
			}
		}
	}
	return out
}

func knownEncoding(e string) bool {
	switch e {
	case "gzip", "x-gzip", "deflate", "br", "zstd":
		return true
	}
	return false
}

// decoder wraps r with the decoder for enc. zlib-wrapped and raw deflate
// are both accepted for "deflate", as browsers do.
func decoder(enc string, r io.Reader) (io.Reader, func(), error) {
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("content-encoding gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "deflate":
		br := bufio.NewReader(r)
		hdr, _ := br.Peek(2)
		if len(hdr) == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, nil, fmt.Errorf("content-encoding deflate: %w", err)
			}
			return zr, func() { zr.Close() }, nil
		}
		fr := flate.NewReader(br)
		return fr, func() { fr.Close() }, nil
	case "br":
		return brotli.NewReader(r), func() {}, nil
	case "zstd":
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("content-encoding zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("unsupported content-encoding %q", enc)
}

// decodeError is a body that does not decode under its declared encoding.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// readBody reads and decodes hr.Body within the limits, taking the bytes
// it holds from the memory budget under hold. It returns the body, flags,
// whether it was decoded, and how many bytes had been received (wire
// bytes) when it failed.
//
// Memory: a body of known size (Content-Length, no encoding) is read
// straight into a slice of that size. Any other body (chunked, or
// compressed: its decoded size is unknown until the end) is read into
// 64 KiB pieces; past spillAt the full pieces go to an unlinked temporary
// file (see spill), so that joining the complete body into one slice of
// its exact size costs its size plus at most spillAt, never twice its
// size. Without a usable temporary directory the pieces stay in memory and
// the join briefly takes twice the size, which the budget counts.
func (d *Downloader) readBody(ctx context.Context, req *crawl.Request, hr *http.Response, lim limits, hold *budgetHold) (body []byte, flags []string, decoded bool, received int64, err error) {
	// Closing the body unblocks a read stuck on a silent peer when the
	// deadline passes, whatever the transport.
	stop := context.AfterFunc(ctx, func() { hr.Body.Close() })
	defer stop()
	defer hr.Body.Close()

	if bodyless(req, hr.StatusCode) {
		// HEAD, 1xx, 204 and 304 carry no body whatever Content-Length
		// says (it describes the entity, not this message).
		return []byte{}, nil, false, 0, nil
	}
	declared := hr.ContentLength
	if lim.max > 0 && declared > lim.max && !lim.truncate {
		return nil, nil, false, 0, &MaxSizeError{Limit: lim.max, Declared: declared}
	}
	warned := false
	if lim.warn > 0 && declared > lim.warn {
		warned = true
		d.log.Warn("response body over DOWNLOAD_WARNSIZE", "url", weburl.Redact(req.URL), "size", declared, "warnsize", lim.warn)
	}
	encs := contentEncodings(hr.Header)
	if len(encs) > maxEncodingLayers {
		return nil, nil, false, 0, &decodeError{fmt.Errorf("%d content-encoding layers (max %d)", len(encs), maxEncodingLayers)}
	}
	for _, e := range encs {
		if !knownEncoding(e) {
			// Leave what we cannot decode as it is, header included (Scrapy
			// does the same).
			encs = nil
			break
		}
	}
	if d.budget != nil && len(encs) == 0 && declared > d.budget.limit && (lim.max <= 0 || declared <= lim.max) {
		return nil, nil, false, 0, &BudgetError{Budget: d.budget.limit, Declared: declared}
	}
	wire := &countReader{r: hr.Body}
	var r io.Reader = wire
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := len(encs) - 1; i >= 0; i-- {
		dr, closeFn, err := decoder(encs[i], r)
		if err != nil {
			if ctx.Err() != nil || !isFormatError(err) {
				return nil, nil, false, wire.n, err
			}
			return nil, nil, false, wire.n, &decodeError{err}
		}
		closers = append(closers, closeFn)
		r = dr
	}
	decoded = len(encs) > 0
	if !decoded && declared >= 0 && (lim.max <= 0 || declared <= lim.max) {
		// The common case: a plain body of known size, read straight into
		// a slice of that size (no pieces, no regrowth, no copy).
		if err := d.budget.grow(ctx, hold, declared); err != nil {
			return nil, nil, false, 0, err
		}
		b, err := readKnown(r, declared)
		if err == nil {
			if lim.warn > 0 && !warned && int64(len(b)) > lim.warn {
				d.log.Warn("response body over DOWNLOAD_WARNSIZE", "url", weburl.Redact(req.URL), "size", len(b), "warnsize", lim.warn)
			}
			return b, nil, false, wire.n, nil
		}
		if ctx.Err() != nil {
			return nil, nil, false, wire.n, context.Cause(ctx)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			dl := &DataLossError{Got: wire.n, Want: declared, Err: err}
			if lim.failOnDataLoss {
				return nil, nil, false, wire.n, dl
			}
			return b, []string{"dataloss"}, false, wire.n, nil
		}
		return nil, nil, false, wire.n, err
	}
	p := pieces{spoolDir: d.spoolDir}
	defer p.free()
	// At most one byte past the limit is read: that byte tells a body of
	// exactly DOWNLOAD_MAXSIZE from a longer one.
	stopAt := int64(-1)
	if lim.max > 0 {
		stopAt = lim.max + 1
	}
	join := func() ([]byte, error) {
		if err := d.budget.grow(ctx, hold, p.n); err != nil {
			if be, ok := err.(*BudgetError); ok && !be.Exhausted {
				be.Joining, be.Size = true, p.n
			}
			return nil, err
		}
		b, err := p.bytes()
		d.budget.shrink(hold, p.memSize())
		p.free()
		if err != nil {
			return nil, fmt.Errorf("reading back the spooled body: %w", err)
		}
		return b, nil
	}
	for {
		buf, err := p.next(ctx, d.budget, hold)
		if err == nil && p.spillErr != nil {
			d.log.Debug("cannot spool a body to disk, keeping it in memory", "url", weburl.Redact(req.URL), "err", p.spillErr)
			p.spillErr, p.spillOff = nil, true
		}
		if err != nil {
			return nil, nil, decoded, wire.n, err
		}
		if stopAt >= 0 && int64(len(buf)) > stopAt-p.n {
			buf = buf[:stopAt-p.n]
		}
		n, rerr := r.Read(buf)
		p.n += int64(n)
		if stopAt >= 0 && p.n >= stopAt {
			if lim.truncate {
				p.n = lim.max
				b, err := join()
				if err != nil {
					return nil, nil, decoded, wire.n, err
				}
				return b, append(flags, "truncated"), decoded, wire.n, nil
			}
			me := &MaxSizeError{Limit: lim.max, Read: p.n}
			if decoded {
				me.Compressed = wire.n
			}
			return nil, nil, decoded, wire.n, me
		}
		if lim.warn > 0 && !warned && p.n > lim.warn {
			warned = true
			d.log.Warn("response body over DOWNLOAD_WARNSIZE", "url", weburl.Redact(req.URL), "size_so_far", p.n, "warnsize", lim.warn)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, nil, decoded, wire.n, context.Cause(ctx)
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) || errors.Is(rerr, gzip.ErrChecksum) || errors.Is(rerr, zlib.ErrChecksum) {
				dl := &DataLossError{Got: wire.n, Want: declared, Err: rerr}
				if declared <= 0 || wire.n >= declared {
					dl.Got, dl.Want = p.n, 0
				}
				if lim.failOnDataLoss {
					return nil, nil, decoded, wire.n, dl
				}
				flags = append(flags, "dataloss")
				break
			}
			if decoded && isFormatError(rerr) {
				return nil, nil, decoded, wire.n, &decodeError{fmt.Errorf("content-encoding %s: %w", strings.Join(encs, ", "), rerr)}
			}
			return nil, nil, decoded, wire.n, rerr
		}
	}
	b, err := join()
	if err != nil {
		return nil, nil, decoded, wire.n, err
	}
	return b, flags, decoded, wire.n, nil
}

// pieceSize is the unit in which bodies of unknown size are read and
// taken from the memory budget.
const pieceSize = 64 << 10

// piecePool recycles pieces: a refused or joined body's pieces serve the
// next body at once instead of waiting for a garbage collection.
var piecePool = sync.Pool{New: func() any { return new([pieceSize]byte) }}

// spillAt is how many bytes of a body of unknown size stay in memory while
// it is read; the full pieces past it go to a temporary file. It is the
// constant in "a body costs its size plus a constant".
const spillAt = 1 << 20

// pieces is a body of unknown size being read: n bytes, the first spilled
// of them in the spool file and the rest in full pieces, the last one
// filled up to n.
type pieces struct {
	bufs []*[pieceSize]byte
	n    int64

	spoolDir string   // where the spool file is made ("" = no spooling)
	spool    *os.File // unlinked at once: it vanishes with the process
	spilled  int64    // bytes in spool, a multiple of pieceSize
	spillOff bool     // spooling failed once: keep the rest in memory
	spillErr error    // why, reported once by the caller
	released int64    // spilled bytes not yet given back to the budget
}

// next returns the free space of the last piece, adding a piece (taken
// from the budget) when it is full. Past spillAt it first moves the full
// pieces to the spool file and gives their bytes back to the budget.
func (p *pieces) next(ctx context.Context, b *memBudget, h *budgetHold) ([]byte, error) {
	if p.n < p.size() {
		return p.bufs[len(p.bufs)-1][p.n%pieceSize:], nil
	}
	if p.memSize() >= spillAt && !p.spillOff && p.spoolDir != "" {
		if err := p.spill(); err != nil {
			p.spillErr, p.spillOff = err, true
		}
		b.shrink(h, p.freed())
	}
	if err := b.grow(ctx, h, pieceSize); err != nil {
		return nil, err
	}
	buf := piecePool.Get().(*[pieceSize]byte)
	p.bufs = append(p.bufs, buf)
	return buf[:], nil
}

// spill appends the full pieces to the spool file, returning each written
// piece to the pool. On a write error (a full disk) the pieces not written
// stay in memory, in order after those that were.
func (p *pieces) spill() error {
	if p.spool == nil {
		f, err := os.CreateTemp(p.spoolDir, "spiderrun-body-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name())
		p.spool = f
	}
	for len(p.bufs) > 0 {
		if _, err := p.spool.Write(p.bufs[0][:]); err != nil {
			return err
		}
		piecePool.Put(p.bufs[0])
		p.bufs[0] = nil
		p.bufs = p.bufs[1:]
		p.spilled += pieceSize
		p.released += pieceSize
	}
	return nil
}

// freed returns the bytes of pieces spilled since it was last called.
func (p *pieces) freed() int64 {
	n := p.released
	p.released = 0
	return n
}

// size is the bytes the body can hold without a new piece.
func (p *pieces) size() int64 { return p.spilled + p.memSize() }

// memSize is the bytes of the pieces in memory.
func (p *pieces) memSize() int64 { return int64(len(p.bufs)) * pieceSize }

// bytes joins the first n bytes into one slice of exactly that size.
func (p *pieces) bytes() ([]byte, error) {
	out := make([]byte, p.n)
	head := min(p.spilled, p.n)
	if head > 0 {
		if _, err := p.spool.ReadAt(out[:head], 0); err != nil {
			return nil, err
		}
	}
	for i, buf := range p.bufs {
		off := head + int64(i)*pieceSize
		if off >= p.n {
			break
		}
		copy(out[off:], buf[:])
	}
	return out, nil
}

func (p *pieces) free() {
	for i, buf := range p.bufs {
		piecePool.Put(buf)
		p.bufs[i] = nil
	}
	p.bufs = p.bufs[:0]
	if p.spool != nil {
		p.spool.Close()
		p.spool = nil
	}
}

func bodyless(req *crawl.Request, status int) bool {
	return req.GetMethod() == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200)
}

// readKnown reads exactly n bytes and checks that the body ends there; on
// a short body it returns what arrived with io.ErrUnexpectedEOF.
func readKnown(r io.Reader, n int64) ([]byte, error) {
	b := make([]byte, n)
	got, err := io.ReadFull(r, b)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if n == 0 {
			err = nil
		}
		return b[:got], err
	}
	return b, nil
}

// isFormatError tells a corrupt encoded stream from a network error.
func isFormatError(err error) bool {
	var ce flate.CorruptInputError
	if errors.As(err, &ce) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, zlib.ErrHeader) || errors.Is(err, zlib.ErrDictionary) {
		return true
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "content-encoding") || strings.Contains(s, "brotli") || strings.Contains(s, "zstd") || strings.Contains(s, "invalid") || strings.Contains(s, "magic")
}
