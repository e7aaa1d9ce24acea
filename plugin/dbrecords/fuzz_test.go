package dbrecords

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary packets to the handler, unsigned and signed:
// it must not panic, and any reply it writes must pack and unpack again, as
// a client reads it. Seeds are in testdata/fuzz/FuzzServeDNS.
func FuzzServeDNS(f *testing.F) {
	long := strings.Repeat(strings.Repeat("x", 62)+".", 3) // 189 octets of labels
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.org.", dns.TypeA}, {"a.b.wild.example.org.", dns.TypeAAAA},
		{"example.org.", dns.TypeNS}, {"ent.example.org.", dns.TypeANY}, {"\\000.example.net.", dns.TypeSOA},
		{"example.org.", dns.TypeRRSIG}, {"nope.example.org.", dns.TypeNSEC}, {"www.example.org.", dns.TypeNXNAME},
		{strings.Repeat("a", 51) + "." + long + "example.org.", dns.TypeA}, // 254 octets
		{strings.Repeat("a", 52) + "." + long + "example.org.", dns.TypeA}, // 255 octets
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(4096, true)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	plain := newTestPlugin(fixtureRows())
	signed, _ := signedPlugin(f, dns.ED25519, 257)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil || len(m.Question) != 1 {
			return // the server drops these before any plugin sees them
		}
		for _, d := range []*DBRecords{plain, signed} {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			d.ServeDNS(context.Background(), rec, m.Copy())
			if rec.Msg == nil {
				continue
			}
			b, err := rec.Msg.Pack()
			if err != nil {
				t.Fatalf("Expected a reply that packs, got %v for %v", err, m.Question[0])
			}
			if err := new(dns.Msg).Unpack(b); err != nil {
				t.Fatalf("Expected a reply a client can read, got %v for %v", err, m.Question[0])
			}
		}
	})
}

// FuzzParseRow feeds arbitrary rows to the row parser and the store: a row is
// either rejected or served under the name it was parsed to.
func FuzzParseRow(f *testing.F) {
	f.Add("www.example.org", "A", "192.0.2.1", int64(60), false)
	f.Add("*.Example.ORG.", "aaaa", "2001:db8::1", int64(0), true)
	f.Add("a..example.org", "A", "::ffff:192.0.2.1", int64(-1), false)
	f.Add("x.example.net", "MX", "fe80::1%eth0", int64(1<<40), false)
	zones := records.NewZoneSet([]string{"example.org.", "example.net."}, nil)
	f.Fuzz(func(t *testing.T, name, typ, content string, ttl int64, null bool) {
		sr, reason := records.Parse(records.Row{Name: name, Type: typ, Content: content, TTL: ttl, TTLNull: null}, zones, 60)
		if reason != records.Valid {
			return
		}
		if !records.ValidName(records.NameKey(sr.FQDN)) || zones.Match(sr.FQDN) != sr.Zone {
			t.Fatalf("Expected a valid name in zone %d, got %q in zone %d", zones.Match(sr.FQDN), sr.FQDN, sr.Zone)
		}
		b := store.NewFullBuilder(0, nil)
		b.Add(sr.FQDN, zones.List[sr.Zone].Name, sr.Rec)
		s := b.Finish()
		if e, ok := s.Get(sr.FQDN); !ok || e.Count() != 1 {
			t.Fatalf("Expected %q to be served, got %v", sr.FQDN, e)
		}
	})
}

// FuzzDSNRedaction builds DSNs of every shape around a password and checks
// that no start-up error repeats it.
func FuzzDSNRedaction(f *testing.F) {
	f.Add("dbrecords", "s3cret", "tcp(127.0.0.1:3306)/dns", 0)
	f.Add("dbrecords", "s3cret", "/dns", 1)
	f.Add("dbrecords", "s3cret", "-tcp(127.0.0.1:3306)/dns", 1)
	f.Add("u", "p@ss", "tcp(db:3306/dns", 0)
	f.Add("u", "x", "tcp(db)/r?timeout=soon", 0)
	clean := func(s, allowed string) string {
		return strings.Map(func(r rune) rune {
			if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(allowed, r)) {
				return r
			}
			return -1
		}, s)
	}
	f.Fuzz(func(t *testing.T, user, pass, rest string, shape int) {
		user, rest = clean(user, "_-"), clean(rest, ":@()/.?=&-_")
		pass = "Zq9" + clean(pass, ":@()/.-_")
		var dsn string
		switch shape % 3 {
		case 0:
			dsn = user + ":" + pass + "@" + rest
		case 1:
			dsn = user + ":" + pass + rest
		default:
			dsn = pass + rest
		}
		c := caddy.NewTestController("dns", "dbrecords {\n dsn "+dsn+"\n}")
		c.ServerBlockKeys = []string{"example.org."}
		if _, err := parse(c); err != nil && strings.Contains(err.Error(), pass) {
			t.Fatalf("Expected the password %q to be absent from the error, got %q", pass, err)
		}
	})
}
