package html5

import (
	"os"
	"regexp"
	"testing"
)

// forkedFrom is the golang.org/x/net version the fork's files were copied
// from (see the package comment and each file's header).
const forkedFrom = "v0.62.0"

// TestForkMatchesXNet fails when go.mod moves golang.org/x/net past the
// version the parser was forked from: the trees must stay x/net's (the
// differential tests compare with the x/net in go.mod), and upstream fixes
// — security fixes of the tokenizer and tree builder above all — must be
// ported into the fork on purpose. Port the diff of x/net/html between the
// two versions, keeping the fork's own patches (listed in the package
// comment: formatting elements keep their attributes in source order, see
// addFormattingElement), run the differential tests, then update
// forkedFrom and the file headers.
func TestForkMatchesXNet(t *testing.T) {
	mod, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*golang\.org/x/net (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require golang.org/x/net")
	}
	if got := string(m[1]); got != forkedFrom {
		t.Fatalf("go.mod requires golang.org/x/net %s, the HTML parser fork is of %s: port x/net/html's changes between them into runtime/extract/internal/html5, then update forkedFrom", got, forkedFrom)
	}
}
