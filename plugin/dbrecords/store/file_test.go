package store

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

func fileSnapshot(t *testing.T, zones records.ZoneSet) (*Snapshot, model) {
	t.Helper()
	r := rand.New(rand.NewSource(7))
	m := model{}
	vs := []Version{{Zone: zones.List[0], Serial: 42}}
	b := NewFullBuilder(0, vs)
	for i := range 3000 {
		name := fmt.Sprintf("app-%d.example.org.", i)
		recs := randomRecords(r)
		if len(recs) == 0 {
			continue
		}
		for _, rec := range recs {
			b.Add(name, "example.org.", rec)
		}
		m[name] = b.Get(name)
	}
	txt := records.Record{Type: dns.TypeTXT, TTL: 300, Data: "\x05hello"}
	b.Add("deep.below.example.org.", "example.org.", txt)
	m["deep.below.example.org."] = []records.Record{txt}
	ns := records.Record{Type: dns.TypeNS, TTL: 300, Data: "\x02ns\x05child\x07example\x03org\x00"}
	b.Add("child.example.org.", "example.org.", ns)
	m["child.example.org."] = []records.Record{ns}
	b.Add("*.wild.example.org.", "example.org.", v4(5))
	m["*.wild.example.org."] = []records.Record{v4(5)}
	return b.Finish(), m
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	zones := records.NewZoneSet([]string{"example.org."}, nil)
	s, m := fileSnapshot(t, zones)
	var buf bytes.Buffer
	if err := s.Save(&buf, []byte(`{"cursor":7}`)); err != nil {
		t.Fatal(err)
	}
	got, meta, err := Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()), zones)
	if err != nil {
		t.Fatalf("Expected the file to load, got %v", err)
	}
	if string(meta) != `{"cursor":7}` || got.Zones[0].Serial != 42 || got.Zones[0].Zone != zones.List[0] {
		t.Errorf("Expected the meta and the serial back, got %q and %d", meta, got.Zones[0].Serial)
	}
	m.check(t, got)
	if got.ByType[dns.TypeTXT] != 1 || got.ByType[dns.TypeA] != s.ByType[dns.TypeA] || got.Buckets() != s.Buckets() {
		t.Errorf("Expected the counts by type and the buckets back, got %v and %d", got.ByType, got.Buckets())
	}
	if got.Cuts() != 1 || got.wildcards != 1 {
		t.Errorf("Expected one delegation and one wildcard, got %d and %d", got.Cuts(), got.wildcards)
	}
	if !got.Hist[0].dirtyBase {
		t.Error("Expected a loaded snapshot to start its IXFR journal afresh")
	}
	// A loaded snapshot takes changes like any other.
	nb := NewBuilder(got)
	nb.Set("app-1.example.org.", "example.org.", []records.Record{v4(9)})
	if e, ok := nb.Finish().Get("app-1.example.org."); !ok || e.Records()[0] != v4(9) {
		t.Errorf("Expected a change on top of the loaded snapshot, got %v", e)
	}
}

// TestSnapshotFileRefused: a file damaged anywhere, truncated anywhere, of
// another format or for another zone set is refused, and Load never panics.
func TestSnapshotFileRefused(t *testing.T) {
	zones := records.NewZoneSet([]string{"example.org."}, nil)
	s, _ := fileSnapshot(t, zones)
	var buf bytes.Buffer
	if err := s.Save(&buf, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	load := func(b []byte, zs records.ZoneSet) error {
		_, _, err := Load(bytes.NewReader(b), int64(len(b)), zs)
		return err
	}
	r := rand.New(rand.NewSource(3))
	for range 300 {
		b := bytes.Clone(good)
		i := r.Intn(len(b))
		b[i] ^= byte(1 + r.Intn(255))
		if err := load(b, zones); err == nil {
			t.Fatalf("Expected a file with byte %d changed to be refused", i)
		}
	}
	for _, n := range []int{0, 5, len(fileMagic) + 1, len(good) / 3, len(good) - 5, len(good) - 1} {
		if err := load(good[:n], zones); err == nil {
			t.Fatalf("Expected a file cut to %d of %d bytes to be refused", n, len(good))
		}
	}
	if err := load(append(bytes.Clone(good), 0), zones); err == nil {
		t.Error("Expected a file with a byte appended to be refused")
	}
	other := bytes.Clone(good)
	other[len(fileMagic)] = FileFormat + 1
	if err := load(other, zones); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("Expected a file of another format refused naming the format, got %v", err)
	}
	for _, zs := range [][]string{{"example.net."}, {"example.org.", "example.net."}} {
		if err := load(good, records.NewZoneSet(zs, nil)); err == nil || !strings.Contains(err.Error(), "zone set") {
			t.Errorf("Expected a file for example.org. refused for zones %v, got %v", zs, err)
		}
	}
	if err := load([]byte("not a snapshot at all, but long enough to read"), zones); err == nil {
		t.Error("Expected a file that is not a snapshot refused")
	}
}

// TestSnapshotFileRefusesWhatCannotBeServed: a file whose checksum is right
// but whose records would not decode into RRs (RDATA that does not parse, a
// type that is not served) is refused: answers and signing never meet them.
func TestSnapshotFileRefusesWhatCannotBeServed(t *testing.T) {
	zones := records.NewZoneSet([]string{"example.org."}, nil)
	for _, bad := range []records.Record{
		{Type: dns.TypeMX, TTL: 60, Data: "\x00"},        // a preference cut short, no exchange
		{Type: dns.TypeTXT, TTL: 60, Data: "\x09short"},  // a string longer than its RDATA
		{Type: 65280, TTL: 60, Data: "\x01\x02\x03\x04"}, // a private type, not served
	} {
		b := NewFullBuilder(0, []Version{{Zone: zones.List[0], Serial: 1}})
		b.Add("a.example.org.", "example.org.", v4(1))
		b.Set("bad.example.org.", "example.org.", []records.Record{bad})
		var buf bytes.Buffer
		if err := b.Finish().Save(&buf, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()), zones); err == nil {
			t.Errorf("Expected a file holding %s %q refused", dns.TypeToString[bad.Type], bad.Data)
		}
	}
}
