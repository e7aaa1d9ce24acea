package records

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// MaxTTL is the largest TTL RFC 2181 section 8 allows.
const MaxTTL = 1<<31 - 1

// Reason says why a row cannot be served. The zero value means valid.
type Reason int

const (
	Valid Reason = iota
	badName
	outsideZones
	badType
	badAddress
	badContent
	badTTL
	TooMany
	cnameApex
	CNAMEBeside
	DSNoCut
	wildcardCut
	NumReasons
)

var reasonText = [NumReasons]string{
	Valid:        "valid",
	badName:      "a name that is not a valid host name",
	outsideZones: "a name outside every served zone",
	badType:      "a type that is not served",
	badAddress:   "an address that does not parse or does not match its type",
	badContent:   "content that does not parse for its type",
	badTTL:       "a TTL above 2147483647",
	TooMany:      fmt.Sprintf("more than %d records or %d bytes of data for one name", MaxRecords, MaxBytes),
	cnameApex:    "a CNAME or DS at a zone apex",
	CNAMEBeside:  "a CNAME beside other data or another CNAME",
	DSNoCut:      "a DS at a name without NS records",
	wildcardCut:  "an NS or DS at a wildcard",
}

// String says what is wrong with a row, for logs and metrics.
func (r Reason) String() string { return reasonText[r] }

// Row is one dns_records row as read from the database.
type Row struct {
	Name, Type, Content string
	TTL                 int64
	TTLNull             bool
	Cut                 int64 // rows of this name the source left unread (beyond MaxRecords), told on one row
}

// servedRow is a valid row, ready for the store.
type servedRow struct {
	FQDN string
	Zone int
	Rec  Record
}

// Parse validates r against zones and fills in defaultTTL for a NULL ttl.
// It judges the row alone; Settle judges a name's rows together.
func Parse(r Row, zones ZoneSet, defaultTTL uint32) (servedRow, Reason) {
	key := NameKey(r.Name)
	if !ValidName(key) {
		return servedRow{}, badName
	}
	fqdn := key + "."
	zi := zones.Match(fqdn)
	if zi < 0 {
		return servedRow{}, outsideZones
	}
	rec := Record{Type: typeCode(r.Type)}
	switch rec.Type {
	case 0:
		return servedRow{}, badType
	case dns.TypeA, dns.TypeAAAA:
		addr, err := netip.ParseAddr(strings.TrimSpace(r.Content))
		if err != nil || addr.Zone() != "" || addr.Is4() != (rec.Type == dns.TypeA) {
			return servedRow{}, badAddress
		}
		if addr.Is4() {
			a4 := addr.As4()
			rec.Data = string(a4[:])
		} else {
			a16 := addr.As16()
			rec.Data = string(a16[:])
		}
	default:
		apex := fqdn == zones.List[zi].Name
		switch {
		case (rec.Type == dns.TypeCNAME || rec.Type == dns.TypeDS) && apex:
			return servedRow{}, cnameApex
		case (rec.Type == dns.TypeNS || rec.Type == dns.TypeDS) && strings.HasPrefix(key, "*"):
			return servedRow{}, wildcardCut
		}
		var ok bool
		if rec.Data, ok = rdata(rec.Type, r.Content); !ok {
			return servedRow{}, badContent
		}
	}
	rec.TTL = defaultTTL
	if !r.TTLNull {
		if r.TTL < 0 || r.TTL > MaxTTL {
			return servedRow{}, badTTL
		}
		rec.TTL = uint32(r.TTL)
	}
	return servedRow{FQDN: fqdn, Zone: zi, Rec: rec}, Valid
}

// Drop is rows of one name that Settle does not serve.
type Drop struct {
	Reason Reason
	N      int
}

// Settle applies the rules that concern a name's rows together (RFC 1034
// section 3.6.2, RFC 2181 section 10.1, RFC 4035 section 2.4), so that a
// name is never half-served: a CNAME beside other data, or beside another
// CNAME, is dropped (the other data stays), and so is a DS at a name with
// no NS records. recs is what AddRecord built; the result may share it.
func Settle(recs []Record) ([]Record, []Drop) {
	var cnames, others, ds int
	ns := false
	for _, r := range recs {
		switch r.Type {
		case dns.TypeCNAME:
			cnames++
		case dns.TypeDS:
			ds++
		case dns.TypeNS:
			ns = true
			others++
		default:
			others++
		}
	}
	var drops []Drop
	drop := func(t uint16, why Reason, n int) {
		recs = slices.DeleteFunc(slices.Clone(recs), func(r Record) bool { return r.Type == t })
		drops = append(drops, Drop{Reason: why, N: n})
	}
	// A DS without NS goes first: it is not data a CNAME has to yield to.
	if ds > 0 && !ns {
		drop(dns.TypeDS, DSNoCut, ds)
		ds = 0
	}
	if cnames > 1 || cnames == 1 && others+ds > 0 {
		drop(dns.TypeCNAME, CNAMEBeside, cnames)
	}
	return recs, drops
}

// Rules are the plugin's rules for table rows, for tools that must judge
// rows exactly as the plugin does (the admin command's check and export).
type Rules struct {
	zones ZoneSet
	ttl   uint32
}

