//go:build !race

package downloader

const raceDetector = false
