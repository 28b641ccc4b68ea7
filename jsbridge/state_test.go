package jsbridge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func stateOf(t *testing.T, s *Spider) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := s.State(ctx)
	return string(b), err
}

// spider.state starts as an empty object, is restored by SetState (key
// order and integers kept) before callbacks run, and State returns it as
// JSON after callbacks changed it.
func TestSpiderState(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "state.js", nil)
	if got, err := stateOf(t, s); err != nil || got != `{}` {
		t.Fatalf("initial state %s, %v; want {}", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.SetState(ctx, []byte(`{"pages":2,"nested":{"list":["a","b"]},"z":1.5,"a":null}`)); err != nil {
		t.Fatal(err)
	}
	if rec, err := call(t, s, "restored"); err != nil || len(rec.errs) > 0 {
		t.Fatalf("restored: %v %v", err, rec)
	}
	if rec, err := call(t, s, "count"); err != nil || rec.String() != `I {"pages":3,"keys":["pages","nested","z","a","seen"]}` {
		t.Fatalf("count: %v\n%s", err, rec)
	}
	got, err := stateOf(t, s)
	if want := `{"pages":3,"nested":{"list":["a","b"]},"z":1.5,"a":null,"seen":{"http://example.test/page":true}}`; err != nil || got != want {
		t.Fatalf("State = %s, %v\nwant %s", got, err, want)
	}
	if err := s.SetState(ctx, []byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("SetState(array) = %v", err)
	}
}

// A state that is not JSON data is a *StateError naming the value; the
// spider keeps running (the runtime is not abandoned) and saves again
// once the state is fixed.
func TestSpiderStateErrors(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "state.js", nil)
	for _, tc := range []struct{ fn, want string }{
		{"with_function", "spider.state cannot be saved: spider.state.fn: a function is not data"},
		{"with_cycle", "spider.state cannot be saved: spider.state.a.self: cyclic reference"},
		{"with_getter", "spider.state cannot be saved: Error: getter threw"},
		{"not_object", "spider.state cannot be saved: spider.state: want an object, got array"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			if _, err := call(t, s, "reset"); err != nil {
				t.Fatal(err)
			}
			if _, err := call(t, s, tc.fn); err != nil {
				t.Fatal(err)
			}
			_, err := stateOf(t, s)
			var se *StateError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("State = %v, want a *StateError %q", err, tc.want)
			}
		})
	}
	if _, err := call(t, s, "typed"); err != nil {
		t.Fatal(err)
	}
	// Dates, Sets and Maps convert as in items; undefined is null.
	if got, err := stateOf(t, s); err != nil || got != `{"when":"1970-01-01T00:00:00.000Z","tags":["x"],"by":{"k":1},"none":null}` {
		t.Fatalf("State = %s, %v", got, err)
	}
}
