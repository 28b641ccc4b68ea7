// Package doctest reads the fenced code blocks of the documentation
// (README.md, specs/*.md) for the tests that execute them: jsbridge's
// TestDocExamples (scripts through the engine) and cmd/spiderrun's
// TestDocSpecs (specs through the CLI). Only tests import it.
//
// A block is a fence whose language is js, javascript, mjs, ts,
// typescript, yaml or yml. Its fence may carry attributes
// (```js hooks=spider_opened:opened); the non-blank line before it may be
// a directive, `<!-- doc-test: kind (reason) -->` (kind "fragment" marks a
// block that is not run); its first line may name the file it shows
// (`// quotes.js`, `# spider.yaml`); `// item: {...}` lines are items the
// block must produce and `// items: N` their exact number.
package doctest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Block is one fenced code block of a markdown file.
type Block struct {
	File  string // path relative to the repository root
	Line  int    // line of the first code line
	Lang  string // js, ts or yaml (normalised)
	Code  string
	Attrs map[string]string
	Items []string // `// item: {...}` lines
	Count int      // `// items: N`, or -1
	// Kind and Reason come from the directive before the fence.
	Kind, Reason string
	// Name is the file the block shows, from its first line.
	Name string
}

func (b Block) String() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

var (
	directive = regexp.MustCompile(`^<!-- doc-test: ([a-z]+)(?: \((.+)\))? -->$`)
	fileName  = regexp.MustCompile(`^(?://|#) ([\w./-]+\.(?:js|mjs|cjs|ts|ya?ml))$`)
	langs     = map[string]string{"js": "js", "javascript": "js", "mjs": "js", "ts": "ts", "typescript": "ts", "yaml": "yaml", "yml": "yaml"}
)

// Files are the markdown files whose blocks are executed: README.md and
// specs/*.md under root (the repository root, relative or absolute).
func Files(root string) ([]string, error) {
	specs, err := filepath.Glob(filepath.Join(root, "specs", "*.md"))
	if err != nil {
		return nil, err
	}
	if len(specs) < 10 {
		return nil, fmt.Errorf("%s/specs/*.md: %d files", root, len(specs))
	}
	return append([]string{filepath.Join(root, "README.md")}, specs...), nil
}

// Read returns the blocks of path, named relative to root. Problems in
// the markdown (a malformed directive, a bad `// items:` line, an
// unclosed fence) are returned as errors beside the blocks.
func Read(root, path string) ([]Block, []error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []error{err}
	}
	defer f.Close()
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	rel = filepath.ToSlash(rel)
	var (
		blocks  []Block
		errs    []error
		cur     *Block
		code    strings.Builder
		inFence bool
		prev    string
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !inFence && strings.HasPrefix(trimmed, "```"):
			inFence = true
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(info) == 0 || langs[info[0]] == "" {
				break
			}
			cur = &Block{File: rel, Line: n + 1, Lang: langs[info[0]], Attrs: map[string]string{}, Count: -1}
			for _, kv := range info[1:] {
				k, v, _ := strings.Cut(kv, "=")
				cur.Attrs[k] = v
			}
			if m := directive.FindStringSubmatch(prev); m != nil {
				cur.Kind, cur.Reason = m[1], m[2]
			} else if strings.Contains(prev, "doc-test") {
				errs = append(errs, fmt.Errorf("%s:%d: malformed directive %q (want <!-- doc-test: kind (reason) -->)", rel, n-1, prev))
			}
			code.Reset()
		case inFence && strings.HasPrefix(trimmed, "```"):
			inFence = false
			if cur != nil {
				cur.Code = code.String()
				first, _, _ := strings.Cut(cur.Code, "\n")
				if m := fileName.FindStringSubmatch(first); m != nil {
					cur.Name = m[1]
				}
				blocks = append(blocks, *cur)
				cur = nil
			}
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
			if item, ok := strings.CutPrefix(trimmed, "// item: "); ok {
				cur.Items = append(cur.Items, item)
			}
			if c, ok := strings.CutPrefix(trimmed, "// items: "); ok {
				if cur.Count, err = strconv.Atoi(c); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: bad // items line %q", rel, n, trimmed))
				}
			}
		}
		if trimmed != "" {
			prev = trimmed
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if inFence {
		errs = append(errs, fmt.Errorf("%s: unclosed code fence", rel))
	}
	return blocks, errs
}
