//go:build !linux

package diskq

// dropPages is a no-op where MADV_DONTNEED semantics on shared file
// mappings are not the same as Linux's.
func dropPages(addr uintptr, size int64) {}
