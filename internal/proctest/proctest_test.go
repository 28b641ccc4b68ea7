package proctest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartWaitOutput(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	err := p.Wait(t, time.Minute)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	if out := p.Out.String(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Fatalf("output %q, want both streams", out)
	}
	if again := p.Wait(t, time.Second); again == nil || again.Error() != err.Error() {
		t.Fatalf("second Wait = %v, want %v", again, err)
	}
}

func TestPageItems(t *testing.T) {
	items := []string{
		`{"URL":"http://s/page/0"}`, `{"URL":"http://s/page/1"}`, `{"URL":"http://s/page/1"}`,
		`{"URL":"http://s/page/1"}`, `{"URL":"http://other/page/2"}`,
	}
	missing, dups := PageItems(t, items, "http://s", 4)
	if missing != 2 || dups != 2 {
		t.Fatalf("missing %d, dups %d; want 2 (pages 2, 3) and 2 (page 1 twice more)", missing, dups)
	}
}

func TestEnvInt(t *testing.T) {
	t.Setenv("PROCTEST_N", "")
	if n := EnvInt(t, "PROCTEST_N", 7); n != 7 {
		t.Fatalf("unset: %d", n)
	}
	t.Setenv("PROCTEST_N", "42")
	if n := EnvInt(t, "PROCTEST_N", 7); n != 42 {
		t.Fatalf("set: %d", n)
	}
}
