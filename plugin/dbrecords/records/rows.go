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
	badTTL
	TooMany
	NumReasons
)

var reasonText = [NumReasons]string{
	Valid:        "valid",
	badName:      "a name that is not a valid host name",
	outsideZones: "a name outside every served zone",
	badType:      "a type other than A or AAAA",
	badAddress:   "an address that does not parse or does not match its type",
	badTTL:       "a TTL above 2147483647",
	TooMany:      fmt.Sprintf("more than %d records for one name", MaxRecords),
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
	var v6 bool
	switch strings.ToUpper(strings.TrimSpace(r.Type)) {
	case "A":
	case "AAAA":
		v6 = true
	default:
		return servedRow{}, badType
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(r.Content))
	if err != nil || addr.Zone() != "" || addr.Is4() == v6 {
		return servedRow{}, badAddress
	}
	ttl := defaultTTL
	if !r.TTLNull {
		if r.TTL < 0 || r.TTL > MaxTTL {
			return servedRow{}, badTTL
		}
		ttl = uint32(r.TTL)
	}
	return servedRow{FQDN: fqdn, Zone: zi, Rec: Record{Addr: addr, TTL: ttl}}, Valid
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

// Served is what the plugin serves for one name.
type Served struct{ recs []Record }

// Valid reports whether the plugin serves the row, and why not.
func (r Rules) Valid(name, typ, content string, ttl int64, ttlNull bool) (fqdn string, why string) {
	sr, reason := Parse(Row{Name: name, Type: typ, Content: content, TTL: ttl, TTLNull: ttlNull}, r.zones, r.ttl)
	if reason != Valid {
		return "", reason.String()
	}
	return sr.FQDN, ""
}

// Add adds a row to served (by lower-case FQDN) as the plugin would, and
// reports whether the plugin serves it.
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

// Addrs returns the sorted addresses served for type t (A or AAAA), as
// netip.Addr writes them.
func (s *Served) Addrs(t uint16) []string {
	var out []string
	for _, r := range s.recs {
		if r.Addr.Is4() == (t == dns.TypeA) {
			out = append(out, r.Addr.String())
		}
	}
	slices.Sort(out)
	return out
}

// TTL returns the TTL of the RRset of type t (0 when there is none).
func (s *Served) TTL(t uint16) uint32 {
	for _, r := range s.recs {
		if r.Addr.Is4() == (t == dns.TypeA) {
			return r.TTL
		}
	}
	return 0
}

// Record is one address served for a name.
type Record struct {
	Addr netip.Addr // IPv4 for A, IPv6 (IPv4-mapped included) for AAAA
	TTL  uint32
}

// MaxRecords caps the records of one name (and the rows read for it), so that an entry's records fit
// its 2-byte length and an answer fits a TCP message.
const MaxRecords = 2000

// AddRecord adds r to a name's records unless its address is already there.
// Records of one type form an RRset with one TTL, the lowest of its rows
// (RFC 2181 section 5.2), whatever order the rows arrive in. It reports
// false, leaving recs as they are, when the name already has MaxRecords.
func AddRecord(recs []Record, r Record) ([]Record, bool) {
	v4, ttl, dup := r.Addr.Is4(), r.TTL, false
	for _, x := range recs {
		if x.Addr.Is4() == v4 {
			ttl = min(ttl, x.TTL)
			dup = dup || x.Addr == r.Addr
		}
	}
	if !dup && len(recs) >= MaxRecords {
		return recs, false
	}
	for i := range recs {
		if recs[i].Addr.Is4() == v4 {
			recs[i].TTL = ttl
		}
	}
	if dup {
		return recs, true
	}
	return append(recs, Record{Addr: r.Addr, TTL: ttl}), true
}
