package dbrecords

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// signedPlugin serves the fixture with example.org signed by keys of alg.
func signedPlugin(t testing.TB, alg uint8, flags ...uint16) (*DBRecords, []*dns.DNSKEY) {
	t.Helper()
	dir := t.TempDir()
	cfg := &config{zones: []string{"example.org.", "example.net."}, ttl: 60, negativeTTL: 30, ns: []string{"ns1.example.org.", "ns2.example.org."}}
	var pub []*dns.DNSKEY
	for _, f := range flags {
		k := testKey(t, dir, alg, f)
		cfg.keys = append(cfg.keys, k)
		pub = append(pub, k.RR)
	}
	d := New(cfg)
	l := &loader{zones: d.zones, signers: d.signers}
	b := l.signing(store.NewFullBuilder(0, []store.Version{{Zone: d.zones.List[0], Serial: 7}, {Zone: d.zones.List[1], Serial: 7}}))
	for _, r := range fixtureRows() {
		if sr, reason := records.Parse(r, d.zones, 60); reason == records.Valid {
			b.Add(sr.FQDN, d.zones.List[sr.Zone].Name, sr.Rec)
		}
	}
	d.serve(b.Finish())
	d.Next = test.ErrorHandler()
	return d, pub
}

// askDO queries d with the DO bit.
func askDO(t *testing.T, d *DBRecords, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.SetEdns0(4096, true)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatal(err)
	}
	return rec.Msg
}

// verifySection checks that every RRset of rrs (but RRSIGs) has a signature
// by one of keys that verifies now, and returns the types signed.
func verifySection(t *testing.T, what string, rrs []dns.RR, keys []*dns.DNSKEY) []uint16 {
	t.Helper()
	sets := map[string][]dns.RR{}
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
			continue
		}
		k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
		sets[k] = append(sets[k], rr)
	}
	var types []uint16
	for k, set := range sets {
		ok := false
		for _, s := range sigs {
			if strings.ToLower(s.Header().Name)+"/"+dns.TypeToString[s.TypeCovered] != k {
				continue
			}
			for _, key := range keys {
				if key.KeyTag() == s.KeyTag && s.Verify(key, set) == nil && s.ValidityPeriod(time.Now()) {
					ok = true
				}
			}
			if s.Hdr.Ttl != set[0].Header().Ttl {
				t.Errorf("%s: expected the RRSIG over %s to have the RRset's TTL %d, got %d", what, k, set[0].Header().Ttl, s.Hdr.Ttl)
			}
		}
		if !ok {
			t.Errorf("%s: expected a valid signature over %s, got none among %v", what, k, sigs)
		}
		types = append(types, set[0].Header().Rrtype)
	}
	return types
}

