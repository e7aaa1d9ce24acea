package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dnskey"

	"github.com/miekg/dns"
)

// writeKey writes a CSK for zone into dir (see package dnskey).
func writeKey(t *testing.T, dir, zone string, alg uint8) (string, *dns.DNSKEY) {
	t.Helper()
	base, k, err := dnskey.Write(dir, zone, alg, 257)
	if err != nil {
		t.Fatal(err)
	}
	return base, k
}

// delv asks s through delv (Debian bind9-dnsutils, which `make test`
// installs) with key as the trust anchor and returns its output.
func delv(t *testing.T, s *server, anchors, name, qtype string) string {
	t.Helper()
	host, port, _ := strings.Cut(s.dns, ":")
	out, _ := exec.Command("delv", "@"+host, "-p", port, "-a", anchors, "+root=example.org", name, qtype).CombinedOutput()
	return string(out)
}

// checkDelv asks s through delv and expects a fully validated answer that
// contains want.
func checkDelv(t *testing.T, s *server, anchors, name, qtype, want string) {
	t.Helper()
	out := delv(t, s, anchors, name, qtype)
	if !strings.Contains(out, "fully validated") || !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Errorf("Expected delv to fully validate %s %s (%s), got:\n%s", name, qtype, want, out)
	}
}

// TestDNSSECValidates: delv, with the zone's key as trust anchor, fully
// validates every kind of answer from the built binary, signed by
// dbrecords itself (the key property) or by the dnssec plugin in front, and
// the new answers after an INSERT and a DELETE.
func TestDNSSECValidates(t *testing.T) {
	if _, err := exec.LookPath("delv"); err != nil {
		t.Fatalf("Expected delv (Debian package bind9-dnsutils, which `make test` installs), got %v", err)
	}
	for _, signer := range []string{"dbrecords", "dnssec plugin"} {
		t.Run(signer, func(t *testing.T) {
			db, dsn := newDB(t)
			insertRows(t, db, [][4]any{
				{"www.example.org", "A", "192.0.2.1", nil},
				{"www.example.org", "AAAA", "2001:db8::1", nil},
				{"*.wild.example.org", "A", "192.0.2.5", nil},
				{"deep.ent.example.org", "A", "192.0.2.4", nil},
				{"gone.example.org", "A", "192.0.2.6", nil},
			})
			dir := t.TempDir()
			base, key := writeKey(t, dir, "example.org.", dns.ECDSAP256SHA256)
			anchors := filepath.Join(dir, "anchors.conf")
			if err := os.WriteFile(anchors, []byte(dnskey.Anchor(key)), 0o600); err != nil {
				t.Fatal(err)
			}
			block := serverBlock(dsn, "key file "+base)
			if signer != "dbrecords" {
				block = strings.Replace(serverBlock(dsn), "\tdbrecords {", "\tdnssec example.org {\n\t\tkey file "+base+"\n\t}\n\tdbrecords {", 1)
			}
			s := startCorefile(t, block)
			s.waitReady(t)

			for _, q := range []struct{ name, qtype, want string }{
				{"www.example.org", "A", "192.0.2.1"},
				{"www.example.org", "AAAA", "2001:db8::1"},
				{"host.wild.example.org", "A", "192.0.2.5"},
				{"a.b.wild.example.org", "A", "192.0.2.5"}, // two labels below the wildcard's parent
				{"www.example.org", "TXT", "negative response, fully validated"},
				{"ent.example.org", "A", "negative response, fully validated"},
				{"nope.example.org", "A", "negative response, fully validated"},
				{"example.org", "SOA", "hostmaster.example.org."},
				{"example.org", "NS", "ns1.example.org."},
				{"example.org", "DNSKEY", key.PublicKey[:20]},
				{"example.org", "TXT", "negative response, fully validated"},
			} {
				checkDelv(t, s, anchors, q.name, q.qtype, q.want)
			}
			if signer == "dbrecords" {
				// NSEC and RRSIG queries, answered without contradicting
				// themselves; DNSKEY and NSEC without DO; the longest names.
				for _, q := range []struct{ name, qtype, want string }{
					{"example.org", "NSEC", "NSEC"},
					{"www.example.org", "NSEC", "NSEC"},
					{"nope.example.org", "NSEC", "RRSIG NSEC TYPE128"}, // TYPE128: NXNAME, as delv spells it
					{"host.wild.example.org", "NSEC", "NSEC"},
					{"www.example.org", "ANY", "192.0.2.1"},
				} {
					checkDelv(t, s, anchors, q.name, q.qtype, q.want)
				}
				for _, q := range []struct {
					name  string
					qtype uint16
				}{{"example.org.", dns.TypeDNSKEY}, {"www.example.org.", dns.TypeNSEC}, {"example.org.", dns.TypeRRSIG}} {
					if r := query(t, s.dns, "udp", q.name, q.qtype); len(r.Answer) == 0 || r.Answer[0].Header().Rrtype != q.qtype {
						t.Errorf("Expected %s %s answered without DO, got %v", q.name, dns.TypeToString[q.qtype], r)
					}
				}
				long := strings.Repeat(strings.Repeat("x", 62)+".", 3)
				qname := strings.Repeat("a", 52) + "." + long + "example.org." // 255 octets
				m := new(dns.Msg)
				m.SetQuestion(qname, dns.TypeA)
				m.SetEdns0(1232, true)
				if r, err := dns.Exchange(m, s.dns); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Ns) == 0 {
					t.Errorf("Expected a black lie a client can read for a 255-octet name, got %v, %v", r, err)
				}
			}

			exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.9')")
			exec1(t, db, "DELETE FROM dns_records WHERE name = 'gone.example.org'")
			waitFor(t, 3*time.Second, "the insert and delete to be served", func() bool {
				return answerA(t, s, "new.example.org.") == "192.0.2.9" && answerA(t, s, "gone.example.org.") == "NXDOMAIN"
			})
			if out := delv(t, s, anchors, "new.example.org", "A"); !strings.Contains(out, "; fully validated") || !strings.Contains(out, "192.0.2.9") {
				t.Errorf("Expected the inserted name fully validated, got:\n%s", out)
			}
			if out := delv(t, s, anchors, "gone.example.org", "A"); !strings.Contains(out, "negative response, fully validated") {
				t.Errorf("Expected the deleted name's denial fully validated, got:\n%s", out)
			}
		})
	}
}

