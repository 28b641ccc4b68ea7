package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

// jmespathResult is one line of a testdata/jmespath/*.golden.json file:
// the query and what JMESPath returned — a JSON result, a value JSON
// cannot hold (NaN), or the library's error message.
type jmespathResult struct {
	Query   string          `json:"query"`
	Result  json.RawMessage `json:"result,omitempty"`
	NonJSON string          `json:"nonjson,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// TestJMESPathGolden runs the queries of testdata/jmespath/NAME.in.json
// (a document and a list of queries: paths, projections, filters, every
// built-in function, slices, multi-selects, pipes, literals, syntax and
// type errors, and the expressions the JMESPath Community spec gives a
// meaning) and compares the results and error messages with
// NAME.golden.json, written by `go test ./runtime/extract -run
// JMESPathGolden -update` with the library in go.mod.
//
// It is the reference a change of JMESPath library must pass: switch the
// import in jsondata.go, run this test without -update, and every result or
// message that changes is listed (issue 13 did this for
// github.com/jmespath-community/go-jmespath; the differences are in
// specs/selectors.md). testdata/jmespath/python_reference.py compares the
// same golden files with Python's jmespath, the library Scrapy uses.
func TestJMESPathGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "jmespath", "*.in.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Doc     any      `json:"doc"`
				Queries []string `json:"queries"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			got := make([]jmespathResult, len(c.Queries))
			for i, q := range c.Queries {
				got[i] = runJMESPath(c.Doc, q)
			}
			// Compared as JSON values, result by result, so that the
			// message names the query; -update writes the file.
			goldenPath := filepath.Join("testdata", "jmespath", name+".golden.json")
			if golden.Update() {
				golden.Write(t, goldenPath, encodeJMESPathGolden(got))
				return
			}
			wantRaw, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var want []jmespathResult
			if err := json.Unmarshal(wantRaw, &want); err != nil {
				t.Fatalf("%s: %v", goldenPath, err)
			}
			if len(want) != len(got) {
				t.Fatalf("%s has %d results, %s %d queries (run with -update)", goldenPath, len(want), in, len(got))
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Query != w.Query {
					t.Fatalf("result %d is for %q, the query is %q (run with -update)", i, w.Query, g.Query)
				}
				if !bytes.Equal(compactJSON(g.Result), compactJSON(w.Result)) || g.NonJSON != w.NonJSON || g.Error != w.Error {
					t.Errorf("%s\n  got:  %s\n  want: %s", g.Query, describeJMESPath(g), describeJMESPath(w))
				}
			}
		})
	}
}

func runJMESPath(doc any, q string) jmespathResult {
	r := jmespathResult{Query: q}
	v, err := JMESPath(doc, q)
	if err != nil {
		// without our "jmespath <query>: " prefix: the library's words
		r.Error = strings.TrimPrefix(err.Error(), fmt.Sprintf("jmespath %q: ", q))
		return r
	}
	b, err := json.Marshal(v)
	if err != nil {
		r.NonJSON = fmt.Sprintf("%v", v)
		return r
	}
	r.Result = b
	return r
}

// encodeJMESPathGolden writes one result per line, so a diff shows the
// queries whose results changed.
func encodeJMESPathGolden(rs []jmespathResult) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, r := range rs {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			panic(err)
		}
		b.Write(bytes.TrimRight(line.Bytes(), "\n"))
		if i < len(rs)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func compactJSON(b []byte) []byte {
	var out bytes.Buffer
	if len(b) == 0 || json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

func describeJMESPath(r jmespathResult) string {
	switch {
	case r.Error != "":
		return "error: " + r.Error
	case r.NonJSON != "":
		return "non-JSON value: " + r.NonJSON
	}
	return string(compactJSON(r.Result))
}