// TestSignedAnswers: with keys, every answer to a DO query is signed and
// verifies against the zone's DNSKEYs: positive, wildcard, NODATA at a
// name and at an empty non-terminal, a name that does not exist (black
// lies), and the apex SOA, NS and DNSKEY; with ECDSA P-256 and Ed25519, one
// key or a KSK/ZSK pair.
func TestSignedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alg   uint8
		flags []uint16
	}{
		{"P-256 CSK", dns.ECDSAP256SHA256, []uint16{257}},
		{"Ed25519 CSK", dns.ED25519, []uint16{257}},
		{"P-256 KSK+ZSK", dns.ECDSAP256SHA256, []uint16{257, 256}},
		{"P-384 CSK", dns.ECDSAP384SHA384, []uint16{257}},
		{"RSA/SHA-256 CSK", dns.RSASHA256, []uint16{257}}, // signed through miekg/dns
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, keys := signedPlugin(t, tc.alg, tc.flags...)
			for _, q := range []struct {
				qname string
				qtype uint16
				rcode int
				want  string // "answer" or the NSEC's type list
			}{
				{"www.example.org.", dns.TypeA, 0, "answer"},
				{"WWW.example.ORG.", dns.TypeAAAA, 0, "answer"},
				{"host.wild.example.org.", dns.TypeAAAA, 0, "answer"},
				{"anything.wild.example.org.", dns.TypeA, 0, "answer"},
				{"example.org.", dns.TypeA, 0, "answer"},
				{"example.org.", dns.TypeSOA, 0, "answer"},
				{"example.org.", dns.TypeNS, 0, "answer"},
				{"example.org.", dns.TypeDNSKEY, 0, "answer"},
				{"v4only.example.org.", dns.TypeAAAA, 0, "A RRSIG NSEC"},
				{"V4only.Example.ORG.", dns.TypeAAAA, 0, "A RRSIG NSEC"},
				{"NOPE.example.ORG.", dns.TypeA, 0, "RRSIG NSEC NXNAME"},
				{"*.nope.example.org.", dns.TypeA, 0, "RRSIG NSEC NXNAME"},
				{"ent.example.org.", dns.TypeA, 0, "RRSIG NSEC"},
				{"anything.wild.example.org.", dns.TypeAAAA, 0, "A RRSIG NSEC"},
				{"nope.example.org.", dns.TypeA, 0, "RRSIG NSEC NXNAME"},
				{"example.org.", dns.TypeSRV, 0, "A NS SOA MX TXT RRSIG NSEC DNSKEY CAA"},
				{"example.org.", dns.TypeMX, 0, "answer"},
				{"example.org.", dns.TypeCAA, 0, "answer"},
				{"_acme-challenge.example.org.", dns.TypeTXT, 0, "answer"},
				{"_sip._udp.example.org.", dns.TypeSRV, 0, "answer"},
				{"chain.example.org.", dns.TypeA, 0, "answer"},
				{"app.cw.example.org.", dns.TypeA, 0, "answer"},
				{"signed.example.org.", dns.TypeDS, 0, "answer"},
				{"sub.example.org.", dns.TypeDS, 0, "NS RRSIG NSEC"},
			} {
				r := askDO(t, d, q.qname, q.qtype)
				what := q.qname + " " + dns.TypeToString[q.qtype]
				if r.Rcode != q.rcode {
					t.Errorf("%s: expected rcode %d, got %d", what, q.rcode, r.Rcode)
				}
				if q.want == "answer" {
					if len(r.Answer) == 0 {
						t.Errorf("%s: expected an answer, got %v", what, r)
						continue
					}
					verifySection(t, what, r.Answer, keys)
					if strings.HasPrefix(q.qname, "anything.wild.") || strings.HasPrefix(q.qname, "app.cw.") {
						// From the wildcard: the proof that no closer name exists.
						if types := verifySection(t, what, r.Ns, keys); len(types) != 1 || types[0] != dns.TypeNSEC {
							t.Errorf("%s: expected a signed NSEC covering the name, got %v", what, r.Ns)
						}
					} else if len(r.Ns) != 0 {
						t.Errorf("%s: expected nothing in the authority section of an answer, got %v", what, r.Ns)
					}
					continue
				}
				types := verifySection(t, what, r.Ns, keys)
				if !slices.Contains(types, dns.TypeSOA) || !slices.Contains(types, dns.TypeNSEC) {
					t.Errorf("%s: expected a signed SOA and NSEC, got %v", what, r.Ns)
				}
				for _, rr := range r.Ns {
					if n, ok := rr.(*dns.NSEC); ok {
						var got []string
						for _, bt := range n.TypeBitMap {
							got = append(got, dns.TypeToString[bt])
						}
						if !strings.EqualFold(n.Hdr.Name, q.qname) || n.NextDomain != `\000.`+n.Hdr.Name || strings.Join(got, " ") != q.want {
							t.Errorf("%s: expected NSEC %s -> \\000.%s with %s, got %v", what, q.qname, q.qname, q.want, n)
						}
					}
				}
			}
			// NSEC and RRSIG queries at a name get them as the answer.
			if r := askDO(t, d, "v4only.example.org.", dns.TypeNSEC); len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeNSEC || len(r.Ns) != 0 {
				t.Errorf("Expected the NSEC and its signature as the answer to an NSEC query, got %v", r)
			} else {
				verifySection(t, "NSEC query", r.Answer, keys)
			}
			if r := askDO(t, d, "www.example.org.", dns.TypeRRSIG); len(r.Answer) < 3 || len(r.Ns) != 0 {
				t.Errorf("Expected the name's RRSIGs as the answer to an RRSIG query, got %v", r)
			}
			if r := askDO(t, d, "example.org.", dns.TypeNS); len(r.Extra) == 0 {
				t.Error("Expected glue with the NS answer")
			} else {
				verifySection(t, "glue", r.Extra, keys)
			}
			// Without DO: no DNSSEC records.
			m := new(dns.Msg)
			m.SetQuestion("www.example.org.", dns.TypeA)
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			d.ServeDNS(context.Background(), rec, m)
			for _, rr := range rec.Msg.Answer {
				if rr.Header().Rrtype == dns.TypeRRSIG {
					t.Errorf("Expected no RRSIG without DO, got %v", rr)
				}
			}
			// The other zone has no key: unsigned.
			if r := askDO(t, d, "a.example.net.", dns.TypeA); len(r.Answer) != 1 {
				t.Errorf("Expected an unsigned zone's answer alone, got %v", r.Answer)
			}
		})
	}
}