// TestDNSSECTwoSigners: a key given to dbrecords with the dnssec plugin in
// the same block fails start-up, rather than signing every answer twice.
func TestDNSSECTwoSigners(t *testing.T) {
	_, dsn := newDB(t)
	base, _ := writeKey(t, t.TempDir(), "example.org.", dns.ECDSAP256SHA256)
	block := strings.Replace(serverBlock(dsn, "key file "+base), "\tdbrecords {", "\tdnssec example.org {\n\t\tkey file "+base+"\n\t}\n\tdbrecords {", 1)
	s := startCorefile(t, block)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("Expected coredns to refuse two signers, it runs")
	}
	if out := s.out.String(); !strings.Contains(out, "would sign the answers a second time") {
		t.Errorf("Expected the error to say why, got:\n%s", out)
	}
}

// TestDSLogged: start-up logs the DS to publish for the key-signing key and
// none for the zone-signing key, whose DS in the parent would make the zone
// bogus.
func TestDSLogged(t *testing.T) {
	_, dsn := newDB(t)
	dir := t.TempDir()
	ksk, kskKey := writeKey(t, dir, "example.org.", dns.ECDSAP256SHA256)
	zsk, zskKey, err := dnskey.Write(dir, "example.org.", dns.ECDSAP256SHA256, 256)
	if err != nil {
		t.Fatal(err)
	}
	s := startCorefile(t, serverBlock(dsn, "key file "+ksk+" "+zsk))
	s.waitReady(t)
	out := s.out.String()
	kskDS := strings.Join(strings.Fields(kskKey.ToDS(dns.SHA256).String()), " ")
	zskDS := strings.Join(strings.Fields(zskKey.ToDS(dns.SHA256).String()), " ")
	if !strings.Contains(out, "the DS for its parent: "+kskDS) {
		t.Errorf("Expected the KSK's DS %q logged, got:\n%s", kskDS, out)
	}
	if strings.Contains(out, zskDS) || !strings.Contains(out, fmt.Sprintf("zone-signing key %d", zskKey.KeyTag())) {
		t.Errorf("Expected the ZSK %d logged without a DS, got:\n%s", zskKey.KeyTag(), out)
	}
}

