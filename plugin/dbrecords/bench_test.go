package dbrecords

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

const benchNames = 1000000

var (
	benchOnce sync.Once
	benchSnap *store.Snapshot
)

// benchSnapshot holds app-<i>.example.org for i < benchNames (A, and AAAA for
// every 4th), a wildcard and an empty non-terminal, like `make bench`'s data.
func benchSnapshot() *store.Snapshot {
	benchOnce.Do(func() {
		zones := records.NewZoneSet([]string{"example.org."}, nil)
		b := store.NewFullBuilder(benchNames, []store.Version{{Zone: zones.List[0], Serial: 1}})
		for i := range benchNames {
			name := fmt.Sprintf("app-%d.example.org.", i)
			b.Add(name, "example.org.", records.AddrRecord(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 60))
			if i%4 == 0 {
				b.Add(name, "example.org.", records.AddrRecord(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}), 60))
			}
		}
		b.Add("*.wild.example.org.", "example.org.", records.AddrRecord(netip.MustParseAddr("192.0.2.5"), 60))
		b.Add("host.ent.example.org.", "example.org.", records.AddrRecord(netip.MustParseAddr("192.0.2.6"), 60))
		for i := range 2000 { // a name as large as a name gets
			b.Add("big.example.org.", "example.org.", records.AddrRecord(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 60))
		}
		benchSnap = b.Finish()
	})
	return benchSnap
}

// BenchmarkServeDNS measures the query path at a million names; allocs/op is
// what one answer costs beyond the request.
func BenchmarkServeDNS(b *testing.B) {
	d := New(&config{zones: []string{"example.org."}, ttl: 60, negativeTTL: 30})
	d.serve(benchSnapshot())
	benchQueries(b, d, "", false, &test.ResponseWriter{}, []benchQuery{
		{"hit", "app-123456.example.org.", dns.TypeA},
		{"hit-aaaa", "app-123456.example.org.", dns.TypeAAAA},
		{"nxdomain", "rnd-5f3a9c.example.org.", dns.TypeA},
		{"nodata", "app-123457.example.org.", dns.TypeAAAA},
		{"wildcard", "x.wild.example.org.", dns.TypeA},
		{"ent", "ent.example.org.", dns.TypeA},
		{"big-udp", "big.example.org.", dns.TypeA}, // TC, nothing built
	})
	benchQueries(b, d, "", false, &test.ResponseWriter{TCP: true}, []benchQuery{
		{"big-tcp", "big.example.org.", dns.TypeA}, // all 2,000 built
	})
}

// benchQuery is one question a benchmark asks over and over.
type benchQuery struct {
	name, qname string
	qtype       uint16
}

// benchQueries runs a sub-benchmark per query, answered by d into w; do sets
// the DO bit.
func benchQueries(b *testing.B, d *DBRecords, prefix string, do bool, w dns.ResponseWriter, qs []benchQuery) {
	for _, q := range qs {
		b.Run(prefix+q.name, func(b *testing.B) {
			m := new(dns.Msg)
			m.SetQuestion(q.qname, q.qtype)
			if do {
				m.SetEdns0(1232, true)
			}
			b.ReportAllocs()
			for b.Loop() {
				d.ServeDNS(context.Background(), w, m)
			}
		})
	}
}

// BenchmarkApplyBatch applies 1,000 changed names to a million-name snapshot,
// as one poll after a burst of writes would.
func BenchmarkApplyBatch(b *testing.B) {
	snap := benchSnapshot()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		nb := store.NewBuilder(snap)
		for range 1000 {
			i = (i + 7919) % benchNames
			nb.Set(fmt.Sprintf("app-%d.example.org.", i), "example.org.", []records.Record{records.AddrRecord(netip.AddrFrom4([4]byte{10, 1, 2, byte(i)}), 60)})
		}
		nb.Finish()
	}
}

// packingWriter packs what it is given, as the server would.
type packingWriter struct{ test.ResponseWriter }

func (w *packingWriter) WriteMsg(m *dns.Msg) error {
	_, err := m.Pack()
	return err
}

// BenchmarkServeDNSSigned measures signed answers (DO set) over 10,000
// signed names, packing included: hits and NODATA use the signatures kept
// with the entries, NXDOMAIN signs an NSEC per query.
func BenchmarkServeDNSSigned(b *testing.B) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519} {
		k := testKey(b, b.TempDir(), alg, 257)
		d := New(&config{zones: []string{"example.org."}, ttl: 60, negativeTTL: 30, keys: []*dnssec.Key{k}})
		l := &loader{zones: d.zones, signers: d.signers}
		nb := l.signing(store.NewFullBuilder(10000, []store.Version{{Zone: d.zones.List[0], Serial: 1}}))
		for i := range 10000 {
			nb.Add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", records.AddrRecord(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 60))
		}
		for i := range 2000 { // a wildcard as large as a name gets
			nb.Add("*.big.example.org.", "example.org.", records.AddrRecord(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 60))
		}
		d.serve(nb.Finish())
		// What a random name under the large wildcard cost when the RRset
		// was signed for each answer.
		rrs := d.snapshot()
		e, _ := rrs.Find("x.big.example.org.", "example.org.")
		set := e.RRs("x.big.example.org.", dns.TypeA)
		b.Run(dns.AlgorithmToString[alg]+"/sign-2000-per-answer", func(b *testing.B) {
			for b.Loop() {
				d.signers[0].SignNow(set, "example.org.")
			}
		})
		benchQueries(b, d, dns.AlgorithmToString[alg]+"/", true, &packingWriter{}, []benchQuery{
			{"hit", "app-1234.example.org.", dns.TypeA},
			{"nodata", "app-1234.example.org.", dns.TypeTXT},
			{"nxdomain", "rnd-5f3a9c.example.org.", dns.TypeA},
		})
		benchQueries(b, d, dns.AlgorithmToString[alg]+"/", true, &packingWriter{test.ResponseWriter{TCP: true}}, []benchQuery{
			{"wildcard-2000", "rnd-5f3a9c.big.example.org.", dns.TypeA}, // over TCP: all 2,000, the wildcard's signatures
		})
	}
}
