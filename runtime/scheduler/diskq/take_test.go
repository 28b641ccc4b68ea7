package diskq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// modelEntry is a pending request of orderModel.
type modelEntry struct {
	url   string
	prio  int
	order int // enqueue order; kept when a paused request comes back
	local bool
}

// orderModel is the order the queue must give, written independently of
// the implementation: higher priority first, then enqueue order
// (memory-only requests included: they sort among disk requests by when
// they were enqueued).
type orderModel []modelEntry

func (m *orderModel) pop() modelEntry {
	i := 0
	for j, e := range *m {
		h := (*m)[i]
		if e.prio > h.prio || (e.prio == h.prio && e.order < h.order) {
			i = j
		}
	}
	e := (*m)[i]
	*m = slices.Delete(*m, i, i+1)
	return e
}

// TestTakeOrderMatchesModel drives the scheduler with random enqueues
// (single and batched, random priorities, some memory-only), takes (Next
// and NextBatch of random sizes), acks and pauses (close and reopen, which
// requeues what was taken and not acked), and checks every request taken
// against orderModel: the ready buffer must never hand out a request
// before a higher-priority one enqueued after it was filled, nor lose or
// repeat one.
func TestTakeOrderMatchesModel(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 6; seed++ {
		withLocal := seed%2 == 0 // pauses lose memory-only requests: not mixed
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			ctx := t.Context()
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{})
			var (
				model   orderModel
				taken   = map[string]modelEntry{} // handed out, not acked
				held    []*crawl.Request
				counter int
			)
			newReq := func() (*crawl.Request, modelEntry) {
				counter++
				e := modelEntry{url: fmt.Sprintf("http://a.test/%d", counter), prio: rng.IntN(4) - 1, order: counter}
				r := &crawl.Request{URL: e.url, Priority: e.prio}
				if withLocal && rng.IntN(8) == 0 {
					r.Local, e.local = struct{}{}, true
				}
				return r, e
			}
			check := func(r *crawl.Request) {
				t.Helper()
				want := model.pop()
				if r.URL != want.url {
					t.Fatalf("took %s, want %s (priority %d)", r.URL, want.url, want.prio)
				}
				taken[r.URL] = want
				held = append(held, r)
			}
			for step := 0; step < 3000; step++ {
				switch op := rng.IntN(20); {
				case op < 6:
					r, e := newReq()
					enqueue(t, s, r, true)
					model = append(model, e)
				case op < 9:
					var reqs []*crawl.Request
					for range 1 + rng.IntN(12) {
						r, e := newReq()
						reqs = append(reqs, r)
						model = append(model, e)
					}
					for i, res := range s.EnqueueBatch(ctx, reqs) {
						if res.Err != nil || !res.Added {
							t.Fatalf("EnqueueBatch %s: added %v, %v", reqs[i].URL, res.Added, res.Err)
						}
					}
				case op < 13:
					r, err := s.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if r == nil {
						if len(model) > 0 {
							t.Fatalf("Next: empty, %d pending in the model", len(model))
						}
						continue
					}
					check(r)
				case op < 15:
					rs, err := s.NextBatch(ctx, 1+rng.IntN(40))
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rs {
						check(r)
					}
				case op < 19:
					if len(held) == 0 {
						continue
					}
					i := rng.IntN(len(held))
					if err := s.Ack(ctx, held[i]); err != nil {
						t.Fatal(err)
					}
					delete(taken, held[i].URL)
					held = slices.Delete(held, i, i+1)
				default:
					if withLocal {
						continue
					}
					// A pause: what was taken and not acked comes back
					// at its old place.
					closeS(t, s, "shutdown")
					s = mustOpen(t, dir, Options{})
					for _, e := range taken {
						model = append(model, e)
					}
					clear(taken)
					held = nil
				}
				if n, _ := s.Len(ctx); n != len(model) {
					t.Fatalf("step %d: Len %d, model %d", step, n, len(model))
				}
				if s.InFlight() != len(held)-countLocal(taken) {
					t.Fatalf("step %d: InFlight %d, want %d taken on disk", step, s.InFlight(), len(held)-countLocal(taken))
				}
			}
			for len(model) > 0 {
				check(next(t, s))
			}
			closeS(t, s, ReasonFinished)
		})
	}
}

func countLocal(m map[string]modelEntry) int {
	n := 0
	for _, e := range m {
		if e.local {
			n++
		}
	}
	return n
}
