package impersonate

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// HTTP/3 "auto" as Chromium's HttpStreamFactory::JobController runs it:
// when an origin announced an h3 alternative that is not broken, a QUIC
// connection attempt (the "alternative job") starts first and a TCP one
// (the "main job") after a delay; the first connection up carries the
// request. Only connection setup races: the request is sent once.
const (
	// mainJobMaxDelay caps how long TCP waits for QUIC
	// (kMaxDelayTimeForMainJobSecs).
	mainJobMaxDelay = 3 * time.Second
	// defaultQUICRTT is the wait when no RTT to the QUIC endpoint is known
	// (QuicSessionPool::GetTimeDelayForWaitingJob's kDefaultRTT, "picked
	// based on mean time from HandshakeConfirmedTime").
	defaultQUICRTT = 300 * time.Millisecond
)

// mainJobDelay is how long TCP waits for QUIC to addr before it starts
// too: none when QUIC recently failed there (broken or recently broken),
// else 1.5 × the last smoothed RTT to it, or 300 ms, at most 3 s. Chromium
// also waits none when QUIC never worked on the current network; the
// transport starts as a browser profile on which it has (Chromium keeps
// that across restarts), so a first race waits 300 ms.
func (t *Transport) mainJobDelay(out *downloader.Outgoing, addr string) time.Duration {
	if t.raceDelay != nil {
		return *t.raceDelay
	}
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, recently := s.broken[brokenKey(out, addr)]; recently {
		return 0
	}
	d := defaultQUICRTT
	if rtt := s.srtt[addr]; rtt > 0 {
		d = rtt * 3 / 2
	}
	return min(d, mainJobMaxDelay)
}

// quicJob is a QUIC connection attempt that may outlive the request that
// started it.
type quicJob struct {
	done chan struct{}
	err  error
}

// startQUIC dials the QUIC connection for key in the background: under
// the transport's context, not the request's, so that a connection that
// loses the race to TCP still comes up (and carries the next requests) or
// fails (and the service is marked broken), as Chromium's orphaned
// alternative job does.
func (t *Transport) startQUIC(p *Profile, out *downloader.Outgoing, key, addr string) *quicJob {
	o := *out // the job may outlive the request
	j := &quicJob{done: make(chan struct{})}
	go func() {
		defer close(j.done)
		c, _, err := t.getH3(t.bg, key, addr, p, &o)
		if err == nil {
			t.confirmQUIC(&o, addr, c)
		}
		j.err = err
	}()
	return j
}

func (t *Transport) pooledH3(key string) bool {
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[key]
	return c != nil && !c.dead()
}

// quicFailed marks addr broken after its QUIC attempt failed while TCP
// worked (Chromium's MaybeReportBrokenAlternativeService: a failure when
// TCP failed too says nothing about QUIC). A name that does not resolve
// when the alternative is the origin's own host is not QUIC's fault; nor
// is the transport closing.
func (t *Transport) quicFailed(out *downloader.Outgoing, addr string, err error) {
	if t.bg.Err() != nil {
		return
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		if host, _, _ := net.SplitHostPort(addr); host == out.URL.Hostname() {
			return
		}
	}
	t.markBroken(out, addr, err)
}

type tcpResult struct {
	c   *tcpConn
	err error
}

// autoRoundTrip sends an http_version "auto" request: over an existing
// QUIC connection when there is one, else over the winner of the race
// between QUIC and TCP when the origin announced h3, else over TCP.
func (t *Transport) autoRoundTrip(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo, key string) (*http.Response, error) {
	if out.URL.Scheme != "https" || p.h3 == nil {
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, nil)
	}
	addr, ok := t.h3Target(out)
	if !ok {
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, nil)
	}
	if !quicProxy(out) {
		t.warnHTTPProxy(out)
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, nil)
	}
	hkey := h3PoolKey(p, out, addr)
	if t.pooledH3(hkey) {
		// Chromium's CanUseExistingSession: no race.
		return t.sendQUIC(ctx, p, out, wr, info, key, addr)
	}

	job := t.startQUIC(p, out, hkey, addr)
	timer := time.NewTimer(t.mainJobDelay(out, addr))
	defer timer.Stop()
	select {
	case <-job.done:
		if job.err == nil {
			t.inc("downloader/http3/race_won_quic", 1)
			return t.sendQUIC(ctx, p, out, wr, info, key, addr)
		}
		// QUIC failed before TCP started: TCP starts now.
		c, err := t.getTCP(ctx, p, out, key, true, false)
		if err != nil {
			return nil, err
		}
		t.quicFailed(out, addr, job.err)
		t.inc("downloader/http3/race_won_tcp", 1)
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, c)
	case <-timer.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	tcp := make(chan tcpResult, 1)
	go func() {
		c, err := t.getTCP(tctx, p, out, key, true, false)
		tcp <- tcpResult{c, err}
	}()
	// keepLoser pools the TCP connection if it comes up after all.
	keepLoser := func() {
		tcancel()
		go func() {
			if r := <-tcp; r.c != nil {
				t.keepTCP(key, r.c)
			}
		}()
	}
	select {
	case r := <-tcp:
		if r.err != nil {
			// Chromium ignores a job's failure while another one runs.
			select {
			case <-job.done:
				if job.err == nil {
					t.inc("downloader/http3/race_won_quic", 1)
					return t.sendQUIC(ctx, p, out, wr, info, key, addr)
				}
				return nil, r.err
			case <-ctx.Done():
				return nil, r.err
			}
		}
		t.inc("downloader/http3/race_won_tcp", 1)
		o := *out // the request may be gone when the attempt ends
		go func() {
			<-job.done
			if job.err != nil {
				t.quicFailed(&o, addr, job.err)
			}
		}()
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, r.c)
	case <-job.done:
		if job.err == nil {
			keepLoser()
			t.inc("downloader/http3/race_won_quic", 1)
			return t.sendQUIC(ctx, p, out, wr, info, key, addr)
		}
		r := <-tcp
		if r.err != nil {
			return nil, r.err
		}
		t.quicFailed(out, addr, job.err)
		t.inc("downloader/http3/race_won_tcp", 1)
		return t.tcpRoundTrip(ctx, p, out, wr, info, key, r.c)
	case <-ctx.Done():
		keepLoser()
		return nil, ctx.Err()
	}
}

// sendQUIC sends out on the pooled QUIC connection to addr. When it fails
// under the request (the connection died, the server reset it), TCP
// carries the request instead, unless it is not idempotent and may have
// reached the server, and the service is marked broken.
func (t *Transport) sendQUIC(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo, key, addr string) (*http.Response, error) {
	resp, connected, err := t.h3RoundTrip(ctx, p, out, wr, info, addr)
	if err == nil {
		return resp, nil
	}
	if ctx.Err() != nil || (connected && !idempotent(wr.method)) {
		return nil, err
	}
	t.markBroken(out, addr, err)
	return t.tcpRoundTrip(ctx, p, out, wr, info, key, nil)
}
