package test

import (
	"database/sql"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// The TSIG keys of the update tests: admin may change every type of every
// name, acme only the ACME challenge's TXT, apps the names below
// apps.example.org.
const (
	adminKey    = "admin-key."
	acmeKey     = "acme-key."
	appsKey     = "apps-key."
	adminSecret = "YWRtaW4tc2VjcmV0LWZvci1kYnJlY29yZHMtdGVzdHM="
	acmeSecret  = "YWNtZS1zZWNyZXQtZm9yLWRicmVjb3Jkcy10ZXN0cyE="
	appsSecret  = "YXBwcy1zZWNyZXQtZm9yLWRicmVjb3Jkcy10ZXN0cyE="
)

// updateBlock is serverBlock with the tsig plugin and an update block
// writing through writer, with extra update properties.
func updateBlock(dsn, writer string, extra ...string) string {
	return `example.org:{DNS} example.net:{DNS} {
	tsig {
		secret ` + adminKey + ` ` + adminSecret + `
		secret ` + acmeKey + ` ` + acmeSecret + `
		secret ` + appsKey + ` ` + appsSecret + `
	}
	dbrecords {
		dsn ` + dsn + `
		refresh 1s
		ns ns1.example.org ns2.example.org
		update {
			dsn ` + writer + `
			allow ` + adminKey + ` example.org *.example.org ANY
			allow ` + acmeKey + ` _acme-challenge.example.org TXT
			allow ` + appsKey + ` *.apps.example.org A AAAA TXT CNAME
			` + strings.Join(extra, "\n\t\t\t") + `
		}
	}
	prometheus {METRICS}
	ready {READY}
}
`
}

func startUpdates(t *testing.T, dsn, writer string, extra ...string) *server {
	t.Helper()
	s := startCorefile(t, updateBlock(dsn, writer, extra...))
	s.waitReady(t)
	return s
}

// nsupdate runs BIND's nsupdate with script against s, signed with key
// (none when ""), and returns the rcode of the reply ("NOERROR" when it
// succeeded) with its output.
func nsupdate(t *testing.T, s *server, key, secret, script string) (string, string) {
	t.Helper()
	host, port, _ := strings.Cut(s.dns, ":")
	var args []string
	if key != "" {
		args = append(args, "-y", "hmac-sha256:"+key+":"+secret)
	}
	cmd := exec.Command("nsupdate", args...)
	cmd.Stdin = strings.NewReader("server " + host + " " + port + "\n" + script + "\nsend\n")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return "NOERROR", string(out)
	}
	if _, rcode, ok := strings.Cut(string(out), "update failed: "); ok {
		rcode, _, _ = strings.Cut(strings.Fields(rcode)[0], "(") // NOTAUTH(BADSIG)
		return rcode, string(out)
	}
	t.Fatalf("Expected nsupdate to reach the server, got %v:\n%s", err, out)
	return "", ""
}

// tableRows returns every row of the table as "name type content ttl", sorted.
func tableRows(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT name, type, content, COALESCE(ttl, -1) FROM dns_records")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, typ, content string
		var ttl int64
		if err := rows.Scan(&name, &typ, &content, &ttl); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d", name, typ, content, ttl))
	}
	slices.Sort(out)
	return out
}

