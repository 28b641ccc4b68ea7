// Copyright 2010 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// This is x/net/html's Tokenizer (v0.62.0) rewritten over a string that
// holds the whole document: no reader, no buffer, no in-place edits. The
// state machine is upstream's; what differs is how a token's strings are
// made (see token) and a few scans that jump to the next interesting byte
// with strings.IndexByte instead of reading byte by byte.

package html5

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html/atom"
)

// span is a range of bytes in the input. The start is inclusive, the end
// is exclusive.
type span struct {
	start, end int
}

// tokenizer returns a stream of HTML tokens from s.
type tokenizer struct {
	s string
	// tt is the TokenType of the current token.
	tt TokenType
	// err is io.EOF once the input is exhausted; it is never reset.
	err error
	// s[raw.start:raw.end] holds the raw bytes of the current token.
	raw span
	// s[data.start:data.end] holds the raw bytes of the current token's data:
	// a text token's text, a tag token's tag name, etc.
	data span
	// pendingAttr is the attribute key and value currently being tokenized.
	// When complete, pendingAttr is pushed onto attr.
	pendingAttr [2]span
	attr        [][2]span
	// attrNames holds the lower-cased keys of attr, used only for tags with
	// many attributes (few are compared pairwise, without allocating).
	attrNames map[string]bool
	// rawTag is the "script" in "</script>" that closes the next token. If
	// non-empty, the subsequent call to Next will return a raw or RCDATA text
	// token: one that treats "<p>" as text instead of an element.
	// rawTag's contents are lower-cased.
	rawTag string
	// textIsRaw is whether the current text token's data is not escaped.
	textIsRaw bool
	// convertNUL is whether NUL bytes in the current token's data should
	// be converted into \ufffd replacement characters.
	convertNUL bool
	// allowCDATA is whether CDATA sections are allowed in the current context.
	allowCDATA bool

	// scratch holds a string being converted (unescaped, lower-cased).
	scratch []byte
	// attrSlab is the current chunk of attributes, used up to attrNext;
	// attrChunk is the size of the next chunk.
	attrSlab  []Attribute
	attrNext  int
	attrChunk int
}

func newTokenizer(s, contextTag string) *tokenizer {
	// Attributes are sized from the '=' count (263 attributes for 263 on
	// the crawl benchmark's pages; one per 48 bytes, the former size, was
	// 427): valueless attributes and a chunk too small get more chunks of
	// a quarter of that (issue 20).
	eq := strings.Count(s, "=")
	z := &tokenizer{s: s, attrChunk: min(max(eq+eq/8+8, 16), 1024)}
	if contextTag != "" {
		// Per the "Parsing HTML Fragments" portion of the spec:
		//    For performance reasons, an implementation that does not report errors
		//    and that uses the actual state machine described in this specification
		//    directly could use the PLAINTEXT state instead of the RAWTEXT and script
		//    data states where those are mentioned in the list above. Except for
		//    rules regarding parse errors, they are equivalent, since there is no
		//    appropriate end tag token in the fragment case, yet they involve far
		//    fewer state transitions.
		//
		// As such we just set everything to plaintext, which makes some complex parsing
		// cases somewhat simpler.
		switch s := strings.ToLower(contextTag); s {
		case "title", "textarea":
			z.rawTag = s
		case "style", "xmp", "iframe", "noembed", "noframes", "script", "noscript", "plaintext":
			z.rawTag = "plaintext"
		}
	}
	return z
}

// attrs returns a zeroed slice of n attributes from the current chunk. Its
// capacity is n, so appending to it (copyAttributes) reallocates rather
// than overwriting a neighbour's attributes.
func (z *tokenizer) attrs(n int) []Attribute {
	if n == 0 {
		return nil
	}
	if n > len(z.attrSlab)-z.attrNext {
		if n > z.attrChunk/2 {
			return make([]Attribute, n)
		}
		z.attrSlab, z.attrNext = make([]Attribute, z.attrChunk), 0
		if z.attrChunk < 1024 {
			z.attrChunk = max(z.attrChunk/4, 16)
		}
	}
	// An index, not re-slicing: that would store a pointer (and run the
	// GC write barrier) per element.
	i := z.attrNext
	z.attrNext += n
	return z.attrSlab[i : i+n : i+n]
}

