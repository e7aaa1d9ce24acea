package dbrecords

import (
	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// A block may serve a zone and a zone below it (example.org and
// sub.example.org). Queries below the child's apex are the child's, but the
// parent holds the zone cut: the child's NS RRset, its DS when the child is
// signed, and glue for name servers inside the child. The parent answers the
// child's DS (RFC 4035 section 3.1.4.1) and sends the cut in its transfers,
// so a secondary of the parent alone refers to the child.

// dsRRs returns the DS RRset of zone ci, named owner: one per key-signing key
// (or CSK) of ci's signer in snap, SHA-256; nil when ci is not signed.
func (d *DBRecords) dsRRs(snap *store.Snapshot, ci int, owner string) []dns.RR {
	s := signerOf(snap, ci)
	if s == nil {
		return nil
	}
	var out []dns.RR
	for _, k := range s.KSK {
		if ds := k.RR.ToDS(dns.SHA256); ds != nil {
			ds.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: d.cfg.ttl}
			out = append(out, ds)
		}
	}
	return out
}

// cut returns the records of zone pi's cut for its child ci: the NS RRset,
// the DS RRset and the glue (addresses of the name servers inside ci).
func (d *DBRecords) cut(snap *store.Snapshot, ci int) (ns, ds, glue []dns.RR) {
	c := d.zones.List[ci]
	ns = d.nsRRs(snap, store.Version{Zone: c}, c.Name)
	return ns, d.dsRRs(snap, ci, c.Name), d.glue(snap, ns, ci)
}

// emptyNonTerminal answers qtype at qname, a name of zone zi with no
// records of its own but a zone of the block below it (sub.a.example.org
// below example.org makes a.example.org exist): NODATA, or with DO its NSEC
// (types RRSIG and NSEC) as the answer to an NSEC or RRSIG query and as the
// proof otherwise. Neither NXDOMAIN (RFC 8020 would hide the child zone)
// nor a wildcard of zi applies.
func (d *DBRecords) emptyNonTerminal(m *dns.Msg, snap *store.Snapshot, zi int, z store.Version, s *dnssec.Signer, qname string, qtype uint16, do bool) {
	if !do {
		m.Ns = []dns.RR{z.SOA(d.cfg.negativeTTL, d.cfg.negativeTTL)}
		return
	}
	nsec := dnssec.NSECOf(qname, s.NegTTL, dns.TypeRRSIG, dns.TypeNSEC)
	sigs := s.SignNow([]dns.RR{nsec}, z.Name)
	switch qtype {
	case dns.TypeNSEC:
		m.Answer = append([]dns.RR{nsec}, sigs...)
	case dns.TypeRRSIG:
		m.Answer = sigs
	default:
		m.Ns = append([]dns.RR{z.SOA(d.cfg.negativeTTL, d.cfg.negativeTTL)}, d.soaNeg(d.apexSigned(snap, zi, z, s))...)
		m.Ns = append(append(m.Ns, nsec), sigs...)
	}
}

// delegationDS answers a DS query for the apex of zone ci from its parent
// zone pi, in m: the DS RRset, or NODATA; signed by the parent with DO.
func (d *DBRecords) delegationDS(m *dns.Msg, snap *store.Snapshot, pi, ci int, owner, qname string, do bool) {
	p := store.Version{Zone: d.zones.List[pi], Serial: snap.Zones[pi].Serial}
	m.Answer = d.dsRRs(snap, ci, owner)
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{p.SOA(d.cfg.negativeTTL, d.cfg.negativeTTL)}
	}
	s := signerOf(snap, pi)
	if !do || s == nil {
		return
	}
	if len(m.Answer) > 0 {
		m.Answer = append(m.Answer, s.SignNow(m.Answer, p.Name)...)
		return
	}
	// An insecure delegation: the NSEC at the cut lists NS, and no DS.
	m.Ns = append(m.Ns, d.soaNeg(d.apexSigned(snap, pi, p, s))...)
	nsec := dnssec.NSECOf(qname, s.NegTTL, dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC)
	m.Ns = append(m.Ns, nsec)
	m.Ns = append(m.Ns, s.SignNow([]dns.RR{nsec}, p.Name)...)
}
