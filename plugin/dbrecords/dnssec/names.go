package dnssec

import (
	"slices"

	"github.com/miekg/dns"
)

// Names next to a name in canonical order (RFC 4034 section 6.1), as RFC
// 4471 derives them, for NSEC records that cover exactly what they must:
// the next name of a black lie, and the NSEC that proves a name a wildcard
// answers does not exist itself.

// Successor returns the name that follows owner in canonical order: \000.owner
// when that fits in 255 octets; else owner with a \000 octet added to its
// first label; else owner with the last octet of its first label increased
// (dropping trailing \255 octets, and skipping the upper-case letters that
// canonical order does not know), and so on up the labels. A name with no
// successor (all \255, which no host name is) is returned as it is.
func Successor(owner string) string { return successor(owner, false) }

// SuccessorPast returns the first name after owner and every name below it.
func SuccessorPast(owner string) string { return successor(owner, true) }

func successor(owner string, past bool) string {
	wire, ok := pack(owner)
	if !ok {
		return `\000.` + owner
	}
	n := len(wire)
	if !past && n+2 <= 255 {
		return `\000.` + owner
	}
	for off := 0; wire[off] != 0; off += int(wire[off]) + 1 {
		l := int(wire[off])
		label, rest := wire[off+1:off+1+l], wire[off+1+l:]
		if l < 63 && (off > 0 || n+1 <= 255) {
			return unpackName(slices.Concat([]byte{byte(l + 1)}, label, []byte{0}, rest))
		}
		for len(label) > 0 && label[len(label)-1] == 0xff {
			label = label[:len(label)-1]
		}
		if len(label) == 0 {
			continue // the next name is past the parent's whole subtree
		}
		label = lower(label)
		label[len(label)-1]++
		if c := label[len(label)-1]; c >= 'A' && c <= 'Z' {
			label[len(label)-1] = 'Z' + 1
		}
		return unpackName(slices.Concat([]byte{byte(len(label))}, label, rest))
	}
	return owner
}

// Predecessor returns a name before owner (owner being below its zone's
// apex) with no name that can exist in the zone between them: names there
// are host names, whose labels hold no \255 octet. So it is owner's first
// label with its last octet decreased and a \255 octet after it, which
// sorts after every host-name label that precedes owner's and has no host
// names below it; or, when that last octet is \000, a \255 label above the
// label without it, which sorts after every host name below that label.
// Where such a name would not fit, it is the immediate predecessor of RFC
// 4471: the last name below the preceding label, \255 octets as far as they
// fit. A first label of the single octet \000 has owner's parent before it.
func Predecessor(owner string) string {
	wire, ok := pack(owner)
	if !ok || wire[0] == 0 {
		return owner
	}
	l := int(wire[0])
	label, rest := lower(wire[1:1+l]), wire[1+l:]
	var name []byte
	switch {
	case l == 1 && label[0] == 0:
		return unpackName(rest)
	case label[l-1] == 0:
		label = label[:l-1]
		if name = slices.Concat([]byte{1, 0xff, byte(len(label))}, label, rest); len(name) <= 255 {
			return unpackName(name)
		}
	default:
		label[l-1]--
		if c := label[l-1]; c >= 'A' && c <= 'Z' {
			label[l-1] = 'A' - 1
		}
		if len(label) < 63 && len(label)+2+len(rest) <= 255 {
			return unpackName(slices.Concat([]byte{byte(len(label) + 1)}, label, []byte{0xff}, rest))
		}
		for len(label) < 63 && len(label)+2+len(rest) <= 255 {
			label = append(label, 0xff)
		}
	}
	name = slices.Concat([]byte{byte(len(label))}, label, rest)
	for len(name)+2 <= 255 { // the last name below it
		k := min(63, 255-len(name)-1)
		name = slices.Concat([]byte{byte(k)}, slices.Repeat([]byte{0xff}, k), name)
	}
	return unpackName(name)
}

// pack returns owner in wire format.
func pack(owner string) ([]byte, bool) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(owner), buf, 0, nil, false)
	return buf[:n], err == nil
}

// lower returns a copy of label in ASCII lower case, as canonical order
// compares it.
func lower(label []byte) []byte {
	out := slices.Clone(label)
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}

// unpackName returns the presentation form of a wire-format name.
func unpackName(wire []byte) string {
	name, _, err := dns.UnpackDomainName(wire, 0)
	if err != nil {
		return "."
	}
	return name
}

// CoveringNSEC returns the NSEC that proves name does not exist, nor any
// name below it, and nothing else: from its predecessor to the first name
// past its subtree (RFC 4470 minimally covering), as a wildcard answer
// needs for the name one label below the wildcard's parent (RFC 4035
// section 3.1.3.3).
func CoveringNSEC(name string, ttl uint32) *dns.NSEC {
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: Predecessor(name), Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: SuccessorPast(name),
		TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC},
	}
}
