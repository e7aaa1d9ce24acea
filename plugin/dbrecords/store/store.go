package store

import (
	"encoding/binary"
	"iter"
	"net"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// Entry is one name in a snapshot. Its name and its records share one string,
// so a name costs one allocation: the name, then per record (records.Record.Size)
// either an address length (4 or 16), the address and the TTL (4 bytes, big
// endian) for A and AAAA, or a 0, the type and the data length (2 bytes
// each), the RDATA and the TTL for every other type. An Entry without
// records is an empty non-terminal: it exists because below > 0 names under
// it have records.
type Entry struct {
	data  string
	nlen  uint16
	below int32
	Sigs  string // DNSSEC signatures of its RRsets (dnssec.go); "" when unsigned
}

// Name is the entry's owner name.
func (e *Entry) Name() string { return e.data[:e.nlen] }

// pack encodes name and recs as an entry's data.
func pack(name string, recs []records.Record) string {
	n := len(name)
	for _, r := range recs {
		n += r.Size()
	}
	b := make([]byte, 0, n)
	b = append(b, name...)
	for _, r := range recs {
		switch r.Type {
		case dns.TypeA, dns.TypeAAAA:
			b = append(b, byte(len(r.Data)))
		default:
			b = append(b, 0)
			b = binary.BigEndian.AppendUint16(b, r.Type)
			b = binary.BigEndian.AppendUint16(b, uint16(len(r.Data))) //nolint:gosec // at most records.MaxBytes
		}
		b = append(b, r.Data...)
		b = binary.BigEndian.AppendUint32(b, r.TTL)
	}
	return string(b)
}

// next decodes the record at offset i of e's data and returns the offset after it.
func (e *Entry) next(i int) (t uint16, rd string, ttl uint32, j int) {
	n := int(e.data[i])
	switch n {
	case net.IPv4len:
		t = dns.TypeA
	case net.IPv6len:
		t = dns.TypeAAAA
	default:
		t = binary.BigEndian.Uint16([]byte(e.data[i+1 : i+3]))
		n = int(binary.BigEndian.Uint16([]byte(e.data[i+3 : i+5])))
		i += 4
	}
	rd = e.data[i+1 : i+1+n]
	return t, rd, binary.BigEndian.Uint32([]byte(e.data[i+1+n : i+5+n])), i + 5 + n
}

// Records decodes e's records.
func (e *Entry) Records() []records.Record {
	var recs []records.Record
	for i := int(e.nlen); i < len(e.data); {
		var r records.Record
		r.Type, r.Data, r.TTL, i = e.next(i)
		recs = append(recs, r)
	}
	return recs
}

// Count returns how many records e has.
func (e *Entry) Count() int {
	n := 0
	for i := int(e.nlen); i < len(e.data); n++ {
		_, _, _, i = e.next(i)
	}
	return n
}

// Has reports whether e has records of type t.
func (e *Entry) Has(t uint16) bool {
	for i := int(e.nlen); i < len(e.data); {
		rt, _, _, j := e.next(i)
		if rt == t {
			return true
		}
		i = j
	}
	return false
}

// WireSize is the size of e's RRset of qtype in a reply whose owner names
// are compressed to a pointer: what RRs would build, without building it
// (names in RDATA counted uncompressed).
func (e *Entry) WireSize(qtype uint16) int {
	size := 0
	for i := int(e.nlen); i < len(e.data); {
		t, rd, _, j := e.next(i)
		i = j
		if t == qtype {
			size += 2 + 10 + len(rd) // pointer, type, class, TTL, length; the data
		}
	}
	return size
}

// RRs returns new RRs of qtype for owner; nothing it returns is shared with the snapshot.
func (e *Entry) RRs(owner string, qtype uint16) []dns.RR {
	var out []dns.RR
	for i := int(e.nlen); i < len(e.data); {
		t, rd, ttl, j := e.next(i)
		i = j
		if t != qtype {
			continue
		}
		hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
		switch t {
		case dns.TypeAAAA:
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: net.IP(rd)})
		case dns.TypeA:
			out = append(out, &dns.A{Hdr: hdr, A: net.IP(rd)})
		default:
			if rr := (records.Record{Type: t, TTL: ttl, Data: rd}).RR(owner); rr != nil {
				out = append(out, rr)
			}
		}
	}
	return out
}

