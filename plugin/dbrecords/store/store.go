package store

import (
	"encoding/binary"
	"iter"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// pageBits sets the buckets per page: a change copies its page, about 64
// buckets of names, never the whole index.
const (
	pageBits = 6
	pageSize = 1 << pageBits
	pageHead = 4 * pageSize
)

// A page is one string: the end offset of each of its buckets (4 bytes,
// little endian, from the end of these offsets), then the buckets back to
// back; "" is a page of empty buckets. A bucket holds its entries back to
// back, each as: the length of its name below the zone (1 byte), then
// uvarints: the zone's index, the records' length, below, the signatures'
// length; then that name, the packed records and the signatures. Pages
// hold no pointers, so the collector never looks into them: about 24
// bytes per name with one address, index included (TestBytesPerName).

// Snapshot is an immutable view of all names. Readers load it with one atomic
// read and never see it change; the loader publishes a new one per sync and
// shares every unchanged page with the previous one.
type Snapshot struct {
	pages     []string
	mask      uint64         // bucket index mask
	suffixes  []string       // the zones entries are stored below, by their index
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
	// A new snapshot starts every journal afresh: whatever was served at
	// its serials before may differ from it.
	hist := make([]history, len(zones))
	for i := range hist {
		hist[i].dirtyBase = true
	}
	suffixes := make([]string, len(zones))
	for i, z := range zones {
		suffixes[i] = z.Name
	}
	return &Snapshot{pages: make([]string, n/pageSize), mask: uint64(n - 1), suffixes: suffixes, Zones: slices.Clone(zones), Hist: hist, ByType: map[uint16]int{}} //nolint:gosec // n >= 256
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

// bucketEnd is the end of bucket k of page p, from the end of its offsets.
func bucketEnd(p string, k uint64) int {
	return int(uint32(p[4*k]) | uint32(p[4*k+1])<<8 | uint32(p[4*k+2])<<16 | uint32(p[4*k+3])<<24)
}

// Bucket returns the encoded entries of bucket bi.
func (s *Snapshot) Bucket(bi uint64) string {
	p := s.pages[bi>>pageBits]
	if p == "" {
		return ""
	}
	k, start := bi&(pageSize-1), 0
	if k > 0 {
		start = bucketEnd(p, k-1)
	}
	return p[pageHead+start : pageHead+bucketEnd(p, k)]
}

// makePage encodes the buckets bucket(0) … bucket(pageSize-1) as a page.
func makePage(bucket func(k uint64) string) string {
	var bs [pageSize]string
	n := 0
	for k := range bs {
		bs[k] = bucket(uint64(k))
		n += len(bs[k])
	}
	if n == 0 {
		return ""
	}
	var sb strings.Builder
	sb.Grow(pageHead + n)
	end := 0
	for _, b := range bs {
		end += len(b)
		sb.Write([]byte{byte(end), byte(end >> 8), byte(end >> 16), byte(end >> 24)})
	}
	for _, b := range bs {
		sb.WriteString(b)
	}
	return sb.String()
}

// Buckets is the number of buckets, for walking every entry.
func (s *Snapshot) Buckets() int { return len(s.pages) * pageSize }

// head is an entry's header in its bucket.
type head struct {
	rel                    int // the name's length below its zone
	zi                     uint64
	recs, sigs, next, data int // lengths, and the offsets after the entry and after the header
	below                  uint64
}

// headAt decodes the header of the entry at offset i of bucket b, which
// appendEntry wrote (or checkBucket accepted).
func headAt(b string, i int) head {
	h := head{rel: int(b[i])}
	var r, g uint64
	j := i + 1
	h.zi, j, _ = uvarint(b, j)
	r, j, _ = uvarint(b, j)
	h.below, j, _ = uvarint(b, j)
	g, j, _ = uvarint(b, j)
	h.recs, h.sigs, h.data = int(r), int(g), j //nolint:gosec // what appendEntry wrote
	h.next = j + h.rel + h.recs + h.sigs
	return h
}

// At decodes the entry at offset i of bucket b and returns the next offset.
func (s *Snapshot) At(b string, i int) (e Entry, next int) {
	h := headAt(b, i)
	j := h.data
	e.rel, e.zone = b[j:j+h.rel], s.suffixes[h.zi]
	e.recs = b[j+h.rel : j+h.rel+h.recs]
	e.Sigs = b[j+h.rel+h.recs : h.next]
	e.below = int32(h.below) //nolint:gosec // what appendEntry wrote
	e.zi = int(h.zi) + 1     //nolint:gosec // an index checked on load
	return e, h.next
}

// All yields every entry of s, empty non-terminals included, bucket by
// bucket; their data share s's memory.
func (s *Snapshot) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for bi := range uint64(s.Buckets()) { //nolint:gosec // a positive count
			b := s.Bucket(bi)
			for i := 0; i < len(b); {
				var e Entry
				e, i = s.At(b, i)
				if !yield(&e) {
					return
				}
			}
		}
	}
}

