package downloader

import (
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
func (d *Downloader) downloadFile(req *crawl.Request, u *url.URL) (*crawl.Response, error) {
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
		if errors.As(err, &me) {
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
	r := io.Reader(f)
	if lim.max > 0 {
		r = io.LimitReader(f, lim.max)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return fail(err)
	}
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