// AllowCDATA sets whether or not the tokenizer recognizes <![CDATA[foo]]> as
// the text "foo".
func (z *tokenizer) AllowCDATA(allowCDATA bool) {
	z.allowCDATA = allowCDATA
}

// NextIsNotRawText instructs the tokenizer that the next token should not be
// considered as 'raw text'.
func (z *tokenizer) NextIsNotRawText() {
	z.rawTag = ""
}

// Err returns the error associated with the most recent ErrorToken token:
// io.EOF.
func (z *tokenizer) Err() error {
	if z.tt != ErrorToken {
		return nil
	}
	return z.err
}

// readByte returns the next byte from the input, setting z.err to io.EOF
// at its end. Pre-condition: z.err == nil.
func (z *tokenizer) readByte() byte {
	if z.raw.end >= len(z.s) {
		z.err = io.EOF
		return 0
	}
	x := z.s[z.raw.end]
	z.raw.end++
	return x
}

// skipTo consumes the input up to and including the next c, reporting
// whether there was one; without one it consumes everything and sets
// z.err, as the equivalent readByte loop does.
func (z *tokenizer) skipTo(c byte) bool {
	i := strings.IndexByte(z.s[z.raw.end:], c)
	if i < 0 {
		z.raw.end = len(z.s)
		z.err = io.EOF
		return false
	}
	z.raw.end += i + 1
	return true
}

// skipWhiteSpace skips past any white space.
func (z *tokenizer) skipWhiteSpace() {
	if z.err != nil {
		return
	}
	for i := z.raw.end; i < len(z.s); i++ {
		switch z.s[i] {
		case ' ', '\n', '\r', '\t', '\f':
			// No-op.
		default:
			z.raw.end = i
			return
		}
	}
	z.raw.end = len(z.s)
	z.err = io.EOF
}

// readRawOrRCDATA reads until the next "</foo>", where "foo" is z.rawTag and
// is typically something like "script" or "textarea".
func (z *tokenizer) readRawOrRCDATA() {
	if z.rawTag == "script" {
		z.readScript()
		z.textIsRaw = true
		z.rawTag = ""
		return
	}
loop:
	for {
		if !z.skipTo('<') {
			break loop
		}
		c := z.readByte()
		if z.err != nil {
			break loop
		}
		if c != '/' {
			z.raw.end--
			continue loop
		}
		if z.readRawEndTag() || z.err != nil {
			break loop
		}
	}
	z.data.end = z.raw.end
	// A textarea's or title's RCDATA can contain escaped entities.
	z.textIsRaw = z.rawTag != "textarea" && z.rawTag != "title"
	z.rawTag = ""
}

// readRawEndTag attempts to read a tag like "</foo>", where "foo" is z.rawTag.
// If it succeeds, it backs up the input position to reconsume the tag and
// returns true. Otherwise it returns false. The opening "</" has already been
// consumed.
func (z *tokenizer) readRawEndTag() bool {
	for i := 0; i < len(z.rawTag); i++ {
		c := z.readByte()
		if z.err != nil {
			return false
		}
		if c != z.rawTag[i] && c != z.rawTag[i]-('a'-'A') {
			z.raw.end--
			return false
		}
	}
	c := z.readByte()
	if z.err != nil {
		return false
	}
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		// The 3 is 2 for the leading "</" plus 1 for the trailing character c.
		z.raw.end -= 3 + len(z.rawTag)
		return true
	}
	z.raw.end--
	return false
}

// readScript reads until the next </script> tag, following the byzantine
// rules for escaping/hiding the closing tag.
func (z *tokenizer) readScript() {
	defer func() {
		z.data.end = z.raw.end
	}()
	var c byte

scriptData:
	if !z.skipTo('<') {
		return
	}
	goto scriptDataLessThanSign

scriptDataLessThanSign:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '/':
		goto scriptDataEndTagOpen
	case '!':
		goto scriptDataEscapeStart
	}
	z.raw.end--
	goto scriptData

scriptDataEndTagOpen:
	if z.readRawEndTag() || z.err != nil {
		return
	}
	goto scriptData

scriptDataEscapeStart:
	c = z.readByte()
	if z.err != nil {
		return
	}
	if c == '-' {
		goto scriptDataEscapeStartDash
	}
	z.raw.end--
	goto scriptData

scriptDataEscapeStartDash:
	c = z.readByte()
	if z.err != nil {
		return
	}
	if c == '-' {
		goto scriptDataEscapedDashDash
	}
	z.raw.end--
	goto scriptData

