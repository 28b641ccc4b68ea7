package jsbridge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// timerWaitJS has callbacks whose only pending work, for longer than the
// engine's poll interval, is a timer: a loop reservation, not a stall.
const timerWaitJS = `
export async function timeout(response) {
  await new Promise((r) => setTimeout(r, 600));
  return { url: response.url, waited: "timeout" };
}

export async function* generator(response) {
  yield { url: response.url, step: 1 };
  await new Promise((r) => setTimeout(r, 600));
  yield { url: response.url, step: 2 };
}

export async function interval(response) {
  let ticks = 0;
  await new Promise((r) => {
    const id = setInterval(() => {
      if (++ticks === 3) { clearInterval(id); r(); }
    }, 250);
  });
  return { url: response.url, ticks };
}
`

// TestTimerLongerThanPollIsNotAStall: a callback that awaits a timer
// longer than the engine's poll interval (100 ms, the CLI's) is healthy:
// the crawl must wait for it, keep its items and finish, not close it as
// stalled. The loop counts a pending timer as a reservation
// (loop.quiescent); without that check Stalled() sees an active
// invocation and an empty queue, and the engine closes the crawl after
// one poll interval. Every other timer in the suite is shorter than the
// poll interval, so none of them could catch that.
func TestTimerLongerThanPollIsNotAStall(t *testing.T) {
	t.Parallel()
	p, err := compile.Compile(compile.Source{Filename: "timers.js", Code: timerWaitJS})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><title>t</title></html>")
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		callback string
		want     []string
	}{
		{"timeout", []string{`{"url":"` + srv.URL + `/","waited":"timeout"}`}},
		{"generator", []string{`{"url":"` + srv.URL + `/","step":1}`, `{"url":"` + srv.URL + `/","step":2}`}},
		{"interval", []string{`{"url":"` + srv.URL + `/","ticks":3}`}},
	} {
		t.Run(c.callback, func(t *testing.T) {
			t.Parallel()
			logs := &logBuffer{}
			s, err := New(Options{Program: p, Name: "timers", Logger: newTestLogger(logs),
				StartURLs: []string{srv.URL + "/"}, DefaultCallback: c.callback})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Shutdown)
			// While the timer runs, the spider is never reported stalled.
			stalled := make(chan []string, 1)
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						stalled <- nil
						return
					case <-time.After(5 * time.Millisecond):
					}
					if w := s.Stalled(); w != nil {
						stalled <- w
						return
					}
				}
			}()
			began := time.Now()
			res, sink := runEngine(t, s, func(o *engine.Options) { o.PollInterval = 100 * time.Millisecond })
			close(stop)
			if w := <-stalled; w != nil {
				t.Errorf("Stalled() = %q while a timer was pending", w)
			}
			if res.Reason != engine.ReasonFinished || len(res.Stalled) > 0 {
				t.Fatalf("reason %q, stalled %q after %v; want finished\nlogs:\n%s", res.Reason, res.Stalled, time.Since(began).Round(time.Millisecond), logs)
			}
			if got := sink.jsonLines(); !slices.Equal(got, c.want) {
				t.Errorf("items %q, want %q", got, c.want)
			}
			if took := time.Since(began); took < 500*time.Millisecond {
				t.Errorf("the crawl took %v: it did not wait for the timer", took)
			}
		})
	}
}
