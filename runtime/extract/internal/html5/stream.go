package html5

import (
	"errors"
	"slices"
)

// StreamOptions configure Stream.
type StreamOptions struct {
	// Keep is asked once about every element, after the token that
	// created it (its name, namespace and attributes are final then; Keep
	// may normalize them). A kept element keeps its whole subtree until
	// it closes and is handed to Closed.
	Keep func(n *Node) bool
	// Closed receives each kept element once it is complete: when it has
	// left the stack of open elements, or at the end of the document for
	// those still open. seq numbers kept elements in creation order, which
	// is document order (the HTML5 algorithms that move nodes around can
	// make the two differ on broken markup). n and its subtree are the
	// parser's: read them, do not keep them. Returning false stops the
	// parse.
	Closed func(n *Node, seq int) bool
}

// errStreamStopped ends a parse whose Closed asked to stop.
var errStreamStopped = errors.New("html5: stream stopped")

// streamState is the bookkeeping of Stream: which nodes the last token
// created, the stack as it was before it, and the kept elements not yet
// handed over.
type streamState struct {
	opts    StreamOptions
	created []*Node
	prev    []*Node
	// closed holds the closed nodes not yet complete (see step); done
	// and report are scratch space.
	closed  []*Node
	done    []*Node
	report  []keptNode
	holding []*Node
	// kept are the kept elements not yet handed over (open, or closed
	// around an open element): few at any time, so a slice.
	kept []keptNode
	seq  int
}

type keptNode struct {
	n   *Node
	seq int
}

// keptIndex is the index of n in s.kept, or -1.
func (s *streamState) keptIndex(n *Node) int {
	for i := range s.kept {
		if s.kept[i].n == n {
			return i
		}
	}
	return -1
}

// Stream runs the HTML5 tree builder over text like Parse, but without
// keeping the tree: every node that is complete (closed, and no longer
// inside a kept element that is still open) is detached from the tree
// after the token that completed it, so memory holds the open elements,
// the kept ones and what the parser itself points to (the active
// formatting elements, the head and form pointers), not the page. The
// kept elements are the same nodes, with the same subtrees, that Parse
// would build: the tree construction is Parse's own, and a node is only
// released once the algorithm can no longer move or change it.
//
// It fails like Parse (the 512-element depth limit).
func Stream(text string, so StreamOptions, opts ...ParseOption) error {
	p := &parser{
		tokenizer:  newTokenizer(text, ""),
		scripting:  true,
		framesetOK: true,
		im:         initialIM,
		// Small node chunks: a chunk lives as long as any of its nodes,
		// and here most nodes die young.
		chunk:  64,
		stream: &streamState{opts: so},
	}
	p.doc = p.newNode(Node{Type: DocumentNode})
	for _, f := range opts {
		f(p)
	}
	if err := p.parse(); err != nil {
		if err == errStreamStopped {
			return nil
		}
		return err
	}
	// At the end of the document, elements still open are complete too.
	s := p.stream
	slices.SortFunc(s.kept, func(a, b keptNode) int { return a.seq - b.seq })
	for _, k := range s.kept {
		if !so.Closed(k.n, k.seq) {
			break
		}
	}
	return nil
}

// step runs after each token: it finds the nodes the token completed,
// hands the kept ones to Closed and detaches the ones nothing needs. It
// returns false when Closed asked to stop.
//
// A node is complete when it is closed and no open element is inside it:
// the tree builder only ever inserts into open elements, or next to an
// open table (foster parenting), so such a node can no longer change. A
// closed node that still holds an open element (an <a> closed by the
// adoption agency around a <table> being built) waits until it does not.
func (s *streamState) step(p *parser) bool {
	cur := p.oe
	// Elements that left the stack. Below the first difference the two
	// stacks are the same nodes; a node is on the stack at most once.
	k := 0
	for k < len(s.prev) && k < len(cur) && s.prev[k] == cur[k] {
		k++
	}
	for _, n := range s.prev[k:] {
		if !slices.Contains(cur[k:], n) {
			s.closed = append(s.closed, n)
		}
	}
	// Nodes the token created: text, comments, and elements already
	// closed (void elements) are complete.
	for _, n := range s.created {
		switch n.Type {
		case DocumentNode:
			continue
		case ElementNode:
			if s.opts.Keep(n) {
				s.kept = append(s.kept, keptNode{n, s.seq})
				s.seq++
			}
			if slices.Contains(cur[k:], n) {
				continue
			}
		}
		s.closed = append(s.closed, n)
	}
	s.created = s.created[:0]
	s.prev = append(s.prev[:k], cur[k:]...)
	if len(s.closed) == 0 {
		return true
	}
	// Set aside the closed nodes that still hold an open element. The
	// stack is usually one chain (each element the child of the one below
	// it, the first a child of the document); only where it is not can a
	// node off the stack be an ancestor of an element on it.
	s.holding = s.holding[:0]
	for i, n := range cur {
		below := p.doc
		if i > 0 {
			below = cur[i-1]
		}
		if n.Parent == below {
			continue
		}
		for a := n.Parent; a != nil && a != p.doc && !slices.Contains(cur, a); a = a.Parent {
			s.holding = append(s.holding, a)
		}
	}
	var done []*Node
	if len(s.holding) == 0 {
		done, s.closed, s.done = s.closed, s.done[:0], s.closed
	} else {
		done = s.done[:0]
		waiting := s.closed[:0]
		for _, n := range s.closed {
			if slices.Contains(s.holding, n) {
				waiting = append(waiting, n)
			} else {
				done = append(done, n)
			}
		}
		s.closed, s.done = waiting, done
	}
	if len(done) == 0 {
		return true
	}
	// Hand over the kept elements that are complete (all of them before
	// any detaching: one may be inside another), in creation order.
	if len(s.kept) > 0 {
		s.report = s.report[:0]
		for _, n := range done {
			if i := s.keptIndex(n); i >= 0 {
				s.report = append(s.report, s.kept[i])
				s.kept = slices.Delete(s.kept, i, i+1)
			}
		}
		slices.SortFunc(s.report, func(a, b keptNode) int { return a.seq - b.seq })
		for _, k := range s.report {
			p.flushText(k.n)
			if !s.opts.Closed(k.n, k.seq) {
				return false
			}
		}
	}
	for _, n := range done {
		if n.Parent != nil && !s.insideKept(n) {
			n.Parent.RemoveChild(n)
			p.forgetText(n)
		}
	}
	return true
}

// insideKept reports whether an ancestor of n is a kept element still
// open (whose text and subtree must stay whole).
func (s *streamState) insideKept(n *Node) bool {
	if len(s.kept) == 0 {
		return false
	}
	for a := n.Parent; a != nil; a = a.Parent {
		if s.keptIndex(a) >= 0 {
			return true
		}
	}
	return false
}

// flushText gives the text nodes under n their final Data (text tokens
// coalesced into one node are buffered until the end of a Parse).
func (p *parser) flushText(n *Node) {
	if len(p.textNodes) == 0 {
		return
	}
	var walk func(*Node)
	walk = func(n *Node) {
		if n.Type == TextNode {
			if b, ok := p.textNodes[n]; ok {
				n.Data = string(b)
				delete(p.textNodes, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
}

// forgetText drops the text buffers of a detached subtree.
func (p *parser) forgetText(n *Node) {
	if len(p.textNodes) == 0 {
		return
	}
	var walk func(*Node)
	walk = func(n *Node) {
		if n.Type == TextNode {
			delete(p.textNodes, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
}