// Decode returns the entries of bucket b; their data share b's memory.
func (s *Snapshot) Decode(b string) []Entry {
	var out []Entry
	for i := 0; i < len(b); {
		var e Entry
		e, i = s.At(b, i)
		out = append(out, e)
	}
	return out
}

// appendEntry appends e, stored below zone index zi, with records recs
// (e's own or packed apart), as a bucket holds it.
func appendEntry[T string | []byte](b []byte, e *Entry, zi int, recs T) []byte {
	b = append(b, byte(len(e.rel)))
	b = binary.AppendUvarint(b, uint64(zi)) //nolint:gosec // an index
	b = binary.AppendUvarint(b, uint64(len(recs)))
	b = binary.AppendUvarint(b, uint64(max(e.below, 0)))
	b = binary.AppendUvarint(b, uint64(len(e.Sigs)))
	b = append(b, e.rel...)
	b = append(b, recs...)
	return append(b, e.Sigs...)
}

// Get returns the entry for the lower-case FQDN name.
func (s *Snapshot) Get(name string) (Entry, bool) {
	e, _, _, ok := s.get(name)
	return e, ok
}

// get returns the entry for name with its bucket and its place in it.
func (s *Snapshot) get(name string) (e Entry, bi uint64, k int, ok bool) {
	bi = mix(hashName(fnvOffset, name)) & s.mask
	b := s.Bucket(bi)
	for i := 0; i < len(b); k++ {
		h := headAt(b, i)
		if s.is(b, h, name) {
			e, _ = s.At(b, i)
			return e, bi, k, true
		}
		i = h.next
	}
	return Entry{}, bi, 0, false
}

// is reports whether the entry of bucket b with header h is name's.
func (s *Snapshot) is(b string, h head, name string) bool {
	z := s.suffixes[h.zi]
	return h.rel+len(z) == len(name) && b[h.data:h.data+h.rel] == name[:h.rel] && name[h.rel:] == z
}

// Marks is a set of the entries of one snapshot, a bit each, for a walk
// that meets names in another order than the snapshot keeps them: about
// 0.2 bytes per name, and 4 per bucket.
type Marks struct {
	s    *Snapshot
	base []uint32 // entries before each bucket
	bits []uint64
}

// NewMarks returns an empty set of s's entries.
func (s *Snapshot) NewMarks() *Marks {
	base := make([]uint32, s.Buckets())
	n := 0
	for bi := range base {
		base[bi] = uint32(n) //nolint:gosec // fewer than 2^32 names
		b := s.Bucket(uint64(bi))
		for i := 0; i < len(b); n++ {
			i = headAt(b, i).next
		}
	}
	return &Marks{s: s, base: base, bits: make([]uint64, (n+63)/64)}
}

// Mark returns the entry for name, as Get does, and marks it; again says
// it was marked before.
func (m *Marks) Mark(name string) (e Entry, ok, again bool) {
	e, bi, k, ok := m.s.get(name)
	if !ok {
		return e, false, false
	}
	o := int(m.base[bi]) + k
	again = m.bits[o/64]&(1<<(o%64)) != 0
	m.bits[o/64] |= 1 << (o % 64)
	return e, true, again
}

// Unmarked yields the entries not marked, empty non-terminals included.
func (m *Marks) Unmarked() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		o := 0
		for bi := range uint64(m.s.Buckets()) { //nolint:gosec // a positive count
			b := m.s.Bucket(bi)
			for i := 0; i < len(b); o++ {
				var e Entry
				e, i = m.s.At(b, i)
				if m.bits[o/64]&(1<<(o%64)) == 0 && !yield(&e) {
					return
				}
			}
		}
	}
}

// getWildcard returns the entry for "*." + name without building that string.
func (s *Snapshot) getWildcard(name string) (Entry, bool) {
	b := s.Bucket(mix(hashName(hashName(fnvOffset, "*."), name)) & s.mask)
	for i := 0; i < len(b); {
		h := headAt(b, i)
		if z := s.suffixes[h.zi]; h.rel+len(z) == len(name)+2 && strings.HasSuffix(name, z) {
			if rel := b[h.data : h.data+h.rel]; rel[:2] == "*." && rel[2:] == name[:len(name)-len(z)] {
				e, _ := s.At(b, i)
				return e, true
			}
		}
		i = h.next
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

// Size is the memory the snapshot's pages take, their index included.
func (s *Snapshot) Size() int {
	n := 0
	for _, p := range s.pages {
		n += len(p) + 16 // and its string header in the index
	}
	return n
}
