package marks

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStorePersistsBoundedAndMatches(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "marks.jsonl")
	s, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	m, err := s.Add(Mark{Text: "deploy v1", Group: "web", Hosts: []string{"web-01", "web-02"}, Files: []string{"/srv/app/log/*.log"}}, t0)
	if err != nil || m.ID == "" || m.TS != t0.UnixMilli() {
		t.Fatalf("add: %+v %v", m, err)
	}
	if !m.Applies("web-01", "/srv/app/log/app.log") || m.Applies("web-03", "/srv/app/log/app.log") || m.Applies("web-01", "/var/log/syslog") {
		t.Fatal("Applies wrong")
	}
	for i := range MaxKept + 5 {
		if _, err := s.Add(Mark{Text: fmt.Sprint(i), Hosts: []string{"h"}}, t0.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	all := s2.List(nil)
	if len(all) != MaxKept || all[len(all)-1].Text != fmt.Sprint(MaxKept+4) {
		t.Fatalf("after reload: %d marks, last %+v", len(all), all[len(all)-1])
	}
	if _, ok := s2.Get(m.ID); ok {
		t.Fatal("the oldest mark was not dropped")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("marks file: %v %v", fi, err)
	}
}
