package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A host range such as "web-[01-12]": one [[host]] table stands for many
// hosts, one per number, keeping the width of the first bound ("01" → two
// digits). The same range text may appear in name, address,
// ssh_config_host, user and files; it is expanded in lockstep there.
var rangeRE = regexp.MustCompile(`\[(\d+)-(\d+)\]`)

// maxRange bounds one table's expansion.
const maxRange = 10_000

// expandRanges replaces every [[host]] table whose name holds a range by
// one host per value. Errors name the table's key.
func (c *Config) expandRanges() error {
	var out []Host
	for i, h := range c.Hosts {
		h.index = i
		ranges := rangeRE.FindAllString(h.Name, -1)
		if len(ranges) == 0 {
			for _, f := range []struct{ key, v string }{{"address", h.Address}, {"ssh_config_host", h.SSHAlias}, {"user", h.User}} {
				if rangeRE.MatchString(f.v) {
					return &Error{Key: fmt.Sprintf("host.%d.%s", i, f.key), Msg: fmt.Sprintf("%q has a range but the name %q has none: a range expands the name and these together", f.v, h.Name)}
				}
			}
			out = append(out, h)
			continue
		}
		key := fmt.Sprintf("host.%d.name", i)
		if len(ranges) > 1 {
			return &Error{Key: key, Msg: fmt.Sprintf("%q has %d ranges: at most one range per [[host]]", h.Name, len(ranges))}
		}
		spec := ranges[0]
		m := rangeRE.FindStringSubmatch(spec)
		lo, err1 := strconv.Atoi(m[1])
		hi, err2 := strconv.Atoi(m[2])
		switch {
		case err1 != nil || err2 != nil:
			return &Error{Key: key, Msg: fmt.Sprintf("range %s: bounds too large", spec)}
		case hi < lo:
			return &Error{Key: key, Msg: fmt.Sprintf("range %s is reversed (write the smaller bound first)", spec)}
		case hi-lo+1 > maxRange:
			return &Error{Key: key, Msg: fmt.Sprintf("range %s has %d hosts, more than %d", spec, hi-lo+1, maxRange)}
		}
		for _, f := range []struct{ key, v string }{{"address", h.Address}, {"ssh_config_host", h.SSHAlias}, {"user", h.User}} {
			for _, r := range rangeRE.FindAllString(f.v, -1) {
				if r != spec {
					return &Error{Key: fmt.Sprintf("host.%d.%s", i, f.key), Msg: fmt.Sprintf("range %s differs from the name's %s: ranges expand in lockstep, so they must be the same", r, spec)}
				}
			}
		}
		width := len(m[1])
		for n := lo; n <= hi; n++ {
			v := fmt.Sprintf("%0*d", width, n)
			x := h
			x.Name = strings.ReplaceAll(h.Name, spec, v)
			x.Address = strings.ReplaceAll(h.Address, spec, v)
			x.SSHAlias = strings.ReplaceAll(h.SSHAlias, spec, v)
			x.User = strings.ReplaceAll(h.User, spec, v)
			x.Files = make([]string, len(h.Files))
			for j, f := range h.Files {
				// Only the name's range text is expanded: other brackets in
				// a glob stay character classes.
				x.Files[j] = strings.ReplaceAll(f, spec, v)
			}
			out = append(out, x)
		}
	}
	c.Hosts = out
	return nil
}