// TestSignaturesFollowChanges: a changed or deleted name is never served
// with its old signature; renewal re-signs entries close to expiry.
func TestSignaturesFollowChanges(t *testing.T) {
	d, keys := signedPlugin(t, dns.ECDSAP256SHA256, 257)
	l := &loader{zones: d.zones, signers: d.signers, cur: d.snapshot(), publish: d.serve}
	b := l.signing(store.NewBuilder(l.cur))
	b.Set("www.example.org.", "example.org.", []records.Record{records.AddrRecord(netip.MustParseAddr("192.0.2.77"), 60)})
	b.Set("v4only.example.org.", "example.org.", nil)
	d.serve(b.Finish())
	r := askDO(t, d, "www.example.org.", dns.TypeA)
	if len(r.Answer) != 2 || !strings.Contains(r.Answer[0].String(), "192.0.2.77") {
		t.Fatalf("Expected the new address and its signature, got %v", r.Answer)
	}
	verifySection(t, "changed", r.Answer, keys)
	r = askDO(t, d, "v4only.example.org.", dns.TypeA)
	if len(r.Answer) != 0 {
		t.Errorf("Expected the deleted name to have no answer, got %v", r.Answer)
	}
	verifySection(t, "deleted", r.Ns, keys)

	// Renewal keeps its own clock: with signatures three weeks on and one
	// renewal a day later (a refresh of a day), every entry is renewed.
	s := d.signers[0]
	before, _ := d.snapshot().Get("www.example.org.")
	s.Now = func() time.Time { return time.Now().Add(21 * 24 * time.Hour) }
	defer func() { s.Now = time.Now }()
	l.cur = d.snapshot()
	clock := t0
	l.now = func() time.Time { return clock }
	l.renew()
	if after, _ := d.snapshot().Get("www.example.org."); after.Sigs != before.Sigs {
		t.Fatal("Expected the first renewal only to start the clock")
	}
	clock = clock.Add(renewSweep)
	l.renew()
	after, _ := d.snapshot().Get("www.example.org.")
	if after.Sigs == before.Sigs || s.NeedsRenewal(&after) {
		t.Error("Expected the entry re-signed with a later expiration")
	}
}

// TestRenewalShare: each renewal looks at the share of the buckets that the
// time since the last one is of renewSweep.
func TestRenewalShare(t *testing.T) {
	d, _ := signedPlugin(t, dns.ED25519, 257)
	clock := t0
	l := &loader{zones: d.zones, signers: d.signers, cur: d.snapshot(), publish: d.serve, now: func() time.Time { return clock }}
	l.renew()
	n := uint64(l.cur.Buckets())
	clock = clock.Add(renewSweep / 4)
	l.renew()
	if want := (n + 3) / 4; l.renewAt != want%n {
		t.Errorf("Expected a quarter of %d buckets looked at after a quarter of the sweep, got to bucket %d", n, l.renewAt)
	}
}

// TestRereadKeepsSignatures: a full re-read re-signs nothing unchanged, and
// signs what changed.
func TestRereadKeepsSignatures(t *testing.T) {
	d, keys := signedPlugin(t, dns.ED25519, 257)
	src := newFakeSource()
	src.commitOne("a.example.org", "192.0.2.1")
	src.commitOne("b.example.org", "192.0.2.2")
	tl := newTestLoader(src)
	tl.zones, tl.signers = d.zones, d.signers
	tl.load(t)
	a0, _ := tl.cur.Get("a.example.org.")
	src.commitOne("b.example.org", "192.0.2.3")
	tl.reread(t, reasonReconcile)
	a1, _ := tl.cur.Get("a.example.org.")
	b1, _ := tl.cur.Get("b.example.org.")
	if a1.Sigs != a0.Sigs {
		t.Error("Expected an unchanged name to keep its signatures over a re-read")
	}
	d.serve(tl.cur)
	r := askDO(t, d, "b.example.org.", dns.TypeA)
	if len(r.Answer) != 2 || b1.Sigs == "" {
		t.Fatalf("Expected the changed name signed, got %v", r.Answer)
	}
	verifySection(t, "re-read", r.Answer, keys)
}

