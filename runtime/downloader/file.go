package downloader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// downloadFile serves file:// URLs for offline crawls. Only start requests
// and requests emitted from a file:// page may read files: a page fetched
// over the network must never lead the crawler to local files.
func (d *Downloader) downloadFile(ctx context.Context, req *crawl.Request, u *url.URL) (*crawl.Response, error) {
	if !req.Start && !strings.HasPrefix(strings.ToLower(req.Parent), "file:") {
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: ErrFileNotAllowed.Error(), Request: req, Err: ErrFileNotAllowed}
	}
	if u.Host != "" && u.Host != "localhost" {
		err := fmt.Errorf("file URL with host %q: only local files are supported", u.Host)
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: err.Error(), Request: req, Err: err}
	}
	start := time.Now()
	lim := d.limits(req)
	path := filepath.FromSlash(u.Path)
	fail := func(err error) (*crawl.Response, error) {
		var me *MaxSizeError
		var be *BudgetError
		if errors.As(err, &me) || errors.As(err, &be) {
			return nil, &crawl.Failure{Type: crawl.MaxSizeExceeded, Message: err.Error(), Request: req, Err: err}
		}
		return nil, &crawl.Failure{Type: crawl.UnknownError, Message: err.Error(), Request: req, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("file not found: %s", path))
		}
		return fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if st.IsDir() {
		return fail(fmt.Errorf("%s is a directory", path))
	}
	if lim.max > 0 && st.Size() > lim.max && !lim.truncate {
		return fail(&MaxSizeError{Limit: lim.max, Declared: st.Size()})
	}
	// The size is known: one slice of that size, taken from the memory
	// budget while the file is read.
	size := st.Size()
	if lim.max > 0 {
		size = min(size, lim.max)
	}
	if d.budget != nil && size > d.budget.limit {
		return fail(&BudgetError{Budget: d.budget.limit, Declared: size})
	}
	hold := &budgetHold{}
	defer d.budget.release(hold)
	if err := d.budget.grow(ctx, hold, size); err != nil {
		return fail(err)
	}
	body := make([]byte, size)
	n, err := io.ReadFull(f, body)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fail(err)
	}
	body = body[:n]
	var flags []string
	if lim.max > 0 && st.Size() > lim.max {
		flags = []string{"truncated"}
	}
	ctype := mime.TypeByExtension(filepath.Ext(path))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	now := time.Now()
	return &crawl.Response{
		URL:    req.URL,
		Status: 200,
		Headers: crawl.Headers{
			{Name: "Content-Type", Value: ctype},
			{Name: "Content-Length", Value: strconv.Itoa(len(body))},
		},
		Body:     body,
		Protocol: "file",
		Request:  req,
		Flags:    flags,
		Timings:  crawl.Timings{Start: start, Headers: now, Done: now},
	}, nil
}
