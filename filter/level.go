package filter

import (
	"fmt"
	"regexp"
	"strings"
)

// Levels: what kind of record a line is, as the page tints it (web/ui/render.js
// level() is the same rules in JavaScript; keep the two in step). A level
// filter keeps the lines of the levels it names.
const (
	LevelError = "error" // also fatal, panic, critical; HTTP 5xx; FAIL and ✗ markers
	LevelWarn  = "warn"  // also HTTP 4xx
	LevelInfo  = "info"
	LevelDebug = "debug" // also trace
	LevelOther = "other" // no level found
)

// levelScan is how much of a line's head is looked at for its level.
const levelScan = 240

var (
	levelWords = map[string]string{
		"fatal": LevelError, "panic": LevelError, "emerg": LevelError, "emergency": LevelError, "alert": LevelError,
		"crit": LevelError, "critical": LevelError, "dpanic": LevelError,
		"error": LevelError, "err": LevelError, "eror": LevelError, "severe": LevelError,
		"warn": LevelWarn, "warning": LevelWarn, "wrn": LevelWarn,
		"info": LevelInfo, "inf": LevelInfo, "notice": LevelInfo, "information": LevelInfo,
		"debug": LevelDebug, "dbg": LevelDebug, "debu": LevelDebug, "fine": LevelDebug,
		"trace": LevelDebug, "trc": LevelDebug, "finer": LevelDebug, "finest": LevelDebug, "verbose": LevelDebug,
	}
	reGlog    = regexp.MustCompile(`^([IWEF])\d{4} \d\d:\d\d:\d\d`)
	reKeyed   = regexp.MustCompile(`(?i)\b(?:level|lvl|severity|loglevel)"?\s*[=:]\s*"?([A-Za-z]+)`)
	reBracket = regexp.MustCompile(`(?i)\[(emerg|alert|crit|error|warn|notice|info|debug)\]`)
	reLeading = regexp.MustCompile(`(?i)^\s*(fatal|panic|error|err|warn|warning|info|notice|debug|trace)\b[:\s]`)
	reUpper   = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(FATAL|PANIC|EMERG|ALERT|CRIT(?:ICAL)?|ERROR|ERR|EROR|SEVERE|WARN(?:ING)?|WRN|INFO|INF|NOTICE|DEBUG|DBG|TRACE|TRC)`)
	// An HTTP request line's status: `"GET /x HTTP/1.1" 503` (common log
	// format) or `GET /x 503` (most access logs).
	reStatus = regexp.MustCompile(`\b(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\s+\S+(?:\s+HTTP/[\d.]+"?)?\s+([45]\d\d)\b`)
	reFail   = regexp.MustCompile(`\bFAIL(?:ED|URE)?\b|[✗✘]`)
	reANSI   = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")
)

// Level returns the level of a line's text: one of the Level constants.
func Level(text string) string {
	s := text
	if len(s) > levelScan {
		s = s[:levelScan]
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = reANSI.ReplaceAllString(s, "")
	}
	if m := reGlog.FindStringSubmatch(s); m != nil {
		return map[string]string{"I": LevelInfo, "W": LevelWarn, "E": LevelError, "F": LevelError}[m[1]]
	}
	for _, re := range []*regexp.Regexp{reKeyed, reBracket, reLeading} {
		if m := re.FindStringSubmatch(s); m != nil {
			if l, ok := levelWords[strings.ToLower(m[1])]; ok {
				return l
			}
			break
		}
	}
	for _, m := range reUpper.FindAllStringSubmatchIndex(s, -1) {
		if end := m[3]; end < len(s) && isWord(s[end]) {
			continue // ERRORS, INFORMATION…: not a level word
		}
		return levelWords[strings.ToLower(s[m[2]:m[3]])]
	}
	if m := reStatus.FindStringSubmatch(s); m != nil {
		if m[1][0] == '5' {
			return LevelError
		}
		return LevelWarn
	}
	if reFail.MatchString(s) {
		return LevelError
	}
	return LevelOther
}

func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// parseLevels reads a level filter: comma-separated level names ("" : every
// level). It returns them as a set.
func parseLevels(s string) (map[string]bool, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 64 {
		return nil, fmt.Errorf("level filter %.20q… is too long", s)
	}
	set := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		switch name {
		case LevelError, LevelWarn, LevelInfo, LevelDebug, LevelOther:
			set[name] = true
		default:
			return nil, fmt.Errorf("unknown level %.20q: want error, warn, info, debug or other (comma-separated)", name)
		}
	}
	return set, nil
}