// answers returns the data of the answer for qname and qtype, sorted.
func answers(t *testing.T, s *server, qname string, qtype uint16) []string {
	t.Helper()
	var out []string
	for _, rr := range query(t, s.dns, "udp", qname, qtype).Answer {
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	slices.Sort(out)
	return out
}

// TestUpdateWithNsupdate: nsupdate adds, replaces and deletes records, and
// the replica that took each update answers with it as soon as the client
// hears NOERROR.
func TestUpdateWithNsupdate(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"web.example.org", "A", "192.0.2.1", nil}})
	s := startUpdates(t, dsn, dsn)

	steps := []struct {
		script string
		qname  string
		qtype  uint16
		want   []string
	}{
		{"update add app.example.org 300 A 192.0.2.10\nupdate add app.example.org 300 TXT \"v=1 two words\"",
			"app.example.org.", dns.TypeA, []string{"192.0.2.10"}},
		{"update add app.example.org 300 A 192.0.2.11", "app.example.org.", dns.TypeA, []string{"192.0.2.10", "192.0.2.11"}},
		{"update delete app.example.org A\nupdate add app.example.org 120 A 192.0.2.12", "app.example.org.", dns.TypeA, []string{"192.0.2.12"}},
		{"update delete app.example.org TXT \"v=1 two words\"", "app.example.org.", dns.TypeTXT, nil},
		{"update add www.example.org 300 CNAME web.example.org.", "www.example.org.", dns.TypeCNAME, []string{"web.example.org."}},
		{"update add www.example.org 300 CNAME app.example.org.", "www.example.org.", dns.TypeCNAME, []string{"app.example.org."}}, // replaces it (RFC 2136 3.4.2.2)
		{"update add example.org 300 MX 10 mail.example.org.", "example.org.", dns.TypeMX, []string{"10 mail.example.org."}},
		{"update add example.org 300 CAA 0 issue \"letsencrypt.org\"", "example.org.", dns.TypeCAA, []string{"0 issue \"letsencrypt.org\""}},
		{"update add _sip._tcp.example.org 300 SRV 0 5 5060 sip.example.org.", "_sip._tcp.example.org.", dns.TypeSRV, []string{"0 5 5060 sip.example.org."}},
		{"update add child.example.org 300 NS ns1.child.example.org.\nupdate add ns1.child.example.org 300 A 192.0.2.53", "child.example.org.", dns.TypeNS, nil},
		{"update delete www.example.org", "www.example.org.", dns.TypeCNAME, nil},
	}
	for _, st := range steps {
		if rcode, out := nsupdate(t, s, adminKey, adminSecret, "zone example.org\n"+st.script); rcode != "NOERROR" {
			t.Fatalf("Expected nsupdate %q to succeed, got %s:\n%s", st.script, rcode, out)
		}
		// No waiting: the reply came after this replica served the change.
		if got := answers(t, s, st.qname, st.qtype); !slices.Equal(got, st.want) {
			t.Errorf("Expected %s %s to be %q right after the update %q, got %q", st.qname, dns.TypeToString[st.qtype], st.want, st.script, got)
		}
	}
	want := []string{
		"_sip._tcp.example.org SRV 0 5 5060 sip.example.org. 300",
		"app.example.org A 192.0.2.12 120",
		"child.example.org NS ns1.child.example.org. 300",
		"example.org CAA 0 issue \"letsencrypt.org\" 300",
		"example.org MX 10 mail.example.org. 300",
		"ns1.child.example.org A 192.0.2.53 300",
		"web.example.org A 192.0.2.1 -1",
	}
	if got := tableRows(t, db); !slices.Equal(got, want) {
		t.Errorf("Expected the table to hold\n%s\ngot\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	// The delegation is served as one: a referral with glue.
	r := query(t, s.dns, "udp", "host.child.example.org.", dns.TypeA)
	if len(r.Ns) != 1 || r.Authoritative || len(r.Extra) != 1 {
		t.Errorf("Expected a referral to child.example.org with its glue, got %v", r)
	}
	if got := s.metricLines(t, `coredns_dbrecords_updates_total{key="admin-key.",result="noerror",zone="example.org."}`); len(got) != 1 || !strings.HasSuffix(got[0], fmt.Sprint(" ", len(steps))) {
		t.Errorf("Expected %d successful updates counted for admin-key., got %q", len(steps), got)
	}
}

// TestUpdatePrerequisites: each kind of prerequisite (RFC 2136 section
// 2.4) with its rcode, and nothing written when one fails.
func TestUpdatePrerequisites(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"app.example.org", "A", "192.0.2.1", nil},
		{"app.example.org", "A", "192.0.2.2", nil},
		{"app.example.org", "TXT", "owner=team-a", nil},
	})
	s := startUpdates(t, dsn, dsn)
	add := "\nupdate add new.example.org 60 A 192.0.2.99"
	cases := []struct{ prereq, want string }{
		{"prereq yxdomain missing.example.org", "NXDOMAIN"},
		{"prereq nxdomain app.example.org", "YXDOMAIN"},
		{"prereq yxrrset app.example.org AAAA", "NXRRSET"},
		{"prereq yxrrset app.example.org A 192.0.2.1", "NXRRSET"}, // the RRset has two records
		{"prereq yxrrset app.example.org TXT owner=team-b", "NXRRSET"},
		{"prereq nxrrset app.example.org TXT", "YXRRSET"},
		{"prereq nxrrset example.org SOA", "YXRRSET"},
		{"prereq yxdomain example.org\nprereq nxdomain app.example.org", "YXDOMAIN"},
	}
	before := tableRows(t, db)
	for _, c := range cases {
		if rcode, out := nsupdate(t, s, adminKey, adminSecret, "zone example.org\n"+c.prereq+add); rcode != c.want {
			t.Errorf("Expected %q to fail with %s, got %s:\n%s", c.prereq, c.want, rcode, out)
		}
	}
	if got := tableRows(t, db); !slices.Equal(got, before) {
		t.Fatalf("Expected failed prerequisites to write nothing, the table went from %q to %q", before, got)
	}
	// The same prerequisites, satisfied.
	for i, p := range []string{
		"prereq yxdomain app.example.org",
		"prereq nxdomain missing.example.org",
		"prereq yxrrset app.example.org TXT",
		"prereq yxrrset app.example.org A 192.0.2.1\nprereq yxrrset app.example.org A 192.0.2.2",
		"prereq yxrrset app.example.org TXT owner=team-a",
		"prereq nxrrset app.example.org AAAA",
		"prereq yxrrset example.org SOA\nprereq yxrrset example.org NS",
	} {
		script := fmt.Sprintf("zone example.org\n%s\nupdate add ok%d.example.org 60 A 192.0.2.%d", p, i, 100+i)
		if rcode, out := nsupdate(t, s, adminKey, adminSecret, script); rcode != "NOERROR" {
			t.Errorf("Expected %q to hold, got %s:\n%s", p, rcode, out)
		}
		if got := answers(t, s, fmt.Sprintf("ok%d.example.org.", i), dns.TypeA); len(got) != 1 {
			t.Errorf("Expected ok%d.example.org served after %q, got %q", i, p, got)
		}
	}
	if got := s.metricLines(t, `coredns_dbrecords_updates_total{key="admin-key.",result="yxdomain"`); len(got) != 1 || !strings.HasSuffix(got[0], " 2") {
		t.Errorf("Expected two YXDOMAIN results counted, got %q", got)
	}
}