// NewRules returns the rules of a dbrecords block serving zones (FQDNs) with
// the ttl property ttl.
func NewRules(zones []string, ttl uint32) Rules {
	lower := make([]string, len(zones))
	for i, z := range zones {
		lower[i] = strings.ToLower(dns.Fqdn(z))
	}
	return Rules{zones: NewZoneSet(lower, nil), ttl: ttl}
}

// Apex reports whether fqdn (lower case) is the apex of one of the zones.
func (r Rules) Apex(fqdn string) bool {
	zi := r.zones.Match(fqdn)
	return zi >= 0 && r.zones.List[zi].Name == fqdn
}

// Served is what the plugin serves for one name.
type Served struct{ recs []Record }

// Valid reports whether the plugin serves the row on its own (Settle may
// still drop it beside the name's other rows), and why not; content is the
// row's content as a zone file writes it (records.Record.Content).
func (r Rules) Valid(name, typ, content string, ttl int64, ttlNull bool) (fqdn, normal, why string) {
	sr, reason := Parse(Row{Name: name, Type: typ, Content: content, TTL: ttl, TTLNull: ttlNull}, r.zones, r.ttl)
	if reason != Valid {
		return "", "", reason.String()
	}
	return sr.FQDN, sr.Rec.Content(), ""
}

// Add adds a row to served (by lower-case FQDN) as the plugin would, and
// reports whether the row is valid on its own; call Settle on each name
// when all rows are in.
func (r Rules) Add(served map[string]*Served, name, typ, content string, ttl int64, ttlNull bool) bool {
	sr, reason := Parse(Row{Name: name, Type: typ, Content: content, TTL: ttl, TTLNull: ttlNull}, r.zones, r.ttl)
	if reason != Valid {
		return false
	}
	s := served[sr.FQDN]
	if s == nil {
		s = &Served{}
		served[sr.FQDN] = s
	}
	var ok bool
	s.recs, ok = AddRecord(s.recs, sr.Rec)
	return ok
}

// Settle applies Settle to s and returns what it dropped.
func (s *Served) Settle() []Drop {
	var d []Drop
	s.recs, d = Settle(s.recs)
	return d
}

// Types returns the types s has, sorted.
func (s *Served) Types() []uint16 {
	var ts []uint16
	for _, r := range s.recs {
		if !slices.Contains(ts, r.Type) {
			ts = append(ts, r.Type)
		}
	}
	slices.Sort(ts)
	return ts
}

// Contents returns the sorted contents served for type t, in presentation
// form (addresses as netip.Addr writes them).
func (s *Served) Contents(t uint16) []string {
	var out []string
	for _, r := range s.recs {
		if r.Type == t {
			out = append(out, r.Content())
		}
	}
	slices.Sort(out)
	return out
}

// TTL returns the TTL of the RRset of type t (0 when there is none).
func (s *Served) TTL(t uint16) uint32 {
	for _, r := range s.recs {
		if r.Type == t {
			return r.TTL
		}
	}
	return 0
}

// Record is one record served for a name.
type Record struct {
	Type uint16
	TTL  uint32
	Data string // the RDATA in wire form, names uncompressed and in lower case; 4 or 16 bytes for A and AAAA
}

// AddrRecord returns the A (IPv4) or AAAA (IPv6, IPv4-mapped included) record of addr.
func AddrRecord(addr netip.Addr, ttl uint32) Record {
	t := dns.TypeAAAA
	if addr.Is4() {
		t = dns.TypeA
	}
	return Record{Type: t, TTL: ttl, Data: string(addr.AsSlice())}
}

// MaxRecords caps the records of one name (and the rows read for it), and
// MaxBytes their data, so that an entry's records fit its 2-byte length and
// an answer fits a TCP message.
const (
	MaxRecords = 2000
	MaxBytes   = 60000
)

// Size is what r costs in a store entry: A and AAAA a length byte, the
// address and the TTL; other types also their type and data length.
func (r Record) Size() int {
	if r.Type == dns.TypeA || r.Type == dns.TypeAAAA {
		return 5 + len(r.Data)
	}
	return 9 + len(r.Data)
}

// AddRecord adds r to a name's records unless the same data of the same type
// is already there. Records of one type form an RRset with one TTL, the
// lowest of its rows (RFC 2181 section 5.2), whatever order the rows arrive
// in. It reports false, leaving recs as they are, when the name already has
// MaxRecords records or r would take it past MaxBytes.
func AddRecord(recs []Record, r Record) ([]Record, bool) {
	ttl, dup, size := r.TTL, false, r.Size()
	for _, x := range recs {
		size += x.Size()
		if x.Type == r.Type {
			ttl = min(ttl, x.TTL)
			dup = dup || x.Data == r.Data
		}
	}
	if !dup && (len(recs) >= MaxRecords || size > MaxBytes) {
		return recs, false
	}
	for i := range recs {
		if recs[i].Type == r.Type {
			recs[i].TTL = ttl
		}
	}
	if dup {
		return recs, true
	}
	return append(recs, Record{Type: r.Type, TTL: ttl, Data: r.Data}), true
}
