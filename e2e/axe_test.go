package e2e

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/logviewer/logviewer/sources/sourcetest"
)

// axeViolation is one rule axe-core found broken, with the nodes that break it.
type axeViolation struct {
	ID     string
	Impact string
	Help   string
	Nodes  []string
}

// runAxe injects axe-core (vendored in testdata, so the test needs nothing
// installed) into the page and runs it over the whole document.
func runAxe(t *testing.T, p *Page) []axeViolation {
	t.Helper()
	src, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	eval[bool](p, string(src)+";\ntrue")
	return eval[[]axeViolation](p, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
		ID: v.id, Impact: v.impact || '', Help: v.help,
		Nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\n').slice(1).join(' ')),
	})))`)
}

// TestAxeNoSeriousViolations (issue 14, axe-core): the page with a log
// open, its level chips, history bar and a filter, in light and dark
// themes, at desktop (1440×900) and phone (390×844) sizes: axe-core reports
// no serious or critical violation.
func TestAxeNoSeriousViolations(t *testing.T) {
	s := startServer(t, serverOpts{replay: 100})
	app := s.path("local", "api.log")
	sourcetest.Append(t, app, sampleLog())
	for _, size := range []struct {
		name string
		w, h int
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		for _, theme := range []string{"light", "dark"} {
			t.Run(size.name+"-"+theme, func(t *testing.T) {
				p := newPage(t, size.w, size.h)
				p.open(s.URL(url.Values{"host": {"local"}, "file": {app}, "q": {"order"}}.Encode()))
				p.waitFor(`document.querySelectorAll('#lines mark').length > 3`, "the filtered log")
				if eval[string](p, `document.documentElement.dataset.theme`) != theme {
					p.click("#theme")
					p.waitFor(fmt.Sprintf(`document.documentElement.dataset.theme === %q`, theme), "the theme")
				}
				all := runAxe(t, p)
				var bad []string
				for _, v := range all {
					if v.Impact == "serious" || v.Impact == "critical" {
						bad = append(bad, fmt.Sprintf("%s (%s): %s\n    %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    ")))
					}
				}
				t.Logf("%s %s: %d violations, %d serious or critical", size.name, theme, len(all), len(bad))
				for _, v := range all {
					if v.Impact != "serious" && v.Impact != "critical" {
						t.Logf("  %s (%s): %s", v.ID, v.Impact, v.Help)
					}
				}
				if len(bad) > 0 {
					t.Errorf("axe-core found serious or critical violations:\n%s", strings.Join(bad, "\n"))
				}
			})
		}
	}
}

// TestAxeStates: the same check over the page's other states: a stack
// trace folded and unfolded, the time column, a local mark, context, level
// chips pressed, the help dialog, and the offline banner after the server
// died. Light and dark, desktop and phone.
func TestAxeStates(t *testing.T) {
	for _, c := range []struct {
		name  string
		w, h  int
		theme string
	}{{"desktop-dark", 1440, 900, "dark"}, {"phone-light", 390, 844, "light"}} {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, serverOpts{replay: 100})
			app := s.path("local", "app.log")
			sourcetest.Append(t, app, sampleLog()+javaEvents())
			p := newPage(t, c.w, c.h)
			p.open(s.URL(url.Values{"host": {"local"}, "file": {app}, "q": {"ERROR"}, "context": {"2"}, "level": {"error"}}.Encode()))
			p.waitFor(`document.querySelector('#lines .ev') !== null`, "a folded event")
			if eval[string](p, `document.documentElement.dataset.theme`) != c.theme {
				p.click("#theme")
			}
			p.key("t")
			p.key("m")
			p.waitFor(`document.querySelector('#lines .ln.local') !== null && document.querySelector('#lines .tm') !== null`, "time column and mark")
			eval[bool](p, `(document.querySelector('#lines .ev').click(), true)`)
			check := func(state string) {
				t.Helper()
				var bad []string
				for _, v := range runAxe(t, p) {
					if v.Impact == "serious" || v.Impact == "critical" {
						bad = append(bad, fmt.Sprintf("%s (%s): %s\n    %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    ")))
					}
				}
				if len(bad) > 0 {
					t.Errorf("%s: axe-core found serious or critical violations:\n%s", state, strings.Join(bad, "\n"))
				}
			}
			check("events, time, mark, context, level")
			p.key("?")
			p.waitFor(`document.getElementById('help').open`, "the help dialog")
			check("help dialog")
			p.click("#help .close")
			s.stop()
			p.waitFor(`!document.getElementById('offline').hidden`, "the offline banner")
			check("offline banner")
		})
	}
}
