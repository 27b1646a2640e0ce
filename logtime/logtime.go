// Package logtime finds the time a log line carries: the one timestamp
// parser shared by merged views (ordering lines of several hosts), history
// (jumping to a time) and anything else that needs a line's own time.
//
// It recognises, at the start of a line (after an optional syslog priority
// "<34>" or RFC 5424 version):
//   - RFC 3339 / ISO 8601: 2026-11-28T08:00:00Z, 2026-11-28 08:00:00.123+01:00,
//     2026-11-28T08:00:00,123 (no zone: UTC is assumed), also in [brackets];
//   - BSD syslog: "Nov 28 08:00:00" (no year: the receipt's, see bsd), also
//     with fractional seconds;
//
// and, anywhere in the first 128 bytes, the common/combined log format's
// [28/Nov/2026:08:00:00 +0000] (nginx, Apache).
package logtime

import (
	"strings"
	"time"
)

// scanLimit bounds how far into a line the bracketed format is looked for.
const scanLimit = 128

// Parse returns the time line carries, in Unix milliseconds. receipt is when
// the line was read (syslog's missing year is taken from it).
func Parse(line string, receipt time.Time) (int64, bool) {
	s := line
	// syslog priority "<34>" and RFC 5424's version "1 ".
	if len(s) > 2 && s[0] == '<' {
		if i := strings.IndexByte(s[:min(len(s), 6)], '>'); i > 0 {
			s = s[i+1:]
			if len(s) > 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' ' {
				s = s[2:]
			}
		}
	}
	s = strings.TrimLeft(s, "[ ")
	if t, ok := iso(s); ok {
		return t.UnixMilli(), true
	}
	if t, ok := bsd(s, receipt); ok {
		return t.UnixMilli(), true
	}
	if t, ok := clf(line[:min(len(line), scanLimit)]); ok {
		return t.UnixMilli(), true
	}
	return 0, false
}

func digits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// iso reads YYYY-MM-DD[T ]hh:mm:ss[.,frac][Z|±hh:mm|±hhmm].
func iso(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := digits(s, 4)
	mo, ok2 := digits(s[5:], 2)
	d, ok3 := digits(s[8:], 2)
	h, ok4 := digits(s[11:], 2)
	mi, ok5 := digits(s[14:], 2)
	se, ok6 := digits(s[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	nanos := 0
	if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
		i, scale := 1, 100_000_000
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nanos += int(rest[i]-'0') * scale
			scale /= 10
		}
		rest = rest[i:]
	}
	loc := time.UTC
	if len(rest) > 1 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-') {
		rest = rest[1:] // "08:00:00 -0500"
	}
	switch {
	case len(rest) > 0 && rest[0] == 'Z':
	case len(rest) >= 5 && (rest[0] == '+' || rest[0] == '-'):
		oh, ok1 := digits(rest[1:], 2)
		j := 3
		if rest[3] == ':' {
			j = 4
		}
		om, ok2 := digits(rest[j:], 2)
		if ok1 && ok2 {
			off := oh*3600 + om*60
			if rest[0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, nanos, loc), true
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// bsd reads "Mmm dd hh:mm:ss[.frac]" (dd may be space-padded).
func bsd(s string, receipt time.Time) (time.Time, bool) {
	if len(s) < 15 || s[3] != ' ' {
		return time.Time{}, false
	}
	mo, ok := months[s[:3]]
	if !ok {
		return time.Time{}, false
	}
	ds := s[4:6]
	if ds[0] == ' ' {
		ds = "0" + ds[1:]
	}
	d, ok1 := digits(ds, 2)
	if s[6] != ' ' || s[9] != ':' || s[12] != ':' {
		return time.Time{}, false
	}
	h, ok2 := digits(s[7:], 2)
	mi, ok3 := digits(s[10:], 2)
	se, ok4 := digits(s[13:], 2)
	if !(ok1 && ok2 && ok3 && ok4) || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 {
		return time.Time{}, false
	}
	nanos := 0
	if rest := s[15:]; len(rest) > 1 && rest[0] == '.' {
		scale := 100_000_000
		for i := 1; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nanos += int(rest[i]-'0') * scale
			scale /= 10
		}
	}
	// No year: the receipt's, unless that puts the line more than a day in
	// the future (a December line read in January) or about a year in the
	// past (a January line read on 31 December by a host whose clock is
	// ahead).
	r := receipt.UTC()
	t := time.Date(r.Year(), mo, d, h, mi, se, nanos, time.UTC)
	switch {
	case t.After(r.Add(24 * time.Hour)):
		t = t.AddDate(-1, 0, 0)
	case t.Before(r.AddDate(0, -11, 0)):
		t = t.AddDate(1, 0, 0)
	}
	return t, true
}

// clf finds [dd/Mmm/yyyy:hh:mm:ss ±zzzz].
func clf(s string) (time.Time, bool) {
	for i := strings.IndexByte(s, '['); i >= 0 && i+27 <= len(s); {
		t := s[i+1:]
		if t[2] == '/' && t[6] == '/' && t[11] == ':' && t[14] == ':' && t[17] == ':' && t[20] == ' ' {
			d, ok1 := digits(t, 2)
			mo, ok2 := months[t[3:6]]
			y, ok3 := digits(t[7:], 4)
			h, ok4 := digits(t[12:], 2)
			mi, ok5 := digits(t[15:], 2)
			se, ok6 := digits(t[18:], 2)
			oh, ok7 := digits(t[22:], 2)
			om, ok8 := digits(t[24:], 2)
			if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && (t[21] == '+' || t[21] == '-') {
				off := oh*3600 + om*60
				if t[21] == '-' {
					off = -off
				}
				return time.Date(y, mo, d, h, mi, se, 0, time.FixedZone("", off)), true
			}
		}
		j := strings.IndexByte(s[i+1:], '[')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return time.Time{}, false
}