scriptDataEscaped:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDash:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDashDash:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataEscaped

scriptDataEscapedLessThanSign:
	c = z.readByte()
	if z.err != nil {
		return
	}
	if c == '/' {
		goto scriptDataEscapedEndTagOpen
	}
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
		goto scriptDataDoubleEscapeStart
	}
	z.raw.end--
	goto scriptData

scriptDataEscapedEndTagOpen:
	if z.readRawEndTag() || z.err != nil {
		return
	}
	goto scriptDataEscaped

scriptDataDoubleEscapeStart:
	z.raw.end--
	for i := 0; i < len("script"); i++ {
		c = z.readByte()
		if z.err != nil {
			return
		}
		if c != "script"[i] && c != "SCRIPT"[i] {
			z.raw.end--
			goto scriptDataEscaped
		}
	}
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		goto scriptDataDoubleEscaped
	}
	z.raw.end--
	goto scriptDataEscaped

scriptDataDoubleEscaped:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDash:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDashDash:
	c = z.readByte()
	if z.err != nil {
		return
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedLessThanSign:
	c = z.readByte()
	if z.err != nil {
		return
	}
	if c == '/' {
		goto scriptDataDoubleEscapeEnd
	}
	z.raw.end--
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapeEnd:
	if z.readRawEndTag() {
		z.raw.end += len("</script>")
		goto scriptDataEscaped
	}
	if z.err != nil {
		return
	}
	goto scriptDataDoubleEscaped
}

// readComment reads the next comment token starting with "<!--". The opening
// "<!--" has already been consumed.
func (z *tokenizer) readComment() {
	z.data.start = z.raw.end
	defer func() {
		if z.data.end < z.data.start {
			// It's a comment with no data, like <!-->.
			z.data.end = z.data.start
		}
	}()

	var dashCount int
	beginning := true
	for {
		c := z.readByte()
		if z.err != nil {
			z.data.end = z.calculateAbruptCommentDataEnd()
			return
		}
		switch c {
		case '-':
			dashCount++
			continue
		case '>':
			if dashCount >= 2 || beginning {
				z.data.end = z.raw.end - len("-->")
				return
			}
		case '!':
			if dashCount >= 2 {
				c = z.readByte()
				if z.err != nil {
					z.data.end = z.calculateAbruptCommentDataEnd()
					return
				} else if c == '>' {
					z.data.end = z.raw.end - len("--!>")
					return
				} else if c == '-' {
					dashCount = 1
					beginning = false
					continue
				}
			}
		}
		dashCount = 0
		beginning = false
	}
}

func (z *tokenizer) calculateAbruptCommentDataEnd() int {
	raw := z.s[z.raw.start:z.raw.end]
	const prefixLen = len("<!--")
	if len(raw) >= prefixLen {
		raw = raw[prefixLen:]
		if strings.HasSuffix(raw, "--!") {
			return z.raw.end - 3
		} else if strings.HasSuffix(raw, "--") {
			return z.raw.end - 2
		} else if strings.HasSuffix(raw, "-") {
			return z.raw.end - 1
		}
	}
	return z.raw.end
}

// readUntilCloseAngle reads until the next ">".
func (z *tokenizer) readUntilCloseAngle() {
	z.data.start = z.raw.end
	if z.skipTo('>') {
		z.data.end = z.raw.end - len(">")
		return
	}
	z.data.end = z.raw.end
}

// readMarkupDeclaration reads the next token starting with "<!". It might be
// a "<!--comment-->", a "<!DOCTYPE foo>", a "<![CDATA[section]]>" or
// "<!a bogus comment". The opening "<!" has already been consumed.
func (z *tokenizer) readMarkupDeclaration() TokenType {
	z.data.start = z.raw.end
	var c [2]byte
	for i := 0; i < 2; i++ {
		c[i] = z.readByte()
		if z.err != nil {
			// bogus comment
			z.data.end = z.raw.end
			if i == 1 && c[0] == '>' {
				z.data.end--
			}
			return CommentToken
		}
	}
	if c[0] == '-' && c[1] == '-' {
		z.readComment()
		return CommentToken
	}
	z.raw.end -= 2
	if z.readDoctype() {
		return DoctypeToken
	}
	if z.allowCDATA && z.readCDATA() {
		z.convertNUL = true
		return TextToken
	}
	// It's a bogus comment.
	z.readUntilCloseAngle()
	return CommentToken
}

