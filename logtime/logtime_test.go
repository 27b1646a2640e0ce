package logtime

import (
	"testing"
	"time"
)

func TestParseRealSamples(t *testing.T) {
	receipt := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	ms := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	for _, tt := range []struct {
		line string
		want int64 // 0: no time
	}{
		{`2026-11-28T08:00:00Z INFO started`, ms("2026-11-28T08:00:00Z")},
		{`2026-11-28T08:00:00.123456+01:00 level=info msg="x"`, ms("2026-11-28T07:00:00.123Z")},
		{`2026-11-28 08:00:00,123 ERROR [main] c.e.App - boom`, ms("2026-11-28T08:00:00.123Z")}, // log4j/logback
		{`2026-11-28 08:00:00.5 -0500 something`, ms("2026-11-28T13:00:00.5Z")},
		{`[2026-11-28T08:00:00Z] app.ERROR: x`, ms("2026-11-28T08:00:00Z")}, // monolog
		{`Nov 28 08:00:01 web-1 sshd[123]: Accepted publickey`, ms("2026-11-28T08:00:01Z")},
		{`Nov  3 08:00:01 web-1 kernel: x`, ms("2026-11-03T08:00:01Z")},
		{`Dec 31 23:59:59 host cron[1]: y`, ms("2025-12-31T23:59:59Z")}, // last year, nearest to the receipt
		{`<34>Nov 28 08:00:02 mymachine su: 'su root' failed`, ms("2026-11-28T08:00:02Z")},
		{`<165>1 2026-11-28T08:00:03.003Z mymachine app - ID47 - msg`, ms("2026-11-28T08:00:03.003Z")},
		{`127.0.0.1 - frank [10/Oct/2026:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`, ms("2026-10-10T20:55:36Z")},
		{`10.0.0.1 - - [28/Nov/2026:08:00:00 +0000] "POST /api HTTP/1.1" 502 157 "-" "curl/8.0"`, ms("2026-11-28T08:00:00Z")},
		{`	at com.example.App.main(App.java:10)`, 0},
		{`Traceback (most recent call last):`, 0},
		{`2026-13-01T00:00:00Z month 13`, 0},
		{`Nov 99 08:00:00 bad day`, 0},
		{``, 0},
		{`[`, 0},
		{`<1`, 0},
	} {
		got, ok := Parse(tt.line, receipt)
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("Parse(%q) = %d %v, want %d", tt.line, got, ok, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026-11-28T08:00:00Z x", "Nov 28 08:00:00 h", "a [28/Nov/2026:08:00:00 +0000] b", "<34>1 2026-11-28T08:00:00.1+01:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		Parse(s, time.Unix(1_800_000_000, 0)) // must not panic
	})
}
