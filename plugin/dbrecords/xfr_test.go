package dbrecords

import (
	"context"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// transferred runs a transfer of zone from serial and returns every RR sent.
func transferred(t *testing.T, d *DBRecords, zone string, serial uint32) []dns.RR {
	t.Helper()
	ch, err := d.Transfer(zone, serial)
	if err != nil {
		t.Fatalf("Expected a transfer of %s, got %v", zone, err)
	}
	var rrs []dns.RR
	for batch := range ch {
		rrs = append(rrs, batch...)
	}
	return rrs
}

// zoneSet returns the RRs of an AXFR between its SOAs, as text.
func axfrSet(t *testing.T, rrs []dns.RR) map[string]bool {
	t.Helper()
	if len(rrs) < 2 || rrs[0].Header().Rrtype != dns.TypeSOA || !dns.IsDuplicate(rrs[0], rrs[len(rrs)-1]) {
		t.Fatalf("Expected an AXFR framed by two equal SOAs, got %d RRs starting %v", len(rrs), rrs[:min(2, len(rrs))])
	}
	set := map[string]bool{}
	for _, rr := range rrs[1 : len(rrs)-1] {
		if set[rr.String()] {
			t.Errorf("Expected every RR once, got %s twice", rr)
		}
		set[rr.String()] = true
	}
	return set
}

// TestAXFRModel: the AXFR of a zone holds exactly what queries answer: every
// RRset of every name of the zone (wildcard owners included, names of other
// zones not), the apex NS, the delegations' NS, and besides that only the
// data below a delegation (glue, and rows the delegation occludes).
func TestAXFRModel(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	for _, zone := range d.cfg.zones {
		got := axfrSet(t, transferred(t, d, zone, 0))
		want := map[string]bool{}
		snap := d.snapshot()
		names := []string{zone}
		for bi := range uint64(snap.Buckets()) { //nolint:gosec // a positive count
			for _, e := range snap.Decode(snap.Bucket(bi)) {
				if d.zones.Match(e.Name()) == d.zones.Match(zone) {
					names = append(names, e.Name())
				}
			}
		}
		for _, name := range names {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeCNAME, dns.TypeTXT, dns.TypeMX, dns.TypeSRV, dns.TypeCAA, dns.TypeDS, dns.TypePTR} {
				m := new(dns.Msg)
				m.SetQuestion(name, qt)
				rec := dnstest.NewRecorder(&test.ResponseWriter{})
				if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
					t.Fatal(err)
				}
				for _, rr := range slices.Concat(rec.Msg.Answer, rec.Msg.Ns) {
					if h := rr.Header(); h.Name == name && h.Rrtype == qt {
						want[rr.String()] = true
					}
				}
			}
		}
		if len(want) < 3 {
			t.Fatalf("Expected the fixture to give answers in %s, got %d", zone, len(want))
		}
		for rr := range want {
			if !got[rr] {
				t.Errorf("%s: expected the AXFR to hold %s (a query answers it), it does not", zone, rr)
			}
		}
		for rr := range got {
			name := strings.Fields(rr)[0]
			if c, ok := snap.Cut(name, zone); ok && name != zone && c.Name() != name {
				continue // glue or occluded: sent, not answered
			}
			if !want[rr] {
				t.Errorf("%s: expected the AXFR to hold only what queries answer, got %s", zone, rr)
			}
		}
	}
	if _, err := d.Transfer("www.example.org.", 0); err != transfer.ErrNotAuthoritative {
		t.Errorf("Expected a name below a zone to be refused as not authoritative, got %v", err)
	}
	if _, err := d.Transfer("example.com.", 0); err != transfer.ErrNotAuthoritative {
		t.Errorf("Expected another zone to be refused as not authoritative, got %v", err)
	}
}