// ask queries d, with the DO bit when do.
func ask(t *testing.T, d *DBRecords, qname string, qtype uint16, do bool) (int, *dns.Msg) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if do {
		m.SetEdns0(4096, true)
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, err := d.ServeDNS(context.Background(), rec, m)
	if err != nil {
		t.Fatal(err)
	}
	return rcode, rec.Msg
}

// types lists the types of rrs, in order.
func types(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype])
	}
	return strings.Join(out, " ")
}

// TestSignedDelegations: a referral from a signed zone carries the cut's NS
// RRset unsigned, with the signed DS of a signed child or the signed NSEC
// that proves an insecure one (RFC 4035 section 3.1.4), and unsigned glue.
func TestSignedDelegations(t *testing.T) {
	d, keys := signedPlugin(t, dns.ECDSAP256SHA256, 257)
	for _, q := range []struct {
		qname string
		want  uint16 // what proves the child's status: DS or NSEC
	}{
		{"sub.example.org.", dns.TypeNSEC},
		{"deep.below.sub.example.org.", dns.TypeNSEC},
		{"www.signed.example.org.", dns.TypeDS},
	} {
		r := askDO(t, d, q.qname, dns.TypeA)
		if r.Authoritative || len(r.Answer) != 0 {
			t.Errorf("%s: expected a referral (no AA, no answer), got %v", q.qname, r)
			continue
		}
		var signed, ns []dns.RR
		for _, rr := range r.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				ns = append(ns, rr)
			} else {
				signed = append(signed, rr)
			}
		}
		if types := verifySection(t, q.qname, signed, keys); len(types) != 1 || types[0] != q.want {
			t.Errorf("%s: expected a signed %s in the referral, got %v", q.qname, dns.TypeToString[q.want], r.Ns)
		}
		for _, rr := range slices.Concat(r.Ns, r.Extra) {
			if sig, ok := rr.(*dns.RRSIG); ok && (sig.TypeCovered == dns.TypeNS || sig.TypeCovered == dns.TypeA) {
				t.Errorf("%s: expected the NS RRset and the glue unsigned, got %s", q.qname, sig)
			}
		}
		if len(ns) == 0 {
			t.Errorf("%s: expected the cut's NS RRset, got %v", q.qname, r.Ns)
		}
	}
}

