package records

import (
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Kind is one record type the plugin serves: how a row's content becomes
// RDATA and what an answer adds for it. Serving another type (SVCB, NAPTR)
// is one more entry in kinds; the store, answers, signing and transfers
// work on any type.
type Kind struct {
	// check validates a parsed record beyond what miekg/dns's parser checks
	// and puts its names in lower case; nil accepts what parses.
	check func(dns.RR) bool
	// Target returns the name whose addresses an answer adds to the
	// additional section (RFC 1035 section 3.3: MX, SRV, NS); nil for none.
	Target func(dns.RR) string
}

// kinds are the served types other than A and AAAA, which Parse reads
// itself (they are most rows, and netip reads them without allocating).
var kinds = map[uint16]*Kind{
	dns.TypeCNAME: {check: func(rr dns.RR) bool { c := rr.(*dns.CNAME); c.Target = lowerName(c.Target); return hostName(c.Target) }},
	dns.TypeTXT:   {check: func(rr dns.RR) bool { return len(rr.(*dns.TXT).Txt) > 0 }},
	dns.TypeMX: {
		check:  func(rr dns.RR) bool { m := rr.(*dns.MX); m.Mx = lowerName(m.Mx); return m.Mx == "." || hostName(m.Mx) },
		Target: func(rr dns.RR) string { return rr.(*dns.MX).Mx },
	},
	dns.TypeSRV: {
		check: func(rr dns.RR) bool {
			s := rr.(*dns.SRV)
			s.Target = lowerName(s.Target)
			return s.Target == "." || hostName(s.Target)
		},
		Target: func(rr dns.RR) string { return rr.(*dns.SRV).Target },
	},
	dns.TypeCAA: {check: func(rr dns.RR) bool { c := rr.(*dns.CAA); return caaTag(c.Tag) && printable(c.Value) }},
	dns.TypeNS: {
		check:  func(rr dns.RR) bool { n := rr.(*dns.NS); n.Ns = lowerName(n.Ns); return hostName(n.Ns) },
		Target: func(rr dns.RR) string { return rr.(*dns.NS).Ns },
	},
	dns.TypeDS:  {check: func(rr dns.RR) bool { return rr.(*dns.DS).Digest != "" }},
	dns.TypePTR: {check: func(rr dns.RR) bool { p := rr.(*dns.PTR); p.Ptr = lowerName(p.Ptr); return hostName(p.Ptr) }},
}

// Types returns the types the plugin serves, in type order.
func Types() []uint16 {
	ts := []uint16{dns.TypeA, dns.TypeAAAA}
	for t := range kinds {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// KindOf returns the kind of type t; nil for A, AAAA and types not served.
func KindOf(t uint16) *Kind { return kinds[t] }

// Served reports whether rows of type t are served.
func ServedType(t uint16) bool { return t == dns.TypeA || t == dns.TypeAAAA || kinds[t] != nil }

// lowerName is a name from content as the store keeps it: lower case, absolute.
func lowerName(n string) string { return strings.ToLower(dns.Fqdn(n)) }

// hostName reports whether n (lower-case FQDN) is a name a record may point
// at: a valid domain name that is not an address written as a name
// ("192.0.2.1." is what the parser makes of an address given as an NS).
func hostName(n string) bool {
	key := strings.TrimSuffix(n, ".")
	if _, err := netip.ParseAddr(key); err == nil {
		return false
	}
	return ValidName(key) && !strings.HasPrefix(key, "*")
}

// caaTag reports whether t is a CAA property tag: 1 to 15 ASCII letters
// and digits (RFC 8659 section 4.1).
func caaTag(t string) bool {
	if t == "" || len(t) > 15 {
		return false
	}
	for i := range len(t) {
		if c := t[i] | 0x20; !(c >= 'a' && c <= 'z' || t[i] >= '0' && t[i] <= '9') {
			return false
		}
	}
	return true
}

// printable reports whether s is printable ASCII without quotes and
// backslashes, as CAA values are (RFC 8659 section 4.1.1: domain names,
// parameters, URLs), so that they read back as written.
func printable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}

// typeCode returns the type of a row's type column (any case, blanks
// around it ignored); 0 when it is not a type the plugin serves.
func typeCode(s string) uint16 {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, "A"):
		return dns.TypeA
	case strings.EqualFold(s, "AAAA"):
		return dns.TypeAAAA
	}
	t := dns.StringToType[strings.ToUpper(s)]
	if kinds[t] == nil {
		return 0
	}
	return t
}

// MaxContent is the most characters a row's content may hold, as many as
// the column (SPEC "The table").
const MaxContent = 4096

// rdata parses content, the presentation form of a record of type t (not A
// or AAAA), and returns its RDATA in wire form with names uncompressed and
// in lower case.
func rdata(t uint16, content string) (string, bool) {
	content = strings.TrimSpace(content)
	if content == "" || utf8.RuneCountInString(content) > MaxContent || strings.ContainsAny(content, "\n\r") {
		return "", false
	}
	var rr dns.RR
	if t == dns.TypeTXT && content[0] != '"' {
		rr = &dns.TXT{Hdr: dns.RR_Header{Rrtype: t, Class: dns.ClassINET}, Txt: txtPieces(content)}
	} else {
		p := dns.NewZoneParser(strings.NewReader(". 0 IN "+dns.TypeToString[t]+" "+content), ".", "")
		var ok bool
		rr, ok = p.Next()
		if !ok || p.Err() != nil || rr.Header().Rrtype != t {
			return "", false
		}
		if _, more := p.Next(); more { // one record per row
			return "", false
		}
	}
	if k := kinds[t]; k.check != nil && !k.check(rr) {
		return "", false
	}
	rr.Header().Name = "."
	buf := make([]byte, dns.Len(rr)+1)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil || off < 11 {
		return "", false
	}
	return string(buf[11:off]), true // after the header: root owner, type, class, TTL, length
}

// txtPieces splits unquoted TXT content, one string of any length, into
// character-strings of at most 255 bytes (RFC 1035 section 3.3.14), in the
// escaped form miekg/dns keeps them in.
func txtPieces(s string) []string {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	var out []string
	for len(s) > 255 {
		out = append(out, esc.Replace(s[:255]))
		s = s[255:]
	}
	return append(out, esc.Replace(s))
}

// RR returns the record as a dns.RR named owner; nil when its data does
// not unpack (never for data Parse made).
func (r Record) RR(owner string) dns.RR {
	hdr := dns.RR_Header{Name: owner, Rrtype: r.Type, Class: dns.ClassINET, Ttl: r.TTL, Rdlength: uint16(len(r.Data))} //nolint:gosec // at most MaxBytes
	rr, _, err := dns.UnpackRRWithHeader(hdr, []byte(r.Data), 0)
	if err != nil {
		return nil
	}
	return rr
}

// Content returns the record's RDATA in presentation form, as a row's
// content would hold it.
func (r Record) Content() string {
	rr := r.RR(".")
	if rr == nil {
		return ""
	}
	return Presentation(rr)
}

// Presentation returns rr's RDATA as a zone file writes it after the type:
// what a row's content holds.
func Presentation(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
