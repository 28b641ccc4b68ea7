package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrBadAddr is the error of an address that is not [HOST]:PORT or PORT.
var ErrBadAddr = errors.New("want HOST:PORT, :PORT or PORT")

// ResolveAddr turns a METRICS_ADDR value into the address to listen on: a
// port alone ("9090" or ":9090") listens on loopback (127.0.0.1), since the
// metrics are served without authentication. It reports whether the
// address is loopback.
func ResolveAddr(addr string) (resolved string, loopback bool, err error) {
	if addr == "" {
		return "", false, ErrBadAddr
	}
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrBadAddr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", false, fmt.Errorf("%w: bad port %q", ErrBadAddr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if strings.ContainsAny(host, " /") {
		return "", false, fmt.Errorf("%w: bad host %q", ErrBadAddr, host)
	}
	return net.JoinHostPort(host, port), isLoopback(host), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server serves /metrics on its own listener.
type Server struct {
	Addr string // the address listened on (the port resolved)
	srv  *http.Server
	done chan struct{}
}

// Serve listens on addr (ResolveAddr) and serves m.Handler at /metrics
// until Close. An address that is not loopback is logged at WARNING: the
// metrics are unauthenticated.
func Serve(addr string, m *Metrics, logger *slog.Logger) (*Server, error) {
	resolved, loopback, err := ResolveAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", resolved)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{Addr: ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !loopback {
		logger.Warn(fmt.Sprintf("Metrics on %s are served without authentication to anyone who can reach this address (use a loopback address, a firewall or a reverse proxy)", s.Addr))
	}
	logger.Info(fmt.Sprintf("Serving metrics on http://%s/metrics", s.Addr))
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops serving: scrapes in progress get up to a second to finish.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