// readDoctype attempts to read a doctype declaration and returns true if
// successful. The opening "<!" has already been consumed.
func (z *tokenizer) readDoctype() bool {
	const s = "DOCTYPE"
	for i := 0; i < len(s); i++ {
		c := z.readByte()
		if z.err != nil {
			// Back up to read the fragment of "DOCTYPE" again, reset
			// z.err to signal EOF on the next call
			z.raw.end = z.data.start
			z.err = nil
			return false
		}
		if c != s[i] && c != s[i]+('a'-'A') {
			// Back up to read the fragment of "DOCTYPE" again.
			z.raw.end = z.data.start
			return false
		}
	}
	if z.skipWhiteSpace(); z.err != nil {
		z.data.start = z.raw.end
		z.data.end = z.raw.end
		return true
	}
	z.readUntilCloseAngle()
	return true
}

// readCDATA attempts to read a CDATA section and returns true if
// successful. The opening "<!" has already been consumed.
func (z *tokenizer) readCDATA() bool {
	const s = "[CDATA["
	for i := 0; i < len(s); i++ {
		c := z.readByte()
		if z.err != nil {
			// Back up to read the fragment of "[CDATA[" again, reset
			// z.err to signal EOF on the next call
			z.raw.end = z.data.start
			z.err = nil
			return false
		}
		if c != s[i] {
			// Back up to read the fragment of "[CDATA[" again.
			z.raw.end = z.data.start
			return false
		}
	}
	z.data.start = z.raw.end
	brackets := 0
	for {
		c := z.readByte()
		if z.err != nil {
			z.data.end = z.raw.end
			return true
		}
		switch c {
		case ']':
			brackets++
		case '>':
			if brackets >= 2 {
				z.data.end = z.raw.end - len("]]>")
				return true
			}
			brackets = 0
		default:
			brackets = 0
		}
	}
}

// startTagIn returns the element of ss that the start tag in
// s[z.data.start:z.data.end] case-insensitively matches, or "".
func (z *tokenizer) startTagIn(ss ...string) string {
loop:
	for _, s := range ss {
		if z.data.end-z.data.start != len(s) {
			continue loop
		}
		for i := 0; i < len(s); i++ {
			c := z.s[z.data.start+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[i] {
				continue loop
			}
		}
		return s
	}
	return ""
}

// readStartTag reads the next start tag token. The opening "<a" has already
// been consumed, where 'a' means anything in [A-Za-z].
func (z *tokenizer) readStartTag() TokenType {
	z.readTag(true)
	if z.err != nil {
		return ErrorToken
	}
	// Several tags flag the tokenizer's next token as raw.
	c, raw := z.s[z.data.start], ""
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	switch c {
	case 'i':
		raw = z.startTagIn("iframe")
	case 'n':
		raw = z.startTagIn("noembed", "noframes", "noscript")
	case 'p':
		raw = z.startTagIn("plaintext")
	case 's':
		raw = z.startTagIn("script", "style")
	case 't':
		raw = z.startTagIn("textarea", "title")
	case 'x':
		raw = z.startTagIn("xmp")
	}
	if raw != "" {
		z.rawTag = raw
	}
	// Look for a self-closing token (e.g. <br/>): the last non-bracket
	// character is a solidus that is not the end of an unquoted value
	// (<p a=/>).
	nAttrs := len(z.attr)
	if z.err == nil && z.s[z.raw.end-2] == '/' && (nAttrs == 0 || z.raw.end-2 != z.attr[nAttrs-1][1].end-1) {
		return SelfClosingTagToken
	}
	return StartTagToken
}

// manyAttrs is the attribute count from which readTag finds duplicate
// keys with a map instead of comparing pairwise.
const manyAttrs = 16

// readTag reads the next tag token and its attributes. If saveAttr, those
// attributes are saved in z.attr, otherwise z.attr is set to an empty slice.
// The opening "<a" or "</a" has already been consumed, where 'a' means anything
// in [A-Za-z].
func (z *tokenizer) readTag(saveAttr bool) {
	z.attr = z.attr[:0]
	if z.attrNames != nil {
		clear(z.attrNames)
	}
	// Read the tag name and attribute key/value pairs.
	z.readTagName()
	if z.skipWhiteSpace(); z.err != nil {
		return
	}
	for {
		c := z.readByte()
		if z.err != nil || c == '>' {
			break
		}
		z.raw.end--
		z.readTagAttrKey()
		z.readTagAttrVal()
		// Save pendingAttr if saveAttr and that attribute has a non-empty
		// key, and the key (ASCII lower-cased) hasn't been seen before.
		if saveAttr && z.pendingAttr[0].start != z.pendingAttr[0].end && !z.seenAttr() {
			z.attr = append(z.attr, z.pendingAttr)
		}
		if z.skipWhiteSpace(); z.err != nil {
			break
		}
	}
}

// seenAttr reports whether the pending attribute's key is one of z.attr's,
// comparing with only ASCII letters folded (upstream lower-cases A-Z and
// looks the key up in a map).
func (z *tokenizer) seenAttr() bool {
	key := z.s[z.pendingAttr[0].start:z.pendingAttr[0].end]
	if len(z.attr) < manyAttrs {
		for _, at := range z.attr {
			if equalLowerASCII(z.s[at[0].start:at[0].end], key) {
				return true
			}
		}
		return false
	}
	if z.attrNames == nil {
		z.attrNames = map[string]bool{}
	}
	if len(z.attrNames) == 0 {
		for _, at := range z.attr {
			z.attrNames[lowerString(z.s[at[0].start:at[0].end])] = true
		}
	}
	k := lowerString(key)
	if z.attrNames[k] {
		return true
	}
	z.attrNames[k] = true
	return false
}

// equalLowerASCII reports whether a and b are equal once A-Z are
// lower-cased (and nothing else: no Unicode folding).
func equalLowerASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// lowerString lower-cases A-Z in s, returning s itself when there are none.
func lowerString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return string(lower([]byte(s)))
		}
	}
	return s
}

