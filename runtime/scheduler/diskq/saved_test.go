package diskq

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// Cookies, sessions and the spider state saved by one run are what the
// next run loads; a save replaces the jars (a jar left out is deleted) and
// leaves nil fields alone.
func TestSavedRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "job")
	s := mustOpen(t, dir, Options{})
	if v, err := s.LoadSaved(); err != nil || v.Cookies != nil || v.Sessions != nil || v.SpiderState != nil {
		t.Fatalf("new directory: LoadSaved = %+v, %v; want nothing", v, err)
	}
	first := Saved{
		Cookies: map[string][]byte{
			"":                           []byte(`[{"name":"login","value":"1"}]`),
			"\x00session:session1/alice": []byte(`[{"name":"sid","value":"a"}]`),
			"bob":                        []byte(`[{"name":"sid","value":"b"}]`),
		},
		Sessions:    []byte(`{"session1/alice":{"seeded":["a.example"]}}`),
		SpiderState: []byte(`{"pages":3}`),
	}
	if err := s.Save(first); err != nil {
		t.Fatal(err)
	}
	// bob's jar is gone; the state is not given, so it is kept.
	if err := s.Save(Saved{Cookies: map[string][]byte{
		"":                           []byte(`[{"name":"login","value":"2"}]`),
		"\x00session:session1/alice": first.Cookies["\x00session:session1/alice"],
	}}); err != nil {
		t.Fatal(err)
	}
	closeS(t, s, "shutdown")

	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "shutdown")
	got, err := s.LoadSaved()
	if err != nil {
		t.Fatal(err)
	}
	want := Saved{
		Cookies: map[string][]byte{
			"":                           []byte(`[{"name":"login","value":"2"}]`),
			"\x00session:session1/alice": first.Cookies["\x00session:session1/alice"],
		},
		Sessions:    first.Sessions,
		SpiderState: first.SpiderState,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a resume LoadSaved = %q\nwant %q", got, want)
	}
}

// A finished crawl leaves no cookie in the job directory: the cookies and
// sessions are deleted, and the file is compacted so that neither the
// last saved value nor older ones freed by later saves remain in free
// pages. The spider state and the dupefilter are kept.
func TestFinishedCrawlLeavesNoCookieBytes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "job")
	s := mustOpen(t, dir, Options{})
	for i := range 50 {
		enqueue(t, s, &crawl.Request{URL: "http://a.example/" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, true)
	}
	secrets := [][]byte{[]byte("secret-token-OLD-0123456789"), []byte("secret-token-NEW-9876543210")}
	for _, sec := range secrets {
		if err := s.Save(Saved{
			Cookies:     map[string][]byte{"": append([]byte(`[{"name":"sid","value":"`), append(sec, `"}]`...)...)},
			Sessions:    append([]byte(`{"s":"`), append(sec, `"}`...)...),
			SpiderState: []byte(`{"pages":50}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, s)
	data, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, secrets[1]) {
		t.Fatal("the saved cookie is not in the file before the close; the test checks nothing")
	}
	closeS(t, s, ReasonFinished)

	data, err = os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if bytes.Contains(data, sec) {
			t.Errorf("%s is still in %s after the crawl finished", sec, DBFile)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, compactFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the compaction's copy was left behind: %v", err)
	}
	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "shutdown")
	got, err := s.LoadSaved()
	if err != nil {
		t.Fatal(err)
	}
	if got.Cookies != nil || got.Sessions != nil || string(got.SpiderState) != `{"pages":50}` {
		t.Fatalf("after the finished crawl LoadSaved = %q; want only the spider state", got)
	}
	if s.Seen() != 50 {
		t.Fatalf("dupefilter holds %d after compaction, want 50", s.Seen())
	}
	enqueue(t, s, &crawl.Request{URL: "http://a.example/aa"}, false)
}

// The job directory and its database are readable by their owner only;
// a compaction copy left by a kill is removed on open.
func TestJobdirPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "job")
	s := mustOpen(t, dir, Options{})
	closeS(t, s, "shutdown")
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, DBFile): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", path, st.Mode().Perm(), want)
		}
	}
	// A leftover copy is removed when the directory is opened.
	if err := os.WriteFile(filepath.Join(dir, compactFile), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{})
	closeS(t, s, "shutdown")
	if _, err := os.Stat(filepath.Join(dir, compactFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover compaction copy still there: %v", err)
	}
}

func TestSaveAfterCloseRefuses(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, filepath.Join(t.TempDir(), "job"), Options{})
	closeS(t, s, "shutdown")
	if err := s.Save(Saved{SpiderState: []byte(`{}`)}); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Save after Close = %v, want ErrClosed", err)
	}
	if _, err := s.LoadSaved(); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("LoadSaved after Close = %v, want ErrClosed", err)
	}
}
