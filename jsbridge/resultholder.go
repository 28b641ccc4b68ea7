package jsbridge

import "github.com/dop251/goja"

// resultHolderNatives gives the prelude's ResultHolder (a JS class) its two
// hooks into Go: holderWait records where get_result is waiting, so that
// Stalled can name the call site; holderSet forgets it once the result is set.
func (s *Spider) resultHolderNatives(natives *goja.Object) {
	_ = natives.Set("holderWait", func(h *goja.Object) {
		site := s.callerPos()
		if site == "" {
			site = "an unknown position"
		}
		s.mu.Lock()
		s.waiting[h] = site
		s.mu.Unlock()
	})
	_ = natives.Set("holderSet", func(h *goja.Object) {
		s.mu.Lock()
		delete(s.waiting, h)
		s.mu.Unlock()
	})
}