// readTagName sets z.data to the "div" in "<div k=v>". The reader (z.raw.end)
// is positioned such that the first byte of the tag name (the "d" in "<div")
// has already been consumed.
func (z *tokenizer) readTagName() {
	z.data.start = z.raw.end - 1
	for i := z.raw.end; i < len(z.s); i++ {
		switch z.s[i] {
		case ' ', '\n', '\r', '\t', '\f':
			z.raw.end = i + 1
			z.data.end = i
			return
		case '/', '>':
			z.raw.end = i
			z.data.end = i
			return
		}
	}
	z.raw.end = len(z.s)
	z.err = io.EOF
	z.data.end = z.raw.end
}

// readTagAttrKey sets z.pendingAttr[0] to the "k" in "<div k=v>".
// Precondition: z.err == nil.
func (z *tokenizer) readTagAttrKey() {
	start := z.raw.end
	z.pendingAttr[0].start = start
	for i := start; i < len(z.s); i++ {
		switch z.s[i] {
		case '=':
			if i == start {
				// WHATWG 13.2.5.32, if we see an equals sign before the attribute name
				// begins, we treat it as a character in the attribute name and continue.
				continue
			}
			fallthrough
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			// WHATWG 13.2.5.33 Attribute name state
			// We need to reconsume the char in the after attribute name state to support the / character
			z.raw.end = i
			z.pendingAttr[0].end = i
			return
		}
	}
	z.raw.end = len(z.s)
	z.err = io.EOF
	z.pendingAttr[0].end = z.raw.end
}

// readTagAttrVal sets z.pendingAttr[1] to the "v" in "<div k=v>".
func (z *tokenizer) readTagAttrVal() {
	z.pendingAttr[1].start = z.raw.end
	z.pendingAttr[1].end = z.raw.end
	if z.skipWhiteSpace(); z.err != nil {
		return
	}
	c := z.readByte()
	if z.err != nil {
		return
	}
	if c == '/' {
		// WHATWG 13.2.5.34 After attribute name state
		// U+002F SOLIDUS (/) - Switch to the self-closing start tag state.
		return
	}
	if c != '=' {
		z.raw.end--
		return
	}
	if z.skipWhiteSpace(); z.err != nil {
		return
	}
	quote := z.readByte()
	if z.err != nil {
		return
	}
	switch quote {
	case '>':
		z.raw.end--
		return

	case '\'', '"':
		z.pendingAttr[1].start = z.raw.end
		if z.skipTo(quote) {
			z.pendingAttr[1].end = z.raw.end - 1
			return
		}
		z.pendingAttr[1].end = z.raw.end

	default:
		z.pendingAttr[1].start = z.raw.end - 1
		for {
			c := z.readByte()
			if z.err != nil {
				z.pendingAttr[1].end = z.raw.end
				return
			}
			switch c {
			case ' ', '\n', '\r', '\t', '\f':
				z.pendingAttr[1].end = z.raw.end - 1
				return
			case '>':
				z.raw.end--
				z.pendingAttr[1].end = z.raw.end
				return
			}
		}
	}
}

