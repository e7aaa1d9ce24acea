package store

import (
	"encoding/binary"
	"net"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// Entry is one name in a snapshot, decoded from its bucket: its name below
// its zone, the zone, its packed records and its signatures, all of them
// views of the bucket's memory. An Entry without records is an empty
// non-terminal: it exists because below > 0 names under it have records.
//
// Records are packed by RRset, in the order their types first came, each
// RRset as: a kind byte (4 for A, 16 for AAAA, whose items are the
// addresses; 0 for any other type, then the type, 2 bytes big endian, and
// each item is its RDATA length, a uvarint, and the RDATA), the RRset's
// one TTL and its number of items (uvarints), then the items. An A-only
// name with one address packs into 8 bytes.
type Entry struct {
	rel   string // the name without its zone: "app-1." in "example.org."; "" at the apex
	zone  string
	recs  string
	below int32
	zi    int    // the zone's index in the snapshot + 1; 0 when not known yet
	Sigs  string // DNSSEC signatures of its RRsets (dnssec.go); "" when unsigned
}

// Name is the entry's owner name. Below the apex it is built anew: compare
// with Is instead.
func (e *Entry) Name() string {
	if e.rel == "" {
		return e.zone
	}
	return e.rel + e.zone
}

// Parts returns e's owner name in the two parts it is kept as, its name
// below its zone and the zone (the name is rel + zone), for what needs only
// its length or its labels without building it.
func (e *Entry) Parts() (rel, zone string) { return e.rel, e.zone }

// Is reports whether e's owner name is name, without building it.
func (e *Entry) Is(name string) bool {
	return len(name) == len(e.rel)+len(e.zone) && name[len(e.rel):] == e.zone && name[:len(e.rel)] == e.rel
}

// relative returns name without zone; a name that is not in zone is taken
// whole, with the empty zone.
func relative(name, zone string) (rel, z string) {
	if !strings.HasSuffix(name, zone) {
		return name, ""
	}
	return name[:len(name)-len(zone)], zone
}

// Kinds of RRset, the first byte of each.
const (
	kindOther = 0
	kindA     = net.IPv4len
	kindAAAA  = net.IPv6len
)

// packTo appends recs to b encoded as an entry's records, one RRset per
// type, with the lowest TTL of its records (RFC 2181 section 5.2).
func packTo(b []byte, recs []records.Record) []byte {
	for i, r := range recs {
		if slices.ContainsFunc(recs[:i], func(x records.Record) bool { return x.Type == r.Type }) {
			continue // packed with the first of its type
		}
		count, ttl, kind := 0, r.TTL, kindOther
		switch r.Type {
		case dns.TypeA:
			kind = kindA
		case dns.TypeAAAA:
			kind = kindAAAA
		}
		for _, x := range recs[i:] {
			if x.Type == r.Type {
				count++
				ttl = min(ttl, x.TTL)
				if len(x.Data) != kind {
					kind = kindOther
				}
			}
		}
		b = append(b, byte(kind))
		if kind == kindOther {
			b = binary.BigEndian.AppendUint16(b, r.Type)
		}
		b = binary.AppendUvarint(b, uint64(ttl))
		b = binary.AppendUvarint(b, uint64(count)) //nolint:gosec // a count
		for _, x := range recs[i:] {
			if x.Type != r.Type {
				continue
			}
			if kind == kindOther {
				b = binary.AppendUvarint(b, uint64(len(x.Data)))
			}
			b = append(b, x.Data...)
		}
	}
	return b
}

// uvarint decodes the uvarint at offset i of s and returns the offset after
// it; an unterminated or overlong one decodes as ok false.
func uvarint(s string, i int) (v uint64, j int, ok bool) {
	for shift := uint(0); i < len(s) && shift < 64; shift += 7 {
		c := s[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, true
		}
	}
	return 0, i, false
}

// rrset is one RRset header of packed records.
type rrset struct {
	t     uint16
	ttl   uint32
	n     int // items
	fixed int // item length for addresses, 0 when each item has its own
	items int // offset of the first item
	end   int // offset after the last item
}

// rrsetAt decodes the RRset at offset i of recs, which packTo wrote (or
// checkRecords accepted).
func rrsetAt(recs string, i int) rrset {
	var s rrset
	switch recs[i] {
	case kindA:
		s.t, s.fixed = dns.TypeA, kindA
		i++
	case kindAAAA:
		s.t, s.fixed = dns.TypeAAAA, kindAAAA
		i++
	default:
		s.t = uint16(recs[i+1])<<8 | uint16(recs[i+2])
		i += 3
	}
	ttl, i, _ := uvarint(recs, i)
	n, i, _ := uvarint(recs, i)
	s.ttl, s.n, s.items = uint32(ttl), int(n), i //nolint:gosec // what packTo wrote
	if s.fixed > 0 {
		s.end = i + s.n*s.fixed
		return s
	}
	for range s.n {
		l, j, _ := uvarint(recs, i)
		i = j + int(l) //nolint:gosec // what packTo wrote
	}
	s.end = i
	return s
}

// each calls f with the RDATA of every item of set, in order.
func (s rrset) each(recs string, f func(rd string)) {
	i := s.items
	for range s.n {
		n := s.fixed
		if n == 0 {
			l, j, _ := uvarint(recs, i)
			n, i = int(l), j //nolint:gosec // what packTo wrote
		}
		f(recs[i : i+n])
		i += n
	}
}

// Records decodes e's records.
func (e *Entry) Records() []records.Record {
	var recs []records.Record
	for i := 0; i < len(e.recs); {
		s := rrsetAt(e.recs, i)
		s.each(e.recs, func(rd string) { recs = append(recs, records.Record{Type: s.t, TTL: s.ttl, Data: rd}) })
		i = s.end
	}
	return recs
}

// Count returns how many records e has.
func (e *Entry) Count() int {
	n := 0
	for i := 0; i < len(e.recs); {
		s := rrsetAt(e.recs, i)
		n, i = n+s.n, s.end
	}
	return n
}

// set returns e's RRset of type t.
func (e *Entry) set(t uint16) (rrset, bool) {
	for i := 0; i < len(e.recs); {
		s := rrsetAt(e.recs, i)
		if s.t == t {
			return s, true
		}
		i = s.end
	}
	return rrset{}, false
}

// Has reports whether e has records of type t.
func (e *Entry) Has(t uint16) bool {
	_, ok := e.set(t)
	return ok
}

// WireSize is the size of e's RRset of qtype in a reply whose owner names
// are compressed to a pointer: what RRs would build, without building it
// (names in RDATA counted uncompressed).
func (e *Entry) WireSize(qtype uint16) int {
	s, ok := e.set(qtype)
	if !ok {
		return 0
	}
	size := 0
	s.each(e.recs, func(rd string) { size += 2 + 10 + len(rd) }) // pointer, type, class, TTL, length; the data
	return size
}

// RRs returns new RRs of qtype for owner; nothing it returns is shared with the snapshot.
func (e *Entry) RRs(owner string, qtype uint16) []dns.RR {
	s, ok := e.set(qtype)
	if !ok {
		return nil
	}
	out := make([]dns.RR, 0, s.n)
	hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: s.ttl}
	s.each(e.recs, func(rd string) {
		switch {
		case s.fixed == kindA:
			out = append(out, &dns.A{Hdr: hdr, A: net.IP(rd)})
		case s.fixed == kindAAAA:
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: net.IP(rd)})
		default:
			if rr := (records.Record{Type: qtype, TTL: s.ttl, Data: rd}).RR(owner); rr != nil {
				out = append(out, rr)
			}
		}
	})
	return out
}

