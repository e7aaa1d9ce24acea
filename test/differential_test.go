package test

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// diffRow is a row of the differential data set, as it goes into the table
// and, written as a zone-file line, into the file Knot serves.
type diffRow struct {
	name, typ, content string
	ttl                int
}

// diffRows is a varied zone: policy records at the apex, services, chains,
// wildcards of several types (one a CNAME), empty non-terminals (one made by
// an ACME challenge below a wildcard), delegations with in- and
// out-of-bailiwick name servers, a signed child's DS, and a seeded random
// set of names with one to four types each.
func diffRows(seed int64) []diffRow {
	rows := []diffRow{
		{"example.org.", "A", "192.0.2.6", 60},
		{"example.org.", "AAAA", "2001:db8::6", 60},
		{"example.org.", "TXT", `"v=spf1 -all"`, 300},
		{"example.org.", "TXT", `"google-site-verification=abc"`, 300},
		{"example.org.", "MX", "10 mail.example.org.", 3600},
		{"example.org.", "MX", "20 mail2.example.org.", 3600},
		{"example.org.", "CAA", `0 issue "letsencrypt.org"`, 3600},
		{"example.org.", "CAA", `128 iodef "mailto:ops@example.org"`, 3600},
		{"ns1.example.org.", "A", "192.0.2.53", 60},
		{"mail.example.org.", "A", "192.0.2.25", 60},
		{"mail.example.org.", "AAAA", "2001:db8::25", 60},
		{"mail2.example.org.", "AAAA", "2001:db8::26", 120},
		{"_sip._udp.example.org.", "SRV", "10 60 5060 sip.example.org.", 120},
		{"_sip._udp.example.org.", "SRV", "20 0 5060 mail.example.org.", 120},
		{"sip.example.org.", "A", "192.0.2.40", 60},
		{"_xmpp._tcp.example.org.", "SRV", "0 0 0 .", 60},
		{"www.example.org.", "CNAME", "web.example.org.", 300},
		{"web.example.org.", "CNAME", "lb.example.org.", 120},
		{"lb.example.org.", "A", "192.0.2.80", 30},
		{"lb.example.org.", "A", "192.0.2.81", 30},
		{"lb.example.org.", "TXT", `"load balancer"`, 30},
		{"dangling.example.org.", "CNAME", "gone.example.org.", 60},
		{"outside.example.org.", "CNAME", "www.example.com.", 60},
		{"into-ent.example.org.", "CNAME", "ent.example.org.", 60},
		{"a.b.ent.example.org.", "A", "192.0.2.90", 60},
		{"*.apps.example.org.", "A", "192.0.2.7", 60},
		{"*.apps.example.org.", "TXT", `"wildcard text"`, 60},
		{"*.apps.example.org.", "MX", "10 mail.example.org.", 60},
		{"named.apps.example.org.", "AAAA", "2001:db8::7", 60},
		{"_acme-challenge.blocked.apps.example.org.", "TXT", `"challenge token"`, 60},
		{"*.cdn.example.org.", "CNAME", "lb.example.org.", 60},
		{"*.example.org.", "TXT", `"catch all"`, 60},
		{"_acme-challenge.example.org.", "TXT", `"token-one"`, 60},
		{"_acme-challenge.example.org.", "TXT", `"token-two"`, 60},
		{"long.example.org.", "TXT", `"` + strings.Repeat("x", 255) + `" "second string"`, 60},
		{"ptr.example.org.", "PTR", "www.example.org.", 60},
		{"team.example.org.", "NS", "ns1.team.example.org.", 3600},
		{"team.example.org.", "NS", "ns.elsewhere.net.", 3600},
		{"ns1.team.example.org.", "A", "192.0.2.100", 3600},
		{"ns1.team.example.org.", "AAAA", "2001:db8::100", 3600},
		{"occluded.team.example.org.", "A", "192.0.2.101", 60},
		{"signed.example.org.", "NS", "ns1.example.org.", 3600},
		{"signed.example.org.", "DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8", 3600},
		{"to-cut.example.org.", "CNAME", "host.team.example.org.", 60},
	}
	r := rand.New(rand.NewSource(seed)) //nolint:gosec // a reproducible data set
	for i := range 60 {
		name := fmt.Sprintf("n%d.example.org.", i)
		if i%5 == 0 {
			name = fmt.Sprintf("n%d.deep%d.example.org.", i, i%3) // empty non-terminals
		}
		if r.Intn(6) == 0 { // a CNAME, alone, to a name that may not exist
			rows = append(rows, diffRow{name, "CNAME", fmt.Sprintf("n%d.example.org.", r.Intn(70)), 60 + r.Intn(3)*60})
			continue
		}
		for _, typ := range []string{"A", "AAAA", "TXT", "MX", "SRV", "CAA"} {
			if r.Intn(3) != 0 {
				continue
			}
			ttl := 30 + r.Intn(4)*30
			for k := range 1 + r.Intn(2) {
				var content string
				switch typ {
				case "A":
					content = fmt.Sprintf("198.51.100.%d", 1+r.Intn(250))
				case "AAAA":
					content = fmt.Sprintf("2001:db8:%x::%x", i, k+1)
				case "TXT":
					content = fmt.Sprintf(`"text %d-%d" "more"`, i, k)
				case "MX":
					content = fmt.Sprintf("%d n%d.example.org.", 10*(k+1), r.Intn(60))
				case "SRV":
					content = fmt.Sprintf("%d %d %d n%d.example.org.", k, 5, 443+k, r.Intn(60))
				case "CAA":
					content = fmt.Sprintf(`0 issue "ca%d.example.net"`, k)
				}
				rows = append(rows, diffRow{name, typ, content, ttl})
			}
		}
	}
	// Distinct rows only (random picks may repeat), CNAMEs alone at their names.
	seen := map[string]bool{}
	var out []diffRow
	for _, x := range rows {
		if k := x.name + " " + x.typ + " " + x.content; !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out
}

// startKnotPrimary serves zone (a zone file's text) for example.org with knotd.
func startKnotPrimary(t *testing.T, zone string) string {
	t.Helper()
	bin := daemonPath(t, "knotd", "knot")
	dir := t.TempDir()
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(dir, "example.org.zone"), []byte(zone), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: warning
zone:
  - domain: example.org
    storage: "%[1]s"
    file: example.org.zone
    zonefile-sync: -1
    journal-content: none
`, dir, port)
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, "-c", path)
	daemon(t, "knotd", cmd, out)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 10*time.Second, "knotd to serve example.org", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeSOA)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, addr)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
	return addr
}

// normal is an answer in a form two servers' answers compare in: rcode,
// AA, and each section's RRs as sorted text (SOA serials zeroed, OPT left
// out).
func normal(r *dns.Msg) string {
	section := func(rrs []dns.RR) string {
		var out []string
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.OPT:
				continue
			case *dns.SOA:
				c := *v
				c.Serial = 0
				rr = &c
			}
			out = append(out, strings.ToLower(rr.String()))
		}
		sort.Strings(out)
		return strings.Join(out, "\n    ")
	}
	return fmt.Sprintf("%s aa=%v\n  answer:\n    %s\n  authority:\n    %s\n  additional:\n    %s",
		dns.RcodeToString[r.Rcode], r.Authoritative, section(r.Answer), section(r.Ns), section(r.Extra))
}

// TestDifferentialKnot: the same data as table rows (served by dbrecords)
// and as a zone file (served by Knot) give the same answers, in rcode, AA,
// answer (with TTLs), authority and additional sections: for every owner
// and type of the data, names a wildcard answers, empty non-terminals,
// names at and below delegations, and names that do not exist.
func TestDifferentialKnot(t *testing.T) {
	rows := diffRows(17)
	db, dsn := newDB(t)
	var zone strings.Builder
	zone.WriteString("$ORIGIN example.org.\n" +
		"@ 60 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 1800 1209600 30\n" +
		"@ 60 IN NS ns1.example.org.\n@ 60 IN NS ns2.example.org.\n")
	for _, r := range rows {
		exec1(t, db, "INSERT INTO dns_records (name, type, content, ttl) VALUES (?, ?, ?, ?)", r.name, r.typ, r.content, r.ttl)
		fmt.Fprintf(&zone, "%s %d IN %s %s\n", r.name, r.ttl, r.typ, r.content)
	}
	knot := startKnotPrimary(t, zone.String())
	s := start(t, dsn)

	names := map[string]bool{"example.org.": true}
	for _, r := range rows {
		names[r.name] = true
		for n := r.name; n != "example.org."; n = parentName(n) {
			names[n] = true // empty non-terminals
		}
		// Below each name: a name that does not exist, or that a wildcard
		// or a delegation answers.
		names["nope."+strings.TrimPrefix(r.name, "*.")] = true
	}
	for _, n := range []string{"x.apps.example.org.", "a.b.apps.example.org.", "blocked.apps.example.org.", "x.blocked.apps.example.org.",
		"img.cdn.example.org.", "anything.example.org.", "x.y.example.org.", "team.example.org.", "host.team.example.org.",
		"signed.example.org.", "www.signed.example.org.", "gone.example.org."} {
		names[n] = true
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeTXT, dns.TypeMX, dns.TypeSRV, dns.TypeCAA, dns.TypeNS, dns.TypeDS, dns.TypePTR, dns.TypeSOA}
	asked, differ := 0, 0
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}) {
		for _, qt := range types {
			want, got := normal(query(t, knot, "tcp", n, qt)), normal(query(t, s.dns, "tcp", n, qt))
			asked++
			if got != want {
				differ++
				if differ <= 20 {
					t.Errorf("%s %s: Knot answers\n%s\ndbrecords answers\n%s", n, dns.TypeToString[qt], want, got)
				}
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d answers differ from Knot's", differ, asked)
	}
	t.Logf("%d questions over %d names, %d rows: %d answers differ from Knot's", asked, len(names), len(rows), differ)
}

// parentName returns name without its first label.
func parentName(name string) string {
	_, rest, _ := strings.Cut(name, ".")
	return rest
}