// signedA asks s for www.example.org A with DO and returns the key tags of
// the signatures that verify against keys; it fails on anything but a
// signed answer.
func signedA(t *testing.T, s *server, keys ...*dns.DNSKEY) []uint16 {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	m.SetEdns0(1232, true)
	r, err := dns.Exchange(m, s.dns)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("Expected a signed answer for www.example.org, got %v (%v)", r, err)
	}
	var set []dns.RR
	var tags []uint16
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.A); ok {
			set = append(set, rr)
		}
	}
	for _, rr := range r.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok {
			for _, k := range keys {
				if k.KeyTag() == sig.KeyTag && sig.Verify(k, set) == nil {
					tags = append(tags, sig.KeyTag)
				}
			}
		}
	}
	if len(set) == 0 || len(tags) == 0 {
		t.Fatalf("Expected www.example.org A with a valid signature, got %v", r.Answer)
	}
	return tags
}

// TestReloadNewKeysNeverBlinks: a reload that adds a key (the rollover
// procedure of docs/dnssec.md) and changes negative_ttl, while the database
// is unreachable, keeps every answer signed by the old key until every name
// is signed again, then signs with both; it reads nothing from the table.
func TestReloadNewKeysNeverBlinks(t *testing.T) {
	dir := t.TempDir()
	old, oldKey := writeKey(t, dir, "example.org.", dns.ED25519)
	newer, newKey := writeKey(t, dir, "example.org.", dns.ED25519)
	_, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}}, "key file "+old)
	s.waitReady(t)
	signedA(t, s, oldKey)
	p.down()
	done := s.reload(t, func(c string) string {
		return strings.Replace(c, "key file "+old, "key file "+old+" "+newer+"\n\t\tnegative_ttl 10", 1)
	})
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(signedA(t, s, oldKey, newKey), newKey.KeyTag()); {
		if time.Now().After(deadline) {
			t.Fatalf("Expected the new key to sign within 30 s of the reload, got:\n%s", s.out.String())
		}
		if strings.Contains(s.out.String(), "[ERROR] Restart failed") {
			t.Fatalf("Expected the reload to succeed, got:\n%s", s.out.String())
		}
	}
	if strings.Count(s.out.String(), "Reloading complete") == done {
		t.Error("Expected the new key to be served only once the reload completed")
	}
	if tags := signedA(t, s, oldKey, newKey); len(tags) != 2 {
		t.Errorf("Expected signatures by both keys after the rollover reload, got %v", tags)
	}
	m := new(dns.Msg)
	m.SetQuestion("nope.example.org.", dns.TypeA)
	m.SetEdns0(1232, true)
	if r, err := dns.Exchange(m, s.dns); err != nil || len(r.Ns) == 0 || r.Ns[0].Header().Ttl != 10 {
		t.Errorf("Expected the reloaded negative_ttl 10 in a denial, got %v (%v)", r, err)
	}
	if n := s.counter(t, "coredns_dbrecords_full_reads_total"); n != 1 {
		t.Errorf("Expected the reload to read nothing again (1 full read, at start-up), got %v", n)
	}
}