// Holds reports whether e's records are recs (a name's records as
// records.AddRecord makes them: no two alike, one TTL per type), in any
// order, without decoding e.
func (e *Entry) Holds(recs []records.Record) bool {
	if e.Count() != len(recs) {
		return false
	}
	for _, r := range recs {
		s, ok := e.set(r.Type)
		if !ok || s.ttl != r.TTL {
			return false
		}
		found := false
		s.each(e.recs, func(rd string) { found = found || rd == r.Data })
		if !found {
			return false
		}
	}
	return true
}

// Types returns the RRset types of e in signing order (ascending), NSEC last.
func (e *Entry) Types() []uint16 {
	var ts []uint16
	for i := 0; i < len(e.recs); {
		s := rrsetAt(e.recs, i)
		ts, i = append(ts, s.t), s.end
	}
	slices.Sort(ts)
	return append(ts, dns.TypeNSEC)
}

// Content is e's packed records: equal for equal records of one name.
func (e *Entry) Content() string { return e.recs }

// Empty reports whether e has no records: an empty non-terminal.
func (e *Entry) Empty() bool { return e.recs == "" }

// Detached returns a copy of e that shares no memory with its bucket and
// has no signatures.
func (e *Entry) Detached() Entry {
	c := *e
	c.rel, c.recs, c.Sigs = strings.Clone(e.rel), strings.Clone(e.recs), ""
	return c
}

// checkRecords reports whether recs is packed records that rrsetAt and each
// can walk without reading past them, with addresses of their length, no
// empty RRset, only served types and RDATA that decodes (what answers and
// signing build RRs from), adding each record's type to byType.
func checkRecords(recs string, byType map[uint16]int) (n int, ns, ok bool) {
	for i := 0; i < len(recs); {
		var t uint16
		fixed := 0
		switch recs[i] {
		case kindA:
			t, fixed = dns.TypeA, kindA
			i++
		case kindAAAA:
			t, fixed = dns.TypeAAAA, kindAAAA
			i++
		case kindOther:
			if i+3 > len(recs) {
				return 0, false, false
			}
			t = uint16(recs[i+1])<<8 | uint16(recs[i+2])
			i += 3
		default:
			return 0, false, false
		}
		ttl, i1, ok1 := uvarint(recs, i)
		c, i2, ok2 := uvarint(recs, i1)
		if !ok1 || !ok2 || ttl > 1<<32-1 || c == 0 || c > records.MaxRecords {
			return 0, false, false
		}
		i = i2
		for range c {
			l := uint64(fixed) //nolint:gosec // 4 or 16
			if fixed == 0 {
				var ok bool
				if l, i, ok = uvarint(recs, i); !ok {
					return 0, false, false
				}
				if t == dns.TypeA || t == dns.TypeAAAA || l > records.MaxBytes {
					return 0, false, false // addresses are packed as such
				}
			}
			if uint64(len(recs)-i) < l { //nolint:gosec // i <= len(recs)
				return 0, false, false
			}
			if fixed == 0 && (!records.ServedType(t) || (records.Record{Type: t, Data: recs[i : i+int(l)]}).RR(".") == nil) { //nolint:gosec // bounded above
				return 0, false, false
			}
			i += int(l) //nolint:gosec // bounded above
		}
		byType[t] += int(c) //nolint:gosec // bounded above
		n += int(c)         //nolint:gosec // bounded above
		ns = ns || t == dns.TypeNS
	}
	return n, ns, true
}
