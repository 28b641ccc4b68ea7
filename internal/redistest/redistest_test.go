package redistest

import (
	"testing"
)

// The server keeps what it acknowledged across a kill -9 and restart (AOF
// with fsync on every write): the outage tests rely on it.
func TestKillRestartKeepsData(t *testing.T) {
	s := Start(t)
	if got, err := s.Do("SET", "k", "v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	s.Kill()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("server still answers after Kill")
	}
	s.Restart()
	got, err := s.Do("GET", "k")
	if err != nil || got != "v" {
		t.Fatalf("GET after restart = %q, %v; want the value back", got, err)
	}
}

func TestStartWithArgs(t *testing.T) {
	s := Start(t, Options{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	if got, err := s.Do("CONFIG", "GET", "maxmemory-policy"); err != nil || got != "maxmemory-policy\nallkeys-lru" {
		t.Fatalf("CONFIG GET = %q, %v; want the extra argument applied", got, err)
	}
	if _, err := s.Do("NO-SUCH-COMMAND"); err == nil {
		t.Fatal("an error reply must be returned as an error")
	}
}
