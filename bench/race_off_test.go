//go:build !race

package bench

// raceDetector: the race detector changes allocation counts.
const raceDetector = false
