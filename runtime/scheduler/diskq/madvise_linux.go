package diskq

import (
	"os"
	"syscall"
)

// dropPages tells the kernel this process no longer needs the first size
// bytes of bbolt's read-only shared file mapping at addr (MADV_DONTNEED).
// For a shared file mapping this only unmaps the pages from the process:
// their contents stay in the page cache and in the file, and the next read
// faults them back in. It keeps the mapped part of RSS from growing to the
// whole file as a large frontier and dupefilter are read.
//
// The caller must hold bbolt's mmap stable (inside a transaction, with no
// writer running) and size must not exceed the mapping: tx.Size() is the
// high-water mark of allocated pages, which bbolt always keeps mapped.
func dropPages(addr uintptr, size int64) {
	ps := int64(os.Getpagesize())
	n := size / ps * ps
	if n <= 0 || addr%uintptr(ps) != 0 {
		return
	}
	// Plain uintptr arguments: the mapping is not Go memory, so no
	// unsafe.Pointer is involved.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED)
}
