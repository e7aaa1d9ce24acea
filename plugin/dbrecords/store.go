package dbrecords

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// record is one address served for a name, as the loader builds it. A records
// keep the IPv4 address in the first four bytes of ip.
type record struct {
	ip  [16]byte
	ttl uint32
	v6  bool
}

// entry is one name in a snapshot. Its name and its records share one string,
// so a name costs one allocation: the name, then per record a kind byte
// (kindA or kindAAAA), the address (4 or 16 bytes) and the TTL (4 bytes, big
// endian). An entry without records is an empty non-terminal: it exists
// because below > 0 names under it have records.
type entry struct {
	data  string
	nlen  uint16
	below int32
}

const (
	kindA    = 4
	kindAAAA = 6
)

func (e *entry) name() string { return e.data[:e.nlen] }

// pack encodes name and recs as an entry's data.
func pack(name string, recs []record) string {
	var b strings.Builder
	b.Grow(len(name) + 21*len(recs))
	b.WriteString(name)
	for _, r := range recs {
		if r.v6 {
			b.WriteByte(kindAAAA)
			b.Write(r.ip[:])
		} else {
			b.WriteByte(kindA)
			b.Write(r.ip[:4])
		}
		b.Write([]byte{byte(r.ttl >> 24), byte(r.ttl >> 16), byte(r.ttl >> 8), byte(r.ttl)})
	}
	return b.String()
}

// next decodes the record at offset i of e's data and returns the offset after it.
func (e *entry) next(i int) (v6 bool, ip string, ttl uint32, j int) {
	n := net.IPv4len
	if v6 = e.data[i] == kindAAAA; v6 {
		n = net.IPv6len
	}
	ip = e.data[i+1 : i+1+n]
	t := e.data[i+1+n : i+5+n]
	return v6, ip, uint32(t[0])<<24 | uint32(t[1])<<16 | uint32(t[2])<<8 | uint32(t[3]), i + 5 + n
}

// records decodes e's records.
func (e *entry) records() []record {
	var recs []record
	for i := int(e.nlen); i < len(e.data); {
		var r record
		var ip string
		r.v6, ip, r.ttl, i = e.next(i)
		copy(r.ip[:], ip)
		recs = append(recs, r)
	}
	return recs
}

// count returns how many records e has.
func (e *entry) count() int {
	n := 0
	for i := int(e.nlen); i < len(e.data); n++ {
		_, _, _, i = e.next(i)
	}
	return n
}

func (e *entry) has(qtype uint16) bool {
	for i := int(e.nlen); i < len(e.data); {
		var v6 bool
		v6, _, _, i = e.next(i)
		if v6 == (qtype == dns.TypeAAAA) {
			return true
		}
	}
	return false
}

// rrs returns new RRs of qtype for owner; nothing it returns is shared with the snapshot.
func (e *entry) rrs(owner string, qtype uint16) []dns.RR {
	want := qtype == dns.TypeAAAA
	var out []dns.RR
	for i := int(e.nlen); i < len(e.data); {
		v6, ip, ttl, j := e.next(i)
		i = j
		if v6 != want {
			continue
		}
		hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
		if v6 {
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: net.IP(ip)})
		} else {
			out = append(out, &dns.A{Hdr: hdr, A: net.IP(ip)})
		}
	}
	return out
}

// pageBits sets the buckets per page: a change copies its page's 64 bucket
// headers and its bucket, never the whole index.
const (
	pageBits = 6
	pageSize = 1 << pageBits
)

// page is a fixed run of hash buckets.
type page [pageSize][]entry

// snapshot is an immutable view of all names. Readers load it with one atomic
// read and never see it change; the loader publishes a new one per sync and
// shares every unchanged page and bucket with the previous one.
type snapshot struct {
	pages     []*page
	mask      uint64   // bucket index mask
	names     int      // entries, empty non-terminals included
	records   int      // records being served
	wildcards int      // entries whose first label is '*'
	serials   []uint32 // SOA serial per zone, indexed like the plugin's zones
}

// loadFactor is the names per bucket at which the index doubles: short
// buckets of 24-byte entries, and few bucket headers per name.
const loadFactor = 4

func newSnapshot(sizeHint, zones int) *snapshot {
	n := 256
	for n < sizeHint/loadFactor && n < 1<<24 {
		n <<= 1
	}
	pages := make([]*page, n/pageSize)
	for i := range pages {
		pages[i] = new(page)
	}
	return &snapshot{pages: pages, mask: uint64(n - 1), serials: make([]uint32, zones)}
}

func (s *snapshot) bucket(bi uint64) []entry { return s.pages[bi>>pageBits][bi&(pageSize-1)] }

func (s *snapshot) buckets() int { return len(s.pages) * pageSize }

// get returns the entry for the lower-case FQDN name, or nil.
func (s *snapshot) get(name string) *entry {
	h := mix(hashName(fnvOffset, name))
	b := s.bucket(h & s.mask)
	for i := range b {
		if int(b[i].nlen) == len(name) && b[i].data[:b[i].nlen] == name {
			return &b[i]
		}
	}
	return nil
}

// getWildcard returns the entry for "*." + name without building that string.
func (s *snapshot) getWildcard(name string) *entry {
	h := mix(hashName(hashName(fnvOffset, "*."), name))
	b := s.bucket(h & s.mask)
	for i := range b {
		e := &b[i]
		if int(e.nlen) == len(name)+2 && strings.HasPrefix(e.data, "*.") && e.data[2:e.nlen] == name {
			return e
		}
	}
	return nil
}

// find returns the entry that answers qname, a lower-case FQDN strictly below
// zone: the name itself when it exists (empty non-terminals included), else
// the wildcard at its closest encloser (RFC 4592 section 3.3.1). A nil entry
// means the name does not exist.
func (s *snapshot) find(qname, zone string) (e *entry, wildcard bool) {
	if e := s.get(qname); e != nil {
		return e, false
	}
	if s.wildcards == 0 {
		return nil, false
	}
	ce := parent(qname)
	for ce != zone && len(ce) > len(zone) {
		if s.get(ce) != nil {
			break
		}
		ce = parent(ce)
	}
	if e := s.getWildcard(ce); e != nil {
		return e, true
	}
	return nil, false
}
