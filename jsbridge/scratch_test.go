package jsbridge
import ("testing"; "fmt"; "context"; "errors"; "github.com/spiderrun/spiderrun/runtime/engine"; "github.com/spiderrun/spiderrun/runtime/crawl")
func TestScratch4(t *testing.T) {
	s, logs := newSpider(t, "misc.js", func(o *Options) { o.DefaultCallback = "throw_close" })
	n := 0
	res, _ := runEngine(t, s, func(o *engine.Options) {
		o.CloseSpiderPageCount = 0
		o.Fetcher = engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
			n++
			if n > 50 { return nil, nil, crawl.NewFailure(crawl.DNSLookupError, r, errors.New("nx")) }
			return &crawl.Response{URL: r.URL, Status: 200, Request: r}, nil, nil
		})
	})
	fmt.Println(res.Reason, res.Stalled, res.Errors)
	l := logs.String()
	if len(l) > 3000 { l = l[len(l)-3000:] }
	fmt.Println(l)
}