// Next scans the next token and returns its type.
func (z *tokenizer) Next() TokenType {
	z.raw.start = z.raw.end
	z.data.start = z.raw.end
	z.data.end = z.raw.end
	if z.err != nil {
		z.tt = ErrorToken
		return z.tt
	}
	if z.rawTag != "" {
		if z.rawTag == "plaintext" {
			// Read everything up to EOF.
			z.raw.end = len(z.s)
			z.err = io.EOF
			z.data.end = z.raw.end
			z.textIsRaw = true
		} else {
			z.readRawOrRCDATA()
		}
		if z.data.end > z.data.start {
			z.tt = TextToken
			z.convertNUL = true
			return z.tt
		}
	}
	z.textIsRaw = false
	z.convertNUL = false

loop:
	for {
		if !z.skipTo('<') {
			break loop
		}

		// Check if the '<' we have just read is part of a tag, comment
		// or doctype. If not, it's part of the accumulated text token.
		c := z.readByte()
		if z.err != nil {
			break loop
		}
		var tokenType TokenType
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			tokenType = StartTagToken
		case c == '/':
			tokenType = EndTagToken
		case c == '!' || c == '?':
			// We use CommentToken to mean any of "<!--actual comments-->",
			// "<!DOCTYPE declarations>" and "<?xml processing instructions?>".
			tokenType = CommentToken
		default:
			// Reconsume the current character.
			z.raw.end--
			continue
		}

		// We have a non-text token, but we might have accumulated some text
		// before that. If so, we return the text first, and return the non-
		// text token on the subsequent call to Next.
		if x := z.raw.end - len("<a"); z.raw.start < x {
			z.raw.end = x
			z.data.end = x
			z.tt = TextToken
			return z.tt
		}
		switch tokenType {
		case StartTagToken:
			z.tt = z.readStartTag()
			return z.tt
		case EndTagToken:
			c = z.readByte()
			if z.err != nil {
				break loop
			}
			if c == '>' {
				// "</>" does not generate a token at all. Generate an empty comment
				// to allow passthrough clients to pick up the data using Raw.
				// Reset the tokenizer state and start again.
				z.tt = CommentToken
				return z.tt
			}
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				z.readTag(false)
				if z.err != nil {
					z.tt = ErrorToken
				} else {
					z.tt = EndTagToken
				}
				return z.tt
			}
			z.raw.end--
			z.readUntilCloseAngle()
			z.tt = CommentToken
			return z.tt
		case CommentToken:
			if c == '!' {
				z.tt = z.readMarkupDeclaration()
				return z.tt
			}
			z.raw.end--
			z.readUntilCloseAngle()
			z.tt = CommentToken
			return z.tt
		}
	}
	if z.raw.start < z.raw.end {
		z.data.end = z.raw.end
		z.tt = TextToken
		return z.tt
	}
	z.tt = ErrorToken
	return z.tt
}

// convertNewlines converts "\r" and "\r\n" in s to "\n".
// The conversion happens in place, but the resulting slice may be shorter.
func convertNewlines(s []byte) []byte {
	for i, c := range s {
		if c != '\r' {
			continue
		}

		src := i + 1
		if src >= len(s) || s[src] != '\n' {
			s[i] = '\n'
			continue
		}

		dst := i
		for src < len(s) {
			if s[src] == '\r' {
				if src+1 < len(s) && s[src+1] == '\n' {
					src++
				}
				s[dst] = '\n'
			} else {
				s[dst] = s[src]
			}
			src++
			dst++
		}
		return s[:dst]
	}
	return s
}

var (
	nul         = []byte("\x00")
	replacement = []byte("\ufffd")
)

// Conversions convert applies to a token string.
const (
	convNUL = 1 << iota
	convNewlines
	convUnescape
	convUnescapeAttr
	convLower
)

