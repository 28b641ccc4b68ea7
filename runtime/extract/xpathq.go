package extract

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/antchfx/xpath"
)

// antchfx/xpath has neither variables nor extension functions, so the query
// text is rewritten before compiling: $name becomes a literal, re:test(s, p,
// flags) becomes matches(s, "(?flags)p"), has-class("a", ...) becomes the
// class-token test cssselect emits, and name(x) drops the unprefixedNS
// prefix the navigator gives names in a default namespace. Rewrites work
// on tokens, so string literals are never touched.

// CompileXPath reports whether query is a valid XPath expression (for spec
// validation). Variables are not checked.
func CompileXPath(query string) error {
	_, err := compileXPath(query, nil, nil)
	return err
}

type xpathKey struct {
	q  string
	ns string
}

// compiledXPath is a cached expression. antchfx's Expr.Evaluate mutates
// the expression's query tree (only the node iterator it returns works on a
// clone), so evaluations of one compiled expression are serialized.
type compiledXPath struct {
	mu sync.Mutex
	e  *xpath.Expr
}

func (c *compiledXPath) evaluate(nav xpath.NodeNavigator) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.e.Evaluate(nav)
}

var xpathCache = struct {
	sync.Mutex
	m map[xpathKey]*compiledXPath
}{m: map[xpathKey]*compiledXPath{}}

// xpathCacheMax bounds the cache: queries are usually a handful of
// constants, but variables or generated queries must not grow it forever.
const xpathCacheMax = 2048

func compileXPath(query string, vars map[string]any, ns map[string]string) (*compiledXPath, error) {
	q, err := rewriteXPath(query, vars)
	if err != nil {
		return nil, fmt.Errorf("xpath %q: %w", query, err)
	}
	if err := checkPrefixes(q, ns); err != nil {
		return nil, fmt.Errorf("xpath %q: %w", query, err)
	}
	if err := checkFunctionSteps(query); err != nil { // as written: name() is rewritten
		return nil, fmt.Errorf("xpath %q: %w", query, err)
	}
	key := xpathKey{q: q, ns: nsKey(ns)}
	xpathCache.Lock()
	e, ok := xpathCache.m[key]
	xpathCache.Unlock()
	if ok {
		return e, nil
	}
	var x *xpath.Expr
	if ns == nil {
		x, err = xpath.Compile(q)
	} else {
		x, err = xpath.CompileWithNS(q, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("xpath %q: %w", query, err)
	}
	e = &compiledXPath{e: x}
	xpathCache.Lock()
	if len(xpathCache.m) >= xpathCacheMax {
		clear(xpathCache.m)
	}
	xpathCache.m[key] = e
	xpathCache.Unlock()
	return e, nil
}

func nsKey(ns map[string]string) string {
	if len(ns) == 0 {
		return ""
	}
	keys := make([]string, 0, len(ns))
	for k := range ns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(ns[k])
		b.WriteByte(0)
	}
	return b.String()
}

// xpathLiteral quotes s as an XPath 1.0 string literal; a string with both
// quote kinds becomes a concat().
func xpathLiteral(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	parts := strings.Split(s, `"`)
	var b strings.Builder
	b.WriteString("concat(")
	for i, p := range parts {
		if i > 0 {
			b.WriteString(`, '"', `)
		}
		b.WriteString(`"` + p + `"`)
	}
	b.WriteString(")")
	return b.String()
}

// rewriteXPath applies the rewrites described above.
func rewriteXPath(q string, vars map[string]any) (string, error) {
	if !strings.ContainsAny(q, "$") && !strings.Contains(q, "re:") && !strings.Contains(q, "has-class") && !strings.Contains(q, "name") {
		return q, nil
	}
	var b strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '"' || c == '\'':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return "", fmt.Errorf("unterminated string literal at offset %d", i)
			}
			b.WriteString(q[i : i+j+2])
			i += j + 2
		case c == '$':
			j := i + 1
			for j < len(q) && isNameChar(q[j]) {
				j++
			}
			name := q[i+1 : j]
			v, ok := vars[name]
			if !ok {
				return "", fmt.Errorf("undefined variable $%s", name)
			}
			b.WriteString(xpathValue(v))
			i = j
		case strings.HasPrefix(q[i:], "re:test(") && (i == 0 || !isNameChar(q[i-1])):
			args, end, err := splitArgs(q, i+len("re:test("))
			if err != nil {
				return "", err
			}
			if len(args) < 2 || len(args) > 3 {
				return "", fmt.Errorf("re:test takes 2 or 3 arguments, got %d", len(args))
			}
			for k := range args {
				if args[k], err = rewriteXPath(args[k], vars); err != nil {
					return "", err
				}
			}
			pat := strings.TrimSpace(args[1])
			if len(args) == 3 {
				flags, ok := unquote(strings.TrimSpace(args[2]))
				p, ok2 := unquote(pat)
				if !ok || !ok2 {
					return "", fmt.Errorf("re:test flags need literal pattern and flags")
				}
				goFlags := ""
				for _, f := range flags {
					switch f {
					case 'i':
						goFlags += "i"
					case 'g':
						// global matching does not change a boolean test
					default:
						return "", fmt.Errorf("re:test flag %q is not supported (use i or g)", f)
					}
				}
				if goFlags != "" {
					p = "(?" + goFlags + ")" + p
				}
				pat = xpathLiteral(p)
			}
			b.WriteString("matches(" + args[0] + ", " + pat + ")")
			i = end
		case strings.HasPrefix(q[i:], "has-class(") && (i == 0 || !isNameChar(q[i-1])):
			args, end, err := splitArgs(q, i+len("has-class("))
			if err != nil {
				return "", err
			}
			if len(args) == 0 {
				return "", fmt.Errorf("has-class needs at least one class name")
			}
			var conds []string
			for _, a := range args {
				name, ok := unquote(strings.TrimSpace(a))
				if !ok {
					return "", fmt.Errorf("has-class arguments must be string literals")
				}
				conds = append(conds, "contains(concat(' ', normalize-space(@class), ' '), "+xpathLiteral(" "+name+" ")+")")
			}
			b.WriteString("(" + strings.Join(conds, " and ") + ")")
			i = end
		case strings.HasPrefix(q[i:], "name") && (i == 0 || !isNameChar(q[i-1]) && q[i-1] != ':') && isFuncCall(q[i:]) && nameLen(q[i:]) == len("name"):
			paren := strings.IndexByte(q[i:], '(')
			args, end, err := splitArgs(q, i+paren+1)
			if err != nil {
				return "", err
			}
			for k := range args {
				if args[k], err = rewriteXPath(args[k], vars); err != nil {
					return "", err
				}
			}
			call := "name(" + strings.Join(args, ",") + ")"
			b.WriteString("substring(" + call + ", 1 + 2 * number(starts-with(" + call + `, "` + unprefixedNS + `:")))`)
			i = end
		case strings.HasPrefix(q[i:], "re:") && (i == 0 || !isNameChar(q[i-1])) && isFuncCall(q[i+3:]):
			return "", fmt.Errorf("EXSLT function %s is not supported (only re:test)", q[i:i+3+nameLen(q[i+3:])])
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func nameLen(s string) int {
	n := 0
	for n < len(s) && isNameChar(s[n]) {
		n++
	}
	return n
}

