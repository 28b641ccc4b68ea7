//go:build race

package downloader

// raceDetector: under the race detector sync.Pool drops a quarter of what
// is put back, so pooled pieces are allocated again.
const raceDetector = true
