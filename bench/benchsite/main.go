// Command benchsite serves the benchmark site on a local port, for running
// crawlers (or `spiderrun run`) against it by hand: see run.sh.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/spiderrun/spiderrun/bench/internal/site"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	pages := flag.Int("pages", 20000, "pages")
	links := flag.Int("links", 10, "links per page")
	size := flag.Int("size", 20<<10, "page size in bytes")
	latency := flag.Duration("latency", 0, "delay before every response (server think time)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsite:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s/p/0\n", ln.Addr())
	s := site.New(*pages, *links, *size)
	s.Latency = *latency
	if err := http.Serve(ln, s); err != nil {
		fmt.Fprintln(os.Stderr, "benchsite:", err)
		os.Exit(1)
	}
}