func isFuncCall(s string) bool {
	n := nameLen(s)
	return n > 0 && strings.HasPrefix(strings.TrimLeft(s[n:], " "), "(")
}

// splitArgs splits the arguments of a call whose '(' ends just before
// start, returning them and the offset after the closing ')'.
func splitArgs(q string, start int) ([]string, int, error) {
	depth := 0
	var args []string
	last := start
	for i := start; i < len(q); i++ {
		switch c := q[i]; c {
		case '"', '\'':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return nil, 0, fmt.Errorf("unterminated string literal at offset %d", i)
			}
			i += j + 1
		case '(', '[':
			depth++
		case ']':
			depth--
		case ')':
			if depth == 0 {
				if s := strings.TrimSpace(q[last:i]); s != "" || len(args) > 0 {
					args = append(args, q[last:i])
				}
				return args, i + 1, nil
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, q[last:i])
				last = i + 1
			}
		}
	}
	return nil, 0, fmt.Errorf("unclosed function call at offset %d", start)
}

func unquote(s string) (string, bool) {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1], true
	}
	return "", false
}

func xpathValue(v any) string {
	switch x := v.(type) {
	case string:
		return xpathLiteral(x)
	case bool:
		if x {
			return "true()"
		}
		return "false()"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return `""`
	default:
		return xpathLiteral(fmt.Sprint(x))
	}
}

// checkPrefixes rejects a name test whose prefix is not registered, as lxml
// does ("Undefined namespace prefix"); antchfx would otherwise compare the
// prefix literally and silently match nothing.
func checkPrefixes(q string, ns map[string]string) error {
	if !strings.Contains(q, ":") {
		return nil
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '"' || c == '\'' {
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return nil // the compiler reports it
			}
			i += j + 1
			continue
		}
		if !isNameStart(c) || (i > 0 && (isNameChar(q[i-1]) || q[i-1] == '$')) {
			continue
		}
		n := nameLen(q[i:])
		end := i + n
		if end+1 < len(q) && q[end] == ':' && q[end+1] != ':' && isNameStart(q[end+1]) || end+1 < len(q) && q[end] == ':' && q[end+1] == '*' {
			prefix := q[i:end]
			if _, ok := ns[prefix]; !ok && prefix != "xml" {
				return fmt.Errorf("undefined namespace prefix %q (register it with register_namespace)", prefix)
			}
		}
		i = end - 1
	}
	return nil
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// checkFunctionSteps rejects a function call used as a location step
// ("//p/normalize-space()", "//a/name()"): XPath 2.0, which antchfx/xpath
// accepts but lxml (XPath 1.0) rejects with an error, so a query that
// works here would fail under Scrapy. The node tests text(), node(),
// comment() and processing-instruction() are steps of XPath 1.0.
func checkFunctionSteps(q string) error {
	if !strings.Contains(q, "(") {
		return nil
	}
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '"', '\'':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return nil // the compiler reports it
			}
			i += j + 1
		case '/':
			k := i + 1
			for k < len(q) && (q[k] == ' ' || q[k] == '\t' || q[k] == '\n' || q[k] == '\r' || q[k] == '/') {
				k++
			}
			n := nameLen(q[k:])
			if n == 0 {
				continue
			}
			name := q[k : k+n]
			k += n
			for k < len(q) && (q[k] == ' ' || q[k] == '\t' || q[k] == '\n' || q[k] == '\r') {
				k++
			}
			if k < len(q) && q[k] == '(' {
				switch name {
				case "text", "node", "comment", "processing-instruction":
				default:
					return fmt.Errorf("%s() as a location step is XPath 2.0; lxml (XPath 1.0) rejects it", name)
				}
			}
		}
	}
	return nil
}
