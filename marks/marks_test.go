package marks

import (
	"errors"
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

func TestShareAndInsert(t *testing.T) {
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	var kept []Mark
	s.Share(func(m Mark) error { kept = append(kept, m); return nil })
	m, err := s.Add(Mark{Text: "deploy 1", Hosts: []string{"a"}}, time.UnixMilli(2000))
	if err != nil || len(kept) != 1 || kept[0].ID != m.ID {
		t.Fatalf("Add with Share: %v, kept %+v", err, kept)
	}
	// The same mark coming back from the shared bucket is not new.
	if s.Insert(m) {
		t.Error("Insert of a held mark reported new")
	}
	// An older mark made elsewhere goes in time order.
	if !s.Insert(Mark{ID: "x", TS: 1000, Text: "deploy 0", Hosts: []string{"a"}}) {
		t.Error("Insert of a new mark reported held")
	}
	got := s.List(nil)
	if len(got) != 2 || got[0].ID != "x" || got[1].ID != m.ID {
		t.Errorf("List = %+v", got)
	}
	s.Share(func(Mark) error { return errors.New("NATS down") })
	if _, err := s.Add(Mark{Text: "deploy 2", Hosts: []string{"a"}}, time.UnixMilli(3000)); err == nil || len(s.List(nil)) != 2 {
		t.Errorf("Add with a failing Share: %v, %d marks", err, len(s.List(nil)))
	}
}
