//go:build race

package web

// raceDetector: the race detector slows regular expressions tenfold and
// more (see race_on_test.go for the external tests).
const raceDetector = true
