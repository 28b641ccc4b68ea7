package jsbridge

import (
	"fmt"
	"time"
)

// CALLBACK_TIMEOUT. JS_TIMEOUT bounds one turn of JavaScript; a callback
// that awaits forever — a promise kept pending by a setInterval, a
// ResultHolder whose request never comes back while something else keeps
// the loop busy — runs no turn at all and would hold its response (and the
// crawl's end) for ever. The stall detector (Stalled) only sees callbacks
// when nothing at all can run. The sweeper below ends every invocation
// still running CallbackTimeout after its start, with an error that names
// it and its source line, and clears the timers it left.

// sweep ends, until the spider is shut down, the invocations that have run
// longer than limit.
func (s *Spider) sweep(limit time.Duration) {
	t := time.NewTicker(min(time.Second, max(limit/4, 10*time.Millisecond)))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.loop.dead:
			return
		case <-t.C:
		}
		now := time.Now()
		var late []*invocation
		s.mu.Lock()
		for inv := range s.active {
			if now.Sub(inv.started) > limit && !inv.killed.Load() {
				late = append(late, inv)
			}
		}
		s.mu.Unlock()
		for _, inv := range late {
			s.timeOut(inv, limit)
		}
	}
}

// timeOut ends inv with a CALLBACK_TIMEOUT error. Its timers are cleared
// on the loop (and it can start no new one); the rest of its pending work
// (downloads it awaits) finishes unobserved.
func (s *Spider) timeOut(inv *invocation, limit time.Duration) {
	if !inv.killed.CompareAndSwap(false, true) {
		return
	}
	end := func(cleared int) {
		pos := s.funcPosition(inv.fn)
		msg := inv.where
		if pos != "" {
			msg += " (" + pos + ")"
		}
		msg += fmt.Sprintf(" did not finish within CALLBACK_TIMEOUT %s: it is still waiting on a promise", limit)
		switch {
		case cleared == 1:
			msg += " (1 timer cleared)"
		case cleared > 1:
			msg += fmt.Sprintf(" (%d timers cleared)", cleared)
		}
		inv.finish(&Error{Where: inv.where, URL: inv.url, Type: "CALLBACK_TIMEOUT", Message: msg, Pos: pos, Err: ErrCallbackTimeout})
	}
	if !s.loop.post(func() { end(s.clearTimers(inv)) }) {
		end(0)
	}
}

// clearTimers stops the timers inv started and returns how many. Loop
// only.
func (s *Spider) clearTimers(inv *invocation) int {
	n := 0
	for id, t := range s.timers {
		if t.inv != inv {
			continue
		}
		n++
		t.stopped = true
		delete(s.timers, id)
		if t.t.Stop() {
			t.release(nil)
		}
	}
	return n
}

// pausedExecJS runs use_execjs calls with the calling turn's clock paused:
// a context call is bounded by the context's own watchdog (JS_TIMEOUT,
// then abandonment after the grace period), and charging it to the
// callback's turn as well would make the two watchdogs race to abandon
// the callback's runtime when a context call is stuck in a built-in.
type pausedExecJS struct {
	ExecJS
	s *Spider
}

func (p pausedExecJS) Call(key, fn string, args []any) (any, error) {
	resume := p.s.loop.wd.Pause()
	defer resume()
	return p.ExecJS.Call(key, fn, args)
}

func (p pausedExecJS) Eval(key, src string) (any, error) {
	resume := p.s.loop.wd.Pause()
	defer resume()
	return p.ExecJS.Eval(key, src)
}