// TestSignedQueryTypes: DNSKEY, NSEC and RRSIG are zone data, answered with
// or without DO (RFC 4035 section 3.1), and never denied by an NSEC that
// lists them; ANY gets one signed RRset; NXNAME is FORMERR; the black lie
// of the longest names still fits in a name.
func TestSignedQueryTypes(t *testing.T) {
	d, keys := signedPlugin(t, dns.ECDSAP256SHA256, 257, 256)
	for _, q := range []struct {
		qname string
		qtype uint16
		do    bool
		want  string // the answer section's types
	}{
		{"example.org.", dns.TypeDNSKEY, false, "DNSKEY DNSKEY"},
		{"example.org.", dns.TypeNSEC, false, "NSEC"},
		{"example.org.", dns.TypeNSEC, true, "NSEC RRSIG"},
		{"www.example.org.", dns.TypeNSEC, false, "NSEC"},
		{"www.example.org.", dns.TypeNSEC, true, "NSEC RRSIG"},
		{"ent.example.org.", dns.TypeNSEC, true, "NSEC RRSIG"},
		{"anything.wild.example.org.", dns.TypeNSEC, true, "NSEC RRSIG"},
		{"nope.example.org.", dns.TypeNSEC, true, "NSEC RRSIG"},
		{"example.org.", dns.TypeRRSIG, true, "RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG"}, // SOA, NS, DNSKEY (by the KSK), NSEC, A, MX, TXT, CAA
		{"example.org.", dns.TypeRRSIG, false, "RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG RRSIG"},
		{"www.example.org.", dns.TypeRRSIG, true, "RRSIG RRSIG RRSIG"},
		{"anything.wild.example.org.", dns.TypeRRSIG, true, "RRSIG RRSIG"},
		{"nope.example.org.", dns.TypeRRSIG, true, "RRSIG"},
		{"www.example.org.", dns.TypeANY, true, "A A RRSIG"},
		{"example.org.", dns.TypeANY, true, "SOA RRSIG"},
		{"example.org.", dns.TypeANY, false, "SOA"},
	} {
		what := q.qname + " " + dns.TypeToString[q.qtype]
		if q.do {
			what += " +dnssec"
		}
		_, r := ask(t, d, q.qname, q.qtype, q.do)
		if r.Rcode != dns.RcodeSuccess || types(r.Answer) != q.want || len(r.Ns) != 0 {
			t.Errorf("%s: expected NOERROR with %s and no authority, got %s with %q %v", what, q.want, dns.RcodeToString[r.Rcode], types(r.Answer), r.Ns)
			continue
		}
		if q.do && q.qtype != dns.TypeRRSIG {
			verifySection(t, what, r.Answer, keys)
		}
		for _, rr := range r.Answer {
			if n, ok := rr.(*dns.NSEC); ok && !slices.Contains(n.TypeBitMap, dns.TypeNSEC) {
				t.Errorf("%s: expected the NSEC to list NSEC, got %v", what, n)
			}
		}
	}
	// An RRSIG query is answered with signatures that verify.
	_, r := ask(t, d, "www.example.org.", dns.TypeRRSIG, true)
	_, a := ask(t, d, "www.example.org.", dns.TypeA, true)
	_, aaaa := ask(t, d, "www.example.org.", dns.TypeAAAA, true)
	_, nsec := ask(t, d, "www.example.org.", dns.TypeNSEC, true)
	var rrsets []dns.RR
	for _, m := range []*dns.Msg{a, aaaa, nsec} {
		for _, rr := range m.Answer {
			if rr.Header().Rrtype != dns.TypeRRSIG {
				rrsets = append(rrsets, rr)
			}
		}
	}
	verifySection(t, "www RRSIG query", append(rrsets, r.Answer...), keys)

	if rcode, r := ask(t, d, "www.example.org.", dns.TypeNXNAME, true); rcode != dns.RcodeFormatError || r != nil {
		t.Errorf("Expected FORMERR for an NXNAME query, got %s", dns.RcodeToString[rcode])
	}

	// 254 and 255 octets in wire form: \000.name would not fit.
	long := strings.Repeat(strings.Repeat("x", 62)+".", 3)
	for _, qname := range []string{strings.Repeat("a", 51) + "." + long + "example.org.", strings.Repeat("a", 52) + "." + long + "example.org."} {
		_, r := ask(t, d, qname, dns.TypeA, true)
		b, err := r.Pack()
		if err == nil {
			err = new(dns.Msg).Unpack(b)
		}
		if err != nil {
			t.Errorf("Expected the black lie for a %d-octet name to pack and unpack, got %v", len(qname)+1, err)
			continue
		}
		verifySection(t, "long black lie", r.Ns, keys)
	}
}

// TestEmptyNonTerminalAboveChild: with example.org and sub.deep.example.org
// in one block, deep.example.org exists in the parent (a child zone lies
// below it): NODATA, never NXDOMAIN (RFC 8020 would hide the child) nor an
// answer from the parent's wildcard; signed, its NSEC lists RRSIG and NSEC.
func TestEmptyNonTerminalAboveChild(t *testing.T) {
	k := testKey(t, t.TempDir(), dns.ED25519, 257)
	cfg := &config{zones: []string{"example.org.", "sub.deep.example.org."}, ttl: 60, negativeTTL: 30, keys: []*dnssec.Key{k}}
	d := New(cfg)
	l := &loader{zones: d.zones, signers: d.signers}
	b := l.signing(store.NewFullBuilder(0, []store.Version{{Zone: d.zones.List[0], Serial: 1}, {Zone: d.zones.List[1], Serial: 1}}))
	b.Add("*.example.org.", "example.org.", records.AddrRecord(netip.MustParseAddr("192.0.2.9"), 60))
	d.serve(b.Finish())
	for _, do := range []bool{false, true} {
		m := new(dns.Msg)
		m.SetQuestion("deep.example.org.", dns.TypeA)
		if do {
			m.SetEdns0(1232, true)
		}
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		d.ServeDNS(context.Background(), rec, m)
		r := rec.Msg
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) == 0 {
			t.Fatalf("do=%v: expected NODATA, got %v", do, r)
		}
		if !do {
			continue
		}
		verifySection(t, "ENT above a child", r.Ns, []*dns.DNSKEY{k.RR})
		for _, rr := range r.Ns {
			if n, ok := rr.(*dns.NSEC); ok && (n.Hdr.Name != "deep.example.org." || !slices.Equal(n.TypeBitMap, []uint16{dns.TypeRRSIG, dns.TypeNSEC})) {
				t.Errorf("Expected deep.example.org's NSEC with RRSIG NSEC, got %v", n)
			}
		}
	}
}
