//go:build race

package web_test

// raceEnabled: the race detector slows regular expressions tenfold and more,
// so tests that bound a filter's wall-clock effect skip under it.
const raceEnabled = true