// convert returns s after upstream's in-place edits of a token's bytes, in
// upstream's order (NUL replacement, newlines, unescaping, lower-casing).
// When none of them would change s, s itself is returned: a substring of
// the input, no allocation.
func (z *tokenizer) convert(s string, conv int) string {
	if len(s) < 64 {
		// Short strings (most attribute values and texts between tags):
		// one pass over a table beats three IndexByte calls.
		for i := 0; i < len(s); i++ {
			if convBytes[s[i]]&conv != 0 {
				return string(z.convertBytes(s, conv))
			}
		}
		return s
	}
	need := false
	if conv&convNUL != 0 && strings.IndexByte(s, 0) >= 0 {
		need = true
	} else if conv&convNewlines != 0 && strings.IndexByte(s, '\r') >= 0 {
		need = true
	} else if conv&(convUnescape|convUnescapeAttr) != 0 && strings.IndexByte(s, '&') >= 0 {
		need = true
	} else if conv&convLower != 0 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; 'A' <= c && c <= 'Z' {
				need = true
				break
			}
		}
	}
	if !need {
		return s
	}
	return string(z.convertBytes(s, conv))
}

// convBytes[c] holds the conversions byte c triggers.
var convBytes = func() (t [256]int) {
	t[0] = convNUL
	t['\r'] = convNewlines
	t['&'] = convUnescape | convUnescapeAttr
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = convLower
	}
	return t
}()

// convertBytes is convert's slow path; the result is in z.scratch and valid
// until the next call.
func (z *tokenizer) convertBytes(s string, conv int) []byte {
	b := append(z.scratch[:0], s...)
	if conv&convNUL != 0 && bytes.IndexByte(b, 0) >= 0 {
		b = bytes.ReplaceAll(b, nul, replacement)
	}
	if conv&convNewlines != 0 {
		b = convertNewlines(b)
	}
	if conv&convUnescape != 0 {
		b = unescape(b, false)
	} else if conv&convUnescapeAttr != 0 {
		b = unescape(b, true)
	}
	if conv&convLower != 0 {
		b = lower(b)
	}
	if cap(b) > cap(z.scratch) {
		z.scratch = b[:0]
	}
	return b
}

// name returns a tag or attribute name: lower-cased, NUL replaced, the
// atom's own string when it is a known one, else a substring of the input
// when that is already the name.
func (z *tokenizer) name(s string) (atom.Atom, string) {
	var buf [64]byte
	var b []byte
	if len(s) <= len(buf) {
		// Short names are lower-cased on the stack in one pass; only an
		// unknown name that differs from its source text is then
		// allocated.
		b = buf[:len(s)]
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == 0 {
				b = nil
				break
			}
			b[i] = c
		}
	}
	if b == nil {
		b = z.convertBytes(s, convNUL|convLower)
	}
	if at := atom.Lookup(b); at != 0 {
		return at, at.String()
	}
	if string(b) == s {
		return 0, s
	}
	return 0, string(b)
}

// Token stores the current token in t (in place: a whole-struct copy into
// the parser would run the GC write barrier on every word). Its strings
// are substrings of the input or fresh ones; its Attr slice comes from the
// attribute chunk.
func (z *tokenizer) Token(t *Token) {
	var (
		at   atom.Atom
		data string
		attr []Attribute
	)
	switch z.tt {
	case TextToken, CommentToken, DoctypeToken:
		conv := convNewlines
		if z.convertNUL || z.tt == CommentToken {
			conv |= convNUL
		}
		if !z.textIsRaw {
			conv |= convUnescape
		}
		data = z.convert(z.s[z.data.start:z.data.end], conv)
	case StartTagToken, SelfClosingTagToken, EndTagToken:
		if z.data.start < z.data.end {
			at, data = z.name(z.s[z.data.start:z.data.end])
			if z.tt != EndTagToken && len(z.attr) > 0 {
				attr = z.attrs(len(z.attr))
				for i, x := range z.attr {
					a := &attr[i]
					_, a.Key = z.name(z.s[x[0].start:x[0].end])
					a.Val = z.convert(z.s[x[1].start:x[1].end], convNUL|convNewlines|convUnescapeAttr)
				}
			}
		}
	}
	t.Type, t.DataAtom, t.Data = z.tt, at, data
	if attr != nil || t.Attr != nil {
		t.Attr = attr
	}
	z.data.start, z.data.end = z.raw.end, z.raw.end
}
