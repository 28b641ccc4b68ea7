// Package redistest starts a real redis-server for tests: on a free loopback
// port, with its own temporary directory, append-only persistence with
// fsync on every write (so a kill -9 and restart of the server loses
// nothing), and stops it when the test ends. There is no in-process fake:
// the point of the Redis tests is the real server's semantics.
package redistest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one running redis-server.
type Server struct {
	// Addr is host:port of the server (127.0.0.1 and a free port).
	Addr string
	// Dir is the server's working directory (AOF files live here).
	Dir string

	// CAFile is the PEM certificate of a TLS server (Options.TLS).
	CAFile string

	t     testing.TB
	extra []string
	// sentinelConf, when set, runs the process as a Sentinel with this
	// configuration file (Sentinel rewrites it, so it is its own).
	sentinelConf string
	tls          *tls.Config // the readiness probe's client config, for TLS

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the running process has been reaped
}

// Options tunes the server.
type Options struct {
	// Args are extra redis-server arguments, e.g. "--maxmemory-policy",
	// "allkeys-lru".
	Args []string
	// TLS serves TLS only (rediss://) with a fresh self-signed certificate
	// for 127.0.0.1; CAFile names it for clients that should trust it.
	TLS bool
}

// Start starts a redis-server and registers its stop with t.Cleanup. When the
// binary is missing the test fails with a message saying how to install it
// (.ci/run installs it; the rules forbid skipping).
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found in PATH (install it: apt-get install -y redis-server): %v", err)
	}
	s := &Server{Dir: t.TempDir(), t: t}
	useTLS := false
	for _, o := range opts {
		s.extra = append(s.extra, o.Args...)
		useTLS = useTLS || o.TLS
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if useTLS {
		if err := s.makeCert(); err != nil {
			t.Fatalf("redistest: certificate: %v", err)
		}
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the redis:// (rediss:// for TLS) URL of the server, database 0.
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr + "/0"
	}
	return "redis://" + s.Addr + "/0"
}

// makeCert writes a self-signed certificate for 127.0.0.1 into Dir and
// switches the server to TLS-only.
func (s *Server) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "cert.pem")
	keyFile := filepath.Join(s.Dir, "key.pem")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	s.extra = append(s.extra, "--tls-cert-file", s.CAFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no")
	return nil
}

// dial connects to the server, over TLS when it serves TLS.
func (s *Server) dial() (net.Conn, error) {
	if s.tls != nil {
		d := &net.Dialer{Timeout: time.Second}
		return tls.DialWithDialer(d, "tcp", s.Addr, s.tls)
	}
	return net.DialTimeout("tcp", s.Addr, time.Second)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	portArgs := []string{"--port", port}
	if s.tls != nil {
		portArgs = []string{"--port", "0", "--tls-port", port}
	}
	if s.sentinelConf != "" {
		portArgs = append([]string{s.sentinelConf, "--sentinel"}, portArgs...)
	}
	args := append(portArgs,
		"--bind", "127.0.0.1",
		"--dir", s.Dir,
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--logfile", "",
	)
	if s.sentinelConf == "" {
		args = append(args, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	}
	args = append(args, s.extra...)
	logf, err := os.OpenFile(filepath.Join(s.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = s.Dir
	// Own process group: a test killed by a signal does not take the server
	// down with it mid-write, and Stop kills exactly this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.log, s.done = cmd, logf, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			logf.Close()
			s.log = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server exited at start (%v): %s", waitErr, s.tail())
		default:
		}
		if s.pingOK() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server did not answer PING within 10s: %s", s.tail())
}

func (s *Server) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// pingOK sends an inline PING and waits for +PONG; the helper does not
// depend on the client library under test.
func (s *Server) pingOK() bool {
	c, err := s.dial()
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Do sends one command and returns its reply as text: a status or integer
// as is ("+OK", ":1"), a bulk string as its value, an array's elements
// joined by newlines; an error reply is an error. It is for test set-up and
// checks (CONFIG SET, GET) without the client library under test.
func (s *Server) Do(args ...string) (string, error) {
	c, err := s.dial()
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

// DoOn sends the commands one after another on one connection and returns
// their replies: WAIT counts the replicas that have this connection's
// writes, so a write and its WAIT must share one (Do dials for each).
func (s *Server) DoOn(cmds ...[]string) ([]string, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(c)
	var out []string
	for _, args := range cmds {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := c.Write([]byte(b.String())); err != nil {
			return out, err
		}
		reply, err := readReply(r)
		if err != nil {
			return out, err
		}
		out = append(out, reply)
	}
	return out, nil
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err // nil bulk: "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return line, nil
}

// Kill stops the server with SIGKILL (a crash: no shutdown save). The data
// directory stays, so Restart brings back everything the AOF holds.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
	s.cmd = nil
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for i := 0; i < 50; i++ { // the port can take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Stop kills the server (idempotent).
func (s *Server) Stop() { s.Kill() }