// Types returns the RRset types of e in signing order (ascending), NSEC last.
func (e *Entry) Types() []uint16 {
	var ts []uint16
	for i := int(e.nlen); i < len(e.data); {
		t, _, _, j := e.next(i)
		i = j
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return append(ts, dns.TypeNSEC)
}

// Content is e's name and packed records: equal for equal data.
func (e *Entry) Content() string { return e.data }

// Empty reports whether e has no records: an empty non-terminal.
func (e *Entry) Empty() bool { return len(e.data) == int(e.nlen) }

// Detached returns a copy of e that shares no memory with its bucket and
// has no signatures.
func (e *Entry) Detached() Entry {
	c := *e
	c.data, c.Sigs = strings.Clone(e.data), ""
	return c
}

// pageBits sets the buckets per page: a change copies its page's 64 bucket
// headers and its bucket, never the whole index.
const (
	pageBits = 6
	pageSize = 1 << pageBits
)

// page is a fixed run of hash buckets. A bucket is one string holding its
// entries back to back, each as: name length (1 byte), records length (2
// bytes), below (4 bytes), signatures length (2 bytes), then the name, the
// packed records and the signatures. One string per bucket keeps the heap
// small: about 47 bytes per name unsigned.
type page [pageSize]string

const entryHeader = 9

// Snapshot is an immutable view of all names. Readers load it with one atomic
// read and never see it change; the loader publishes a new one per sync and
// shares every unchanged page and bucket with the previous one.
type Snapshot struct {
	pages     []*page
	mask      uint64         // bucket index mask
	Names     int            // entries, empty non-terminals included
	Records   int            // records being served
	ByType    map[uint16]int // Records by type (never nil once built; shared, read-only)
	wildcards int            // entries whose first label is '*'
	cuts      int            // entries below their zone's apex with NS records: delegations
	Zones     []Version      // by zone index
	Hist      []history      // by zone index: the IXFR journal (journal.go)

	// Signers is what made the entries' signatures, set by the loader and
	// opaque here; answers read signatures with it, so a snapshot and its
	// signers always agree, also while a reload hands new keys over.
	Signers any
}

// loadFactor is the names per bucket at which the index doubles.
const loadFactor = 4

func newSnapshot(sizeHint int, zones []Version) *Snapshot {
	n := bucketsFor(sizeHint)
	pages := make([]*page, n/pageSize)
	for i := range pages {
		pages[i] = new(page)
	}
	// A new snapshot starts every journal afresh: whatever was served at
	// its serials before may differ from it.
	hist := make([]history, len(zones))
	for i := range hist {
		hist[i].dirtyBase = true
	}
	return &Snapshot{pages: pages, mask: uint64(n - 1), Zones: slices.Clone(zones), Hist: hist, ByType: map[uint16]int{}} //nolint:gosec // n >= 256
}

// bucketsFor returns the power of two of buckets for about names names; it
// has no ceiling, so the index grows with the table.
func bucketsFor(names int) int {
	n := 256
	for n < names/loadFactor {
		n <<= 1
	}
	return n
}

// Bucket returns the encoded entries of bucket bi.
func (s *Snapshot) Bucket(bi uint64) string { return s.pages[bi>>pageBits][bi&(pageSize-1)] }

// Buckets is the number of buckets, for walking every entry.
func (s *Snapshot) Buckets() int { return len(s.pages) * pageSize }

// At decodes the entry at offset i of bucket b and returns the next offset.
func At(b string, i int) (e Entry, next int) {
	l, r := int(b[i]), int(binary.BigEndian.Uint16([]byte(b[i+1:i+3])))
	e.below = int32(binary.BigEndian.Uint32([]byte(b[i+3 : i+7]))) //nolint:gosec // the bits encode wrote
	g := int(binary.BigEndian.Uint16([]byte(b[i+7 : i+9])))
	e.data, e.nlen = b[i+entryHeader:i+entryHeader+l+r], uint16(l) //nolint:gosec // l is one byte
	e.Sigs = b[i+entryHeader+l+r : i+entryHeader+l+r+g]
	return e, i + entryHeader + l + r + g
}

// All yields every entry of s, empty non-terminals included, bucket by
// bucket; their data share s's memory.
func (s *Snapshot) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for bi := range uint64(s.Buckets()) { //nolint:gosec // a positive count
			b := s.Bucket(bi)
			for i := 0; i < len(b); {
				var e Entry
				e, i = At(b, i)
				if !yield(&e) {
					return
				}
			}
		}
	}
}

