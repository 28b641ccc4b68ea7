package extract

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/encoding/charmap"
)

// Regular expressions use dlclark/regexp2 (a backtracking engine with
// Python's lookarounds and backreferences) rather than RE2, because parsel
// users write Python patterns. Python's (?P<name>...) and (?P=name) are
// translated. Each match is bounded by RegexTimeout; a timeout is an error
// (ErrRegexTimeout), never a silent non-match.

// RegexTimeout bounds one regular-expression match.
var RegexTimeout = time.Second

// ErrRegexTimeout is returned when a match runs longer than RegexTimeout.
var ErrRegexTimeout = errors.New("regular expression match timed out")

var reCache = struct {
	sync.Mutex
	m map[string]*regexp2.Regexp
}{m: map[string]*regexp2.Regexp{}}

var pyNamedGroup = strings.NewReplacer("(?P<", "(?<")
var pyBackref = regexp.MustCompile(`\(\?P=(\w+)\)`)

// CompileRegex compiles a Python-style pattern.
func CompileRegex(pattern string) (*regexp2.Regexp, error) {
	reCache.Lock()
	re, ok := reCache.m[pattern]
	reCache.Unlock()
	if ok {
		return re, nil
	}
	p := pyNamedGroup.Replace(pattern)
	p = pyBackref.ReplaceAllString(p, `\k<$1>`)
	re, err := regexp2.Compile(p, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	re.MatchTimeout = RegexTimeout
	reCache.Lock()
	if len(reCache.m) >= xpathCacheMax {
		clear(reCache.m)
	}
	reCache.m[pattern] = re
	reCache.Unlock()
	return re, nil
}

func regexErr(pattern string, err error) error {
	if strings.Contains(err.Error(), "timeout") {
		return fmt.Errorf("regex %q: %w after %v", pattern, ErrRegexTimeout, RegexTimeout)
	}
	return fmt.Errorf("regex %q: %w", pattern, err)
}

// RegexSearch reports whether pattern matches anywhere in s.
func RegexSearch(pattern, s string) (bool, error) {
	re, err := CompileRegex(pattern)
	if err != nil {
		return false, err
	}
	ok, err := re.MatchString(s)
	if err != nil {
		return false, regexErr(pattern, err)
	}
	return ok, nil
}

// ReExtract is parsel's extract_regex: with a group named "extract" the
// result is that group of the first match; otherwise it is Python's
// re.findall (whole matches without groups, the groups of every match
// flattened otherwise, "" for a group that did not take part). Entities in
// the results are replaced except &lt; and &amp; (w3lib replace_entities
// with keep=["lt", "amp"]).
func ReExtract(pattern, text string) ([]string, error) {
	re, err := CompileRegex(pattern)
	if err != nil {
		return nil, err
	}
	out := []string{}
	if re.GroupNumberFromName("extract") >= 0 {
		m, err := re.FindStringMatch(text)
		if err != nil {
			return nil, regexErr(pattern, err)
		}
		if m != nil {
			if g := m.GroupByName("extract"); g != nil && len(g.Captures) > 0 {
				out = append(out, replaceEntities(g.String()))
			}
		}
		return out, nil
	}
	order := pythonGroupOrder(pattern)
	m, err := re.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		groups := m.Groups()
		if len(groups) == 1 {
			out = append(out, replaceEntities(m.String()))
			continue
		}
		if len(order) != len(groups)-1 {
			// The pattern scan disagrees with the engine (an exotic
			// construct): fall back to the engine's numbering.
			for _, g := range groups[1:] {
				out = append(out, replaceEntities(g.String()))
			}
			continue
		}
		for _, ref := range order {
			var g *regexp2.Group
			if ref.name != "" {
				g = m.GroupByName(ref.name)
			} else {
				g = m.GroupByNumber(ref.num)
			}
			v := ""
			if g != nil {
				v = g.String()
			}
			out = append(out, replaceEntities(v))
		}
	}
	if err != nil {
		return nil, regexErr(pattern, err)
	}
	return out, nil
}

var entityRe = regexp.MustCompile(`(?i)&(?:([a-z\d]+)|#(\d+)|#x([a-f\d]+))(;?)`)

// replaceEntities is w3lib.html.replace_entities(text, keep=("lt", "amp"),
// remove_illegal=True).
func replaceEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return entityRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := entityRe.FindStringSubmatch(m)
		named, dec, hex, semi := sub[1], sub[2], sub[3], sub[4]
		var num int64 = -1
		switch {
		case dec != "":
			num, _ = strconv.ParseInt(dec, 10, 32)
		case hex != "":
			num, _ = strconv.ParseInt(hex, 16, 32)
		default:
			l := strings.ToLower(named)
			if l == "lt" || l == "amp" {
				return m
			}
			for _, name := range []string{named, l} {
				if r := html.UnescapeString("&" + name + ";"); r != "&"+name+";" {
					return r
				}
			}
		}
		if num >= 0x80 && num <= 0x9F {
			if r := charmap.Windows1252.DecodeByte(byte(num)); r != 0 {
				return string(r)
			}
		}
		if num > 0 && num <= 0x10FFFF && !(num >= 0xD800 && num <= 0xDFFF) {
			return string(rune(num))
		}
		if semi != "" {
			return ""
		}
		return m
	})
}

type groupRef struct {
	num  int
	name string
}

// pythonGroupOrder lists the capturing groups of pattern in the order of
// their opening parentheses, which is Python's numbering. .NET (regexp2)
// numbers named groups after all unnamed ones, so findall would otherwise
// list "(\d)(?P<n>x)(\d)" as 1, 3, 2.
func pythonGroupOrder(pattern string) []groupRef {
	var out []groupRef
	unnamed := 0
	inClass := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(pattern) && pattern[i+1] == ']' {
				i++
			} else if i+2 < len(pattern) && pattern[i+1] == '^' && pattern[i+2] == ']' {
				i += 2
			}
		case c == '(':
			rest := pattern[i+1:]
			switch {
			case strings.HasPrefix(rest, "?P<"), strings.HasPrefix(rest, "?<") && !strings.HasPrefix(rest, "?<=") && !strings.HasPrefix(rest, "?<!"),
				strings.HasPrefix(rest, "?'"):
				start := strings.IndexAny(rest, "<'") + 1
				end := strings.IndexAny(rest[start:], ">'")
				if end < 0 {
					return nil
				}
				out = append(out, groupRef{name: rest[start : start+end]})
			case strings.HasPrefix(rest, "?"):
				// non-capturing, lookaround, flags, comments, backrefs
			default:
				unnamed++
				out = append(out, groupRef{num: unnamed})
			}
		}
	}
	return out
}