// applyIXFR applies an IXFR answer to the zone content have (as axfrSet
// gives it), as a strict secondary does: deleting an RR it does not hold or
// adding one it holds is an error. It reports whether the answer was
// incremental; a full zone replaces have.
func applyIXFR(t *testing.T, have map[string]bool, rrs []dns.RR) (map[string]bool, bool) {
	t.Helper()
	if len(rrs) == 1 {
		return have, true
	}
	if rrs[1].Header().Rrtype != dns.TypeSOA {
		return axfrSet(t, rrs), false
	}
	out := maps.Clone(have)
	newSOA := rrs[0].(*dns.SOA)
	adding := false
	for _, rr := range rrs[2 : len(rrs)-1] {
		if soa, ok := rr.(*dns.SOA); ok && soa.Serial == newSOA.Serial && !adding {
			adding = true
			continue
		}
		if _, ok := rr.(*dns.SOA); ok {
			t.Fatalf("Expected one difference sequence, got another SOA %v", rr)
		}
		s := rr.String()
		switch {
		case !adding && !out[s]:
			t.Fatalf("Expected deletions of held RRs only, got %s", s)
		case adding && out[s]:
			t.Fatalf("Expected additions of new RRs only, got %s", s)
		}
		out[s] = adding
		if !adding {
			delete(out, s)
		}
	}
	if !adding {
		t.Fatal("Expected the added part of the difference, got none")
	}
	return out, true
}

// TestIXFRProperty: over random change sequences of every type (inserts,
// updates, deletes, renames, delegations, apex NS rows, transactions held
// open across polls so that content changes while the serial waits), applying the IXFR from any version a client could hold
// to that version gives the current AXFR, and the journal answers
// incrementally wherever the serial names one content.
func TestIXFRProperty(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed)) //nolint:gosec // a test
			src := newFakeSource()
			tl := newTestLoader(src)
			zones := []string{"example.org.", "example.net."}
			if seed%2 == 0 { // a child zone in the block: the parent holds its cut
				zones = append(zones, "b.example.org.")
				tl.zones = records.NewZoneSet(zones, nil)
			}
			tl.load(t)
			d := New(&config{zones: zones, ttl: 60, negativeTTL: 30})
			d.zones = tl.zones
			tl.journal = store.DefaultJournal
			if seed%5 == 0 {
				tl.journal = 2048 // evictions
			}
			type held struct {
				serial uint32
				axfr   map[string]bool
			}
			var seen []held
			incremental := 0
			var open []*fakeTx
			for range 40 {
				for range 1 + rng.Intn(4) {
					name := fmt.Sprintf("h%d.%s", rng.Intn(12), []string{"example.org", "example.net", "a.b.example.org"}[rng.Intn(3)])
					if rng.Intn(8) == 0 {
						name = "*.w.example.org"
					}
					var addrs []string
					for range rng.Intn(3) {
						addrs = append(addrs, fmt.Sprintf("192.0.2.%d", rng.Intn(4)))
					}
					if rng.Intn(3) == 0 {
						addrs = append(addrs, fmt.Sprintf("2001:db8::%d", rng.Intn(3)))
					}
					// Every other type, delegations and CNAMEs that Settle
					// may drop beside other rows, and NS rows at the apex.
					for _, other := range []string{`TXT "t%d"`, "MX 10 h%d.example.org", "CNAME h%d.example.org", "NS ns%d.example.net",
						"DS 1234%d 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8"} {
						if rng.Intn(7) == 0 {
							addrs = append(addrs, fmt.Sprintf(other, rng.Intn(3)))
						}
					}
					switch rng.Intn(15) {
					case 0:
						name = "example.org"
					case 1:
						name = "b.example.org"
					case 2:
						name = fmt.Sprintf("ns%d.b.example.org", rng.Intn(3))
					}
					if rng.Intn(7) == 0 {
						addrs = append(addrs, fmt.Sprintf("NS ns%d.b.example.org", rng.Intn(3)))
					}
					if rng.Intn(6) == 0 {
						tx := src.begin(1)
						tx.write(name, addrs...)
						open = append(open, tx)
					} else {
						src.commitOne(name, addrs...)
					}
				}
				if len(open) > 0 && rng.Intn(3) == 0 {
					open[0].commit()
					open = open[1:]
				}
				tl.step(t)
				d.serve(tl.cur)
				now := axfrSet(t, transferred(t, d, "example.org.", 0))
				cur := tl.cur.Zones[0].Serial
				for _, h := range seen {
					rrs := transferred(t, d, "example.org.", h.serial)
					got, incr := applyIXFR(t, h.axfr, rrs)
					if h.serial == cur {
						continue // up to date by serial; the content may still be moving
					}
					if !equalSets(got, now) {
						t.Fatalf("Expected IXFR from %d to give the current zone (serial %d), differs by %v", h.serial, cur, setDiff(got, now))
					}
					if incr {
						incremental++
					}
				}
				seen = append(seen, held{cur, now})
			}
			if incremental == 0 {
				t.Error("Expected some transfers to be incremental, got none")
			}
		})
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func setDiff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, "-"+k)
		}
	}
	for k := range b {
		if !a[k] {
			out = append(out, "+"+k)
		}
	}
	slices.Sort(out)
	return out
}