// Decode returns the entries of bucket b; their data share b's memory.
func Decode(b string) []Entry {
	var out []Entry
	for i := 0; i < len(b); {
		var e Entry
		e, i = At(b, i)
		out = append(out, e)
	}
	return out
}

// encode is the inverse of decode.
func encode(es []Entry) string {
	n := 0
	for i := range es {
		n += entryHeader + len(es[i].data) + len(es[i].Sigs)
	}
	b := make([]byte, 0, n)
	for _, e := range es {
		b = append(b, byte(e.nlen))
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.data)-int(e.nlen))) //nolint:gosec // at most MaxRecords*21 bytes
		b = binary.BigEndian.AppendUint32(b, uint32(e.below))                 //nolint:gosec // bits kept, decoded by at
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Sigs)))             //nolint:gosec // at most a few KB (dnssec.go)
		b = append(b, e.data...)
		b = append(b, e.Sigs...)
	}
	return string(b)
}

// Get returns the entry for the lower-case FQDN name.
func (s *Snapshot) Get(name string) (Entry, bool) {
	b := s.Bucket(mix(hashName(fnvOffset, name)) & s.mask)
	for i := 0; i < len(b); {
		if l := int(b[i]); l == len(name) && b[i+entryHeader:i+entryHeader+l] == name {
			e, _ := At(b, i)
			return e, true
		}
		_, i = At(b, i)
	}
	return Entry{}, false
}

// getWildcard returns the entry for "*." + name without building that string.
func (s *Snapshot) getWildcard(name string) (Entry, bool) {
	b := s.Bucket(mix(hashName(hashName(fnvOffset, "*."), name)) & s.mask)
	for i := 0; i < len(b); {
		e, next := At(b, i)
		if int(e.nlen) == len(name)+2 && strings.HasPrefix(e.data, "*.") && e.data[2:e.nlen] == name {
			return e, true
		}
		i = next
	}
	return Entry{}, false
}

// Find returns the entry that answers qname, a lower-case FQDN strictly below
// zone: the name itself when it exists (empty non-terminals included), else
// the wildcard at its closest encloser (RFC 4592 section 3.3.1). ok is false
// when the name does not exist. Labels are split with dns.NextLabel, so an
// escaped dot is part of a label.
func (s *Snapshot) Find(qname, zone string) (e Entry, ok bool) {
	if e, ok := s.Get(qname); ok {
		return e, true
	}
	if s.wildcards == 0 {
		return Entry{}, false
	}
	ce := parent(qname)
	for len(ce) > len(zone) {
		if _, ok := s.Get(ce); ok {
			break
		}
		ce = parent(ce)
	}
	return s.getWildcard(ce)
}

// Cut returns the delegation that holds qname, a lower-case FQDN strictly
// below zone: the entry with NS records closest to the apex at or above
// qname (RFC 1034 section 4.3.2 step 3b). It costs nothing in a snapshot
// without delegations and a lookup per label below the apex otherwise.
func (s *Snapshot) Cut(qname, zone string) (Entry, bool) {
	if s.cuts == 0 {
		return Entry{}, false
	}
	all, below := dns.CountLabel(qname), dns.CountLabel(zone)
	for n := below + 1; n <= all; n++ {
		i, _ := dns.PrevLabel(qname, n)
		e, ok := s.Get(qname[i:])
		if !ok {
			return Entry{}, false // nothing exists below a name that does not
		}
		if e.Has(dns.TypeNS) {
			return e, true
		}
	}
	return Entry{}, false
}

// Cuts returns how many delegations the snapshot holds.
func (s *Snapshot) Cuts() int { return s.cuts }

// parent returns name without its first label; the root is its own parent.
func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashName hashes s with FNV-1a, continuing from h (start with fnvOffset), so
// that the hash of "*." + name can be computed without building the string.
func hashName(h uint64, s string) uint64 {
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix spreads the FNV state over the low bits that select a bucket.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}