// TestParentAndChildZones: a block serving example.org and sub.example.org,
// each signed with its own key, holds the zone cut in the parent: delv,
// trusting only the parent's key, validates the child's answers through the
// DS the parent serves; the parent's AXFR carries the cut (NS, DS, glue) so
// that a secondary of the parent alone refers to the child; the parent's
// glue for a name server inside the child is not signed.
func TestParentAndChildZones(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"www.example.org", "A", "192.0.2.1", nil},
		{"www.sub.example.org", "A", "192.0.2.2", nil},
		{"ns1.sub.example.org", "A", "192.0.2.53", nil},
	})
	dir := t.TempDir()
	parent, parentKey := writeKey(t, dir, "example.org.", dns.ED25519)
	child, childKey := writeKey(t, dir, "sub.example.org.", dns.ED25519)
	anchors := filepath.Join(dir, "anchors.conf")
	if err := os.WriteFile(anchors, []byte(dnskey.Anchor(parentKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCorefile(t, `example.org:{DNS} sub.example.org:{DNS} {
	transfer {
		to *
	}
	dbrecords {
		dsn `+dsn+`
		refresh 1s
		ns ns1.sub.example.org
		key file `+parent+` `+child+`
	}
	prometheus {METRICS}
	ready {READY}
}
`)
	s.waitReady(t)

	checkDelv(t, s, anchors, "www.sub.example.org", "A", "192.0.2.2")
	checkDelv(t, s, anchors, "www.example.org", "A", "192.0.2.1")
	checkDelv(t, s, anchors, "sub.example.org", "DS", fmt.Sprintf("DS %d 15 2", childKey.KeyTag()))

	// The DS comes from the parent: its signer is example.org.
	m := new(dns.Msg)
	m.SetQuestion("sub.example.org.", dns.TypeDS)
	m.SetEdns0(1232, true)
	r, err := dns.Exchange(m, s.dns)
	if err != nil || len(r.Answer) != 2 {
		t.Fatalf("Expected the DS and its signature, got %v (%v)", r, err)
	}
	if sig, ok := r.Answer[1].(*dns.RRSIG); !ok || sig.SignerName != "example.org." || sig.Verify(parentKey, r.Answer[:1]) != nil {
		t.Errorf("Expected the DS signed by the parent, got %v", r.Answer)
	}

	// The parent's NS answer: glue inside the child, unsigned.
	m = new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeNS)
	m.SetEdns0(1232, true)
	if r, err := dns.Exchange(m, s.dns); err != nil || len(r.Extra) == 0 {
		t.Errorf("Expected glue for ns1.sub.example.org, got %v (%v)", r, err)
	} else {
		for _, rr := range r.Extra {
			if rr.Header().Rrtype == dns.TypeRRSIG {
				t.Errorf("Expected glue below the cut unsigned, got %v", rr)
			}
		}
	}

	// The parent's AXFR: the cut, and none of the child's own names.
	rrs, err := xfr(t, s.dns, "example.org.", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var cut []string
	for _, rr := range rrs {
		switch h := rr.Header(); {
		case h.Name == "www.sub.example.org.":
			t.Errorf("Expected the child's names out of the parent's AXFR, got %v", rr)
		case h.Name == "sub.example.org." || h.Name == "ns1.sub.example.org.":
			cut = append(cut, dns.TypeToString[h.Rrtype])
		}
	}
	if strings.Join(cut, " ") != "NS DS A" {
		t.Errorf("Expected the cut NS, DS and glue A in the parent's AXFR, got %v", cut)
	}

	// The glue is in the parent's transfers, so a change of it is a change
	// of the parent: a new serial, and an IXFR that carries it.
	serial := soaSerial(t, s, "example.org.")
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.54' WHERE name = 'ns1.sub.example.org'")
	waitFor(t, 5*time.Second, "the new glue", func() bool { return answerA(t, s, "ns1.sub.example.org.") == "192.0.2.54" })
	if now := soaSerial(t, s, "example.org."); !serialLess(serial, now) {
		t.Fatalf("Expected the parent's serial to move with its glue, got %d after %d", now, serial)
	}
	diff, err := xfr(t, s.dns, "example.org.", serial, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(diff), "192.0.2.54") {
		t.Errorf("Expected the parent's IXFR to carry the new glue, got %v", diff)
	}
}

// TestRSAKeyWarned: an RSA key works, and start-up warns that signing a
// black lie per query makes a flood of missing names expensive.
func TestRSAKeyWarned(t *testing.T) {
	_, dsn := newDB(t)
	base, _ := writeKey(t, t.TempDir(), "example.org.", dns.RSASHA256)
	s := startCorefile(t, serverBlock(dsn, "key file "+base))
	s.waitReady(t)
	if out := s.out.String(); !strings.Contains(out, "[WARNING] plugin/dbrecords: Key") || !strings.Contains(out, "prefer ED25519") {
		t.Errorf("Expected a warning about the RSA key, got:\n%s", out)
	}
}
