package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// canonicalLess reports whether a sorts before b in canonical order
// (RFC 4034 section 6.1).
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		x, y := unescape(la[i]), unescape(lb[j])
		if x != y {
			return x < y
		}
	}
	return len(la) < len(lb)
}

func unescape(label string) string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(label+".", buf, 0, nil, false)
	if err != nil {
		panic(err)
	}
	return string(buf[1 : n-1])
}

func wireLen(name string) int {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return 999
	}
	return n
}

// TestSuccessor: the next name of a black lie fits in 255 octets, sorts
// after the owner, and nothing that could exist sorts between them.
func TestSuccessor(t *testing.T) {
	// mk returns first.<labels>.example.org. of exactly total octets in wire form.
	mk := func(total int, first string) string {
		tail := "example.org."
		for wireLen(first+"."+tail)+51 <= total {
			tail = strings.Repeat("b", 50) + "." + tail
		}
		pad := total - wireLen(first+"."+tail)
		if pad > 0 {
			tail = strings.Repeat("c", pad-1) + "." + tail
		}
		return first + "." + tail
	}
	for _, tc := range []struct {
		owner, want string
	}{
		{"www.example.org.", `\000.www.example.org.`},
		{mk(253, "abc"), `\000.` + mk(253, "abc")},
		{mk(254, "abc"), `abc\000.` + strings.TrimPrefix(mk(254, "abc"), "abc.")},
		{mk(255, "abc"), "abd." + strings.TrimPrefix(mk(255, "abc"), "abc.")},
		{mk(255, "ABZ"), "ab{." + strings.TrimPrefix(mk(255, "ABZ"), "ABZ.")},
		{mk(255, "ab@"), "ab[." + strings.TrimPrefix(mk(255, "ab@"), "ab@.")},
		{mk(255, `ab\255`), "ac." + strings.TrimPrefix(mk(255, `ab\255`), `ab\255.`)},
	} {
		if w := wireLen(tc.owner); w > 255 {
			t.Fatalf("Bad fixture %q: %d octets", tc.owner, w)
		}
		got := Successor(tc.owner)
		if got != tc.want {
			t.Errorf("Expected the successor of %q (%d octets) to be %q, got %q", tc.owner, wireLen(tc.owner), tc.want, got)
		}
		if wireLen(got) > 255 || !canonicalLess(tc.owner, got) {
			t.Errorf("Expected %q to fit and to sort after %q", got, tc.owner)
		}
	}
	// A 63-octet first label at 255 octets in all: the next name drops
	// back up to the parent when the label is all \255.
	owner := mk(255, strings.Repeat(`\255`, 63))
	got := Successor(owner)
	if wireLen(got) > 255 || !canonicalLess(owner, got) {
		t.Errorf("Expected %q to fit and to sort after %q", got, owner)
	}
}

// TestCoveringNSEC: the NSEC for a name a wildcard answers covers the name
// and everything below it, and no other name that could exist.
func TestCoveringNSEC(t *testing.T) {
	for _, name := range []string{"x.wild.example.org.", "b.wild.example.org.", "a.wild.example.org.", `\000.wild.example.org.`, "x0.wild.example.org.", `a[.wild.example.org.`} {
		n := CoveringNSEC(name, 30)
		p, s := n.Hdr.Name, n.NextDomain
		if wireLen(p) > 255 || wireLen(s) > 255 {
			t.Fatalf("%s: expected names that fit, got %q and %q", name, p, s)
		}
		covers := func(x string) bool { return canonicalLess(p, x) && canonicalLess(x, s) }
		for _, in := range []string{name, "a." + name, "zzz.y." + name} {
			if !covers(in) {
				t.Errorf("%s: expected %s covered by %s -> %s", name, in, p, s)
			}
		}
		label := strings.SplitN(name, ".", 2)[0]
		outs := []string{"wild.example.org.", "*.wild.example.org.", "host.wild.example.org.", "y.wild.example.org.", label + "a.wild.example.org.", "www.example.org.", "x.host.wild.example.org."}
		if !strings.HasPrefix(label, `\`) {
			// the host name just before: the last letter one less, then "zzz"
			prev := label[:len(label)-1] + string(label[len(label)-1]-1) + "zzz"
			outs = append(outs, prev+".wild.example.org.", "a."+prev+".wild.example.org.")
		}
		for _, out := range outs {
			if out != name && covers(out) {
				t.Errorf("%s: expected %s not covered by %s -> %s", name, out, p, s)
			}
		}
	}
}