// TestIXFRAfterOneChange: one changed name gives an IXFR of the four SOAs and
// its two records; the client at our serial gets one SOA; a serial the
// journal never held gets the whole zone.
func TestIXFRAfterOneChange(t *testing.T) {
	src, tl := loaded(t)
	tl.journal = store.DefaultJournal
	src.commitOne("a.example.org", "192.0.2.1")
	tl.step(t)
	d := New(&config{zones: []string{"example.org.", "example.net."}, ttl: 60, negativeTTL: 30})
	d.zones = tl.zones
	d.serve(tl.cur)
	before := tl.cur.Zones[0].Serial
	src.commitOne("a.example.org", "192.0.2.2")
	tl.step(t)
	d.serve(tl.cur)
	got := transferred(t, d, "example.org.", before)
	var texts []string
	for _, rr := range got {
		texts = append(texts, strings.Join(strings.Fields(rr.String()), " "))
	}
	if len(got) != 6 || !strings.Contains(texts[2], "192.0.2.1") || !strings.Contains(texts[4], "192.0.2.2") {
		t.Errorf("Expected SOA, old SOA, the deleted A, SOA, the added A, SOA; got\n%s", strings.Join(texts, "\n"))
	}
	if got := transferred(t, d, "example.org.", tl.cur.Zones[0].Serial); len(got) != 1 {
		t.Errorf("Expected one SOA for a client at our serial, got %d RRs", len(got))
	}
	if got := transferred(t, d, "example.org.", before-1000); len(got) < 3 || got[1].Header().Rrtype == dns.TypeSOA {
		t.Errorf("Expected the whole zone for a serial the journal never held, got %v", got)
	}
}

// TestRRsetDiffTTL: a changed TTL replaces the RRset, since IXFR deletes by
// data and a secondary would keep the old TTL otherwise.
func TestRRsetDiffTTL(t *testing.T) {
	was := []dns.RR{test.A("a.example.org. 60 IN A 192.0.2.1"), test.A("a.example.org. 60 IN A 192.0.2.2")}
	now := []dns.RR{test.A("a.example.org. 30 IN A 192.0.2.1")}
	del, add := rrsetDiff(was, now)
	if len(del) != 2 || len(add) != 1 {
		t.Errorf("Expected the whole RRset replaced, got -%v +%v", del, add)
	}
	now = []dns.RR{test.A("a.example.org. 60 IN A 192.0.2.1"), test.A("a.example.org. 60 IN A 192.0.2.3")}
	if del, add = rrsetDiff(was, now); len(del) != 1 || len(add) != 1 {
		t.Errorf("Expected one RR out and one in, got -%v +%v", del, add)
	}
}

// TestChildCutFromRows: the NS rows at the apex of a zone of the block below
// another are the parent's cut too: the parent's serial moves with them, its
// AXFR carries them with their glue, and no made-up name joins them.
func TestChildCutFromRows(t *testing.T) {
	src := newFakeSource()
	tl := newTestLoader(src)
	zones := []string{"example.org.", "b.example.org."}
	tl.zones = records.NewZoneSet(zones, nil)
	tl.load(t)
	d := New(&config{zones: zones, ttl: 60, negativeTTL: 30})
	d.zones = tl.zones
	before := tl.cur.Zones[0].Serial
	src.commitOne("b.example.org", "NS ns1.b.example.org")
	src.commitOne("ns1.b.example.org", "192.0.2.54")
	tl.step(t)
	d.serve(tl.cur)
	if after := tl.cur.Zones[0].Serial; !serialLess(before, after) {
		t.Errorf("Expected the parent's serial to move with the child's NS rows, got %d after %d", after, before)
	}
	got := axfrSet(t, transferred(t, d, "example.org.", 0))
	for _, want := range []string{"b.example.org.\t60\tIN\tNS\tns1.b.example.org.", "ns1.b.example.org.\t60\tIN\tA\t192.0.2.54"} {
		if !got[want] {
			t.Errorf("Expected the parent's AXFR to hold %q, got %v", want, slices.Sorted(maps.Keys(got)))
		}
	}
	for rr := range got {
		if strings.HasPrefix(rr, "b.example.org.") && strings.Contains(rr, "ns.dns.") {
			t.Errorf("Expected only the NS rows' names at the cut, got %q", rr)
		}
	}
}
