package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dnskey"

	"github.com/miekg/dns"
)

// signedWholeZone serves a signed example.org with rows of every type, and
// below it team.example.org, a signed child served by a second server block
// on the same port, delegated by NS and DS rows in the parent. It returns
// the server and the parent's key, the trust anchor.
func signedWholeZone(t *testing.T) (*server, *dns.DNSKEY) {
	t.Helper()
	db, dsn := newDB(t)
	dir := t.TempDir()
	base, key := writeKey(t, dir, "example.org.", dns.ECDSAP256SHA256)
	childBase, childKey := writeKey(t, dir, "team.example.org.", dns.ED25519)
	ds := childKey.ToDS(dns.SHA256)
	insertRows(t, db, [][4]any{
		{"example.org", "TXT", `"v=spf1 -all"`, nil},
		{"example.org", "MX", "10 mail.example.org", nil},
		{"example.org", "CAA", `0 issue "letsencrypt.org"`, nil},
		{"mail.example.org", "A", "192.0.2.25", nil},
		{"mail.example.org", "AAAA", "2001:db8::25", nil},
		{"_sip._udp.example.org", "SRV", "10 5 5060 mail.example.org", nil},
		{"_acme-challenge.example.org", "TXT", "token-one", nil},
		{"_acme-challenge.example.org", "TXT", "token-two", nil},
		{"www.example.org", "CNAME", "lb.example.org", nil},
		{"lb.example.org", "A", "192.0.2.80", nil},
		{"*.apps.example.org", "CNAME", "lb.example.org", nil},
		{"*.wild.example.org", "TXT", `"wildcard"`, nil},
		{"a.ent.example.org", "A", "192.0.2.4", nil},
		{"7.example.org", "PTR", "www.example.org", nil},
		{"team.example.org", "NS", "ns1.example.org", nil},
		{"team.example.org", "DS", strings.TrimPrefix(ds.String(), ds.Hdr.String()), nil},
		{"www.team.example.org", "A", "192.0.2.120", nil},
		{"ns1.example.org", "A", "127.0.0.1", nil},
	})
	corefile := serverBlock(dsn, "key file "+base) + `
team.example.org:{DNS} {
	dbrecords {
		dsn ` + dsn + `
		ns ns1.example.org
		key file ` + childBase + `
	}
}
`
	s := startCorefile(t, corefile)
	s.waitReady(t)
	// /ready is the first block's: the listener opens once the second
	// block has started too.
	waitFor(t, 10*time.Second, "team.example.org served", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("team.example.org.", dns.TypeSOA)
		r, err := dns.Exchange(m, s.dns)
		return err == nil && len(r.Answer) == 1
	})
	return s, key
}

// wholeZoneQuestions are asked of the signed zone through validators, with
// what a validated answer must hold (the "negative" ones are denials).
var wholeZoneQuestions = []struct{ name, qtype, want string }{
	{"example.org", "TXT", "v=spf1 -all"},
	{"example.org", "MX", "mail.example.org."},
	{"example.org", "CAA", "letsencrypt.org"},
	{"_sip._udp.example.org", "SRV", "5060 mail.example.org."},
	{"_acme-challenge.example.org", "TXT", "token-two"},
	{"www.example.org", "A", "192.0.2.80"},           // a CNAME, followed
	{"x.apps.example.org", "A", "192.0.2.80"},        // a wildcard CNAME, followed
	{"host.wild.example.org", "TXT", "wildcard"},     // a wildcard TXT
	{"7.example.org", "PTR", "www.example.org."},     // a PTR
	{"www.team.example.org", "A", "192.0.2.120"},     // through the signed delegation
	{"team.example.org", "DS", "DS"},                 // the parent's DS
	{"mail.example.org", "TXT", "negative"},          // NODATA
	{"ent.example.org", "TXT", "negative"},           // an empty non-terminal
	{"nope.x.ent.example.org", "A", "negative"},      // a name that does not exist
	{"_acme-challenge.example.org", "A", "negative"}, // NODATA beside the challenge
}

// TestWholeZoneDelv: delv, with the parent's key as trust anchor, fully
// validates an answer of every type, CNAME chains and wildcards, denials,
// and an answer below a signed delegation (DS from the parent's rows).
func TestWholeZoneDelv(t *testing.T) {
	s, key := signedWholeZone(t)
	anchors := filepath.Join(t.TempDir(), "anchors.conf")
	if err := os.WriteFile(anchors, []byte(dnskey.Anchor(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, q := range wholeZoneQuestions {
		want := q.want
		if want == "negative" {
			want = "negative response, fully validated"
		}
		checkDelv(t, s, anchors, q.name, q.qtype, want)
	}
}

// TestWholeZoneUnbound: Unbound, a validating resolver with qname
// minimisation and harden-below-nxdomain, resolves every kind of answer of
// the signed zone with AD set.
func TestWholeZoneUnbound(t *testing.T) {
	bin := daemonPath(t, "unbound", "unbound")
	s, key := signedWholeZone(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %[1]d
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "%[2]s"
  pidfile: "%[2]s/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "validator iterator"
  qname-minimisation: yes
  harden-below-nxdomain: yes
  trust-anchor: "%[3]s"
stub-zone:
  name: "example.org"
  stub-addr: %[4]s
stub-zone:
  name: "team.example.org"
  stub-addr: %[4]s
remote-control:
  control-enable: no
`, port, dir, strings.Join(strings.Fields(key.String()), " "), strings.Replace(s.dns, ":", "@", 1))
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, "-d", "-c", path)
	daemon(t, "unbound", cmd, out)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		m.SetEdns0(1232, true)
		m.AuthenticatedData = true
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		return r, err
	}
	waitFor(t, 10*time.Second, "unbound to answer", func() bool {
		_, err := ask("example.org", dns.TypeSOA)
		return err == nil
	})
	for _, q := range wholeZoneQuestions {
		r, err := ask(q.name, dns.StringToType[q.qtype])
		if err != nil {
			t.Errorf("%s %s: expected an answer from unbound, got %v", q.name, q.qtype, err)
			continue
		}
		text := strings.Join(strings.Fields(fmt.Sprint(r.Answer)), " ")
		switch {
		case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
			t.Errorf("%s %s: expected an answer, got %s", q.name, q.qtype, dns.RcodeToString[r.Rcode])
		case !r.AuthenticatedData:
			t.Errorf("%s %s: expected AD (validated), got %v", q.name, q.qtype, r)
		case q.want == "negative" && len(r.Answer) != 0:
			t.Errorf("%s %s: expected a denial, got %v", q.name, q.qtype, r.Answer)
		case q.want != "negative" && !strings.Contains(text, q.want):
			t.Errorf("%s %s: expected %q in the answer, got %v", q.name, q.qtype, q.want, r.Answer)
		}
	}
}