// TestUpdateRules: what a key may not change, and what no row may hold, is
// refused as a whole and writes nothing.
func TestUpdateRules(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"web.apps.example.org", "A", "192.0.2.1", nil}})
	s := startUpdates(t, dsn, dsn, "max_records 4")
	cases := []struct {
		name, key, secret, script, want string
	}{
		{"unsigned", "", "", "update add x.apps.example.org 60 A 192.0.2.9", "REFUSED"},
		{"wrong secret", appsKey, acmeSecret, "update add x.apps.example.org 60 A 192.0.2.9", "NOTAUTH"},
		{"unknown key", "other-key.", appsSecret, "update add x.apps.example.org 60 A 192.0.2.9", "NOTAUTH"},
		{"name outside the rule", appsKey, appsSecret, "update add x.example.org 60 A 192.0.2.9", "REFUSED"},
		{"type outside the rule", appsKey, appsSecret, "update add x.apps.example.org 60 MX 10 mx.example.org.", "REFUSED"},
		{"every RRset of a name", appsKey, appsSecret, "update delete web.apps.example.org", "REFUSED"},
		{"a prerequisite outside the rules", appsKey, appsSecret, "prereq nxdomain x.example.org\nupdate add y.apps.example.org 60 A 192.0.2.9", "REFUSED"},
		{"a name with an escaped dot", appsKey, appsSecret, `update delete evil\.apps.example.org TXT`, "FORMERR"},
		{"one allowed, one not", acmeKey, acmeSecret, "update add _acme-challenge.example.org 60 TXT ok\nupdate add example.org 60 TXT no", "REFUSED"},
		{"the SOA", adminKey, adminSecret, "update add example.org 60 SOA ns1.example.org. h.example.org. 1 2 3 4 5", "REFUSED"},
		{"the apex NS", adminKey, adminSecret, "update delete example.org NS", "REFUSED"},
		{"a CNAME beside an A", adminKey, adminSecret, "update add web.apps.example.org 60 CNAME other.example.org.", "REFUSED"},
		{"an A beside a CNAME", adminKey, adminSecret, "update add c.example.org 60 CNAME web.apps.example.org.\nupdate add c.example.org 60 A 192.0.2.9", "REFUSED"},
		{"a DS without NS", adminKey, adminSecret, "update add sub.example.org 60 DS 12345 13 2 " + strings.Repeat("ab", 32), "REFUSED"},
		{"a type not served", adminKey, adminSecret, "update add x.example.org 60 HINFO cpu os", "FORMERR"},
		{"a name of another zone", adminKey, adminSecret, "update add x.example.net 60 A 192.0.2.9", "NOTZONE"},
		{"more records than max_records", adminKey, adminSecret, strings.Repeat("update add many.example.org 60 TXT x\n", 5), "FORMERR"},
		{"TXT data longer than a row", adminKey, adminSecret, "update add long.example.org 60 TXT" + strings.Repeat(" "+strings.Repeat("a", 255), 17), "FORMERR"},
	}
	before := tableRows(t, db)
	for _, c := range cases {
		if rcode, out := nsupdate(t, s, c.key, c.secret, "zone example.org\n"+c.script); rcode != c.want {
			t.Errorf("%s: expected %s, got %s:\n%s", c.name, c.want, rcode, out)
		}
	}
	if got := tableRows(t, db); !slices.Equal(got, before) {
		t.Fatalf("Expected refused updates to write nothing, the table went from %q to %q", before, got)
	}
	// Zones: one no block serves, and a name that is not an apex.
	if rcode, _ := nsupdate(t, s, adminKey, adminSecret, "zone example.com\nupdate add x.example.com 60 A 192.0.2.9"); rcode != "REFUSED" {
		t.Errorf("Expected an update of a zone not served to be REFUSED, got %s", rcode)
	}
	if rcode, _ := nsupdate(t, s, adminKey, adminSecret, "zone apps.example.org\nupdate add x.apps.example.org 60 A 192.0.2.9"); rcode != "NOTAUTH" {
		t.Errorf("Expected an update naming a zone that is not an apex to get NOTAUTH, got %s", rcode)
	}
	// The rights that are given work.
	if rcode, out := nsupdate(t, s, appsKey, appsSecret, "zone example.org\nupdate add x.apps.example.org 60 A 192.0.2.9"); rcode != "NOERROR" {
		t.Errorf("Expected apps-key. to add an A below apps.example.org, got %s:\n%s", rcode, out)
	}
	for _, l := range []string{
		`coredns_dbrecords_updates_total{key="",result="refused",zone="example.org."} 1`,
		`coredns_dbrecords_updates_total{key="apps-key.",result="refused",zone="example.org."} 4`,
		`coredns_dbrecords_updates_total{key="admin-key.",result="formerr",zone="example.org."} 3`,
	} {
		if got := s.metricLines(t, l); len(got) != 1 {
			t.Errorf("Expected the metric line %s", l)
		}
	}
	if strings.Contains(s.out.String(), appsSecret) || strings.Contains(s.out.String(), adminSecret) {
		t.Error("Expected no TSIG secret in the log")
	}
}
