package extract

import (
	"regexp"

	"github.com/dlclark/regexp2/v2"
)

// urlPattern is a regex applied to URLs (allow, deny, sitemap rules). URLs
// reaching it are percent-encoded ASCII, where RE2 and Python agree on \d,
// \w, \b and $ (no newlines), so a pattern RE2 accepts runs on Go's regexp
// (several times faster, no per-call rune conversion); lookarounds and
// backreferences fall back to regexp2 with its match timeout.
type urlPattern struct {
	re2  *regexp.Regexp
	back *regexp2.Regexp
	src  string
}

// CompileURLPattern compiles a Python-style pattern for matching URLs.
func CompileURLPattern(pattern string) (*urlPattern, error) {
	if re, err := regexp.Compile(pattern); err == nil {
		return &urlPattern{re2: re, src: pattern}, nil
	}
	re, err := CompileRegex(pattern)
	if err != nil {
		return nil, err
	}
	return &urlPattern{back: re, src: pattern}, nil
}

// MatchString reports whether the pattern matches anywhere in s (Python's
// re.search).
func (p *urlPattern) MatchString(s string) (bool, error) {
	if p.re2 != nil {
		return p.re2.MatchString(s), nil
	}
	ok, err := p.back.MatchString(s)
	if err != nil {
		return false, regexErr(p.src, err)
	}
	return ok, nil
}

// String is the pattern's source.
func (p *urlPattern) String() string { return p.src }
