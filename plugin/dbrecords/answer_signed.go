package dbrecords

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// apexSigs are the signed RRsets at a zone's apex for one serial and one
// content of the apex entry; built when first asked, kept until either
// changes.
type apexSigs struct {
	signer   *dnssec.Signer
	serial   uint32
	apexData string // the apex entry's data, "" without one
	soa      []dns.RR
	ns       []dns.RR
	dnskey   []dns.RR // the DNSKEY RRset and its signatures
	nsec     []dns.RR // the apex NSEC and its signatures
	expir    time.Time
}

// apexCache holds one zone's apexSigs.
type apexCache struct{ p atomic.Pointer[apexSigs] }

// signReply adds DNSSEC records to m, the answer for qname (owner as asked)
// in zone zi of snap; e is the entry that answered, if found. The answer's
// RRset is signed with what its entry keeps, or now when it was synthesized
// (from a wildcard, or a black lie); a negative answer gets the signed SOA and
// the NSEC of qname (black lies: a name that does not exist gets NOERROR and
// an NSEC whose types are RRSIG, NSEC and NXNAME, RFC 9824).
func (d *DBRecords) signReply(m *dns.Msg, snap *store.Snapshot, zi int, z store.Version, s *dnssec.Signer, owner, qname string, e store.Entry, found bool) {
	if len(m.Answer) > 0 {
		h := m.Answer[0].Header()
		switch {
		case h.Rrtype == dns.TypeRRSIG: // the signatures are the answer
		case qname == z.Name:
			a := d.apexSigned(snap, zi, z, s)
			switch h.Rrtype {
			case dns.TypeSOA:
				m.Answer = append(m.Answer, dnssec.Copies(a.soa)...)
			case dns.TypeNS:
				m.Answer = append(m.Answer, dnssec.Copies(a.ns)...)
			case dns.TypeDNSKEY:
				m.Answer = append(m.Answer, dnssec.Copies(sigsIn(a.dnskey))...)
			case dns.TypeNSEC:
				m.Answer = append(m.Answer, dnssec.Copies(sigsIn(a.nsec))...)
			default:
				apex, _ := snap.Get(z.Name)
				m.Answer = append(m.Answer, s.EntrySigs(&apex, h.Rrtype, owner, z.Name, h.Ttl)...)
			}
		case found && e.Is(qname): // signed when the entry entered the snapshot
			ttl := h.Ttl
			if h.Rrtype == dns.TypeNSEC {
				ttl = s.NegTTL
			}
			m.Answer = append(m.Answer, s.EntrySigs(&e, h.Rrtype, owner, z.Name, ttl)...)
		case found && h.Rrtype != dns.TypeNSEC:
			// Synthesized from a wildcard: the wildcard's own signatures,
			// whose label count tells the validator so (RFC 4034 section
			// 3.1.3), and the proof that no closer name exists. The cost
			// is one small NSEC signature, whatever the RRset's size.
			m.Answer = append(m.Answer, s.EntrySigs(&e, h.Rrtype, owner, z.Name, h.Ttl)...)
			nsec := dnssec.CoveringNSEC(nextCloser(qname, e.Name()), s.NegTTL)
			m.Ns = append(m.Ns, nsec)
			m.Ns = append(m.Ns, s.SignNow([]dns.RR{nsec}, z.Name)...)
		default: // synthesized NSEC records (black lies): signed as their own name
			m.Answer = append(m.Answer, s.SignNow(m.Answer, z.Name)...)
		}
		return
	}
	m.Rcode = dns.RcodeSuccess
	a := d.apexSigned(snap, zi, z, s)
	m.Ns = append(m.Ns, d.soaNeg(a)...)
	switch {
	case qname == z.Name:
		m.Ns = append(m.Ns, dnssec.Copies(a.nsec)...)
	case found && e.Is(qname): // NODATA
		// In lower case: an NSEC's next name is signed as written
		// (RFC 6840 section 5.1), and it was signed in lower case.
		m.Ns = append(m.Ns, dnssec.NSECOf(qname, s.NegTTL, s.Bitmap(&e, z.Name)...))
		m.Ns = append(m.Ns, s.EntrySigs(&e, dns.TypeNSEC, qname, z.Name, s.NegTTL)...)
	default: // NODATA at a wildcard's name, or a name that does not exist (black lies)
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}
		if found {
			types = s.Bitmap(&e, z.Name)
		}
		nsec := dnssec.NSECOf(qname, s.NegTTL, types...)
		m.Ns = append(m.Ns, nsec)
		m.Ns = append(m.Ns, s.SignNow([]dns.RR{nsec}, z.Name)...)
	}
}

// nextCloser returns the name one label below the source of synthesis
// wildcard's parent on the way to qname (RFC 5155's "next closer name"):
// the name whose absence makes the wildcard apply.
func nextCloser(qname, wildcard string) string {
	encloser := dns.CountLabel(wildcard) - 1 // without the "*" label
	offs := dns.Split(qname)
	return qname[offs[len(offs)-encloser-1]:]
}

// apexDNSSEC answers a DNSKEY, NSEC or RRSIG query at zone zi's apex, with
// or without DO: the records are zone data (RFC 4035 section 3.1).
func (d *DBRecords) apexDNSSEC(snap *store.Snapshot, zi int, z store.Version, s *dnssec.Signer, owner string, qtype uint16) []dns.RR {
	a := d.apexSigned(snap, zi, z, s)
	var out []dns.RR
	switch qtype {
	case dns.TypeDNSKEY:
		out = dnssec.Copies(a.dnskey[:len(a.dnskey)-len(sigsIn(a.dnskey))])
	case dns.TypeNSEC:
		out = dnssec.Copies(a.nsec[:1])
	case dns.TypeRRSIG:
		out = dnssec.Copies(slices.Concat(a.soa, a.ns, sigsIn(a.dnskey), sigsIn(a.nsec)))
		if apex, ok := snap.Get(z.Name); ok {
			for _, t := range apex.Types() {
				// The apex NSEC is a.nsec, with the zone's own types; the NS
				// RRset is a.ns, with the ns property's names.
				if t != dns.TypeNSEC && t != dns.TypeNS {
					out = append(out, s.EntrySigs(&apex, t, owner, z.Name, apex.RRs(owner, t)[0].Header().Ttl)...)
				}
			}
		}
	}
	for _, rr := range out {
		rr.Header().Name = owner
	}
	return out
}

// sigsIn returns the RRSIGs at the end of rrs, an RRset followed by its
// signatures.
func sigsIn(rrs []dns.RR) []dns.RR {
	i := len(rrs)
	for i > 0 && rrs[i-1].Header().Rrtype == dns.TypeRRSIG {
		i--
	}
	return rrs[i:]
}

// soaNeg returns the SOA's signatures for a negative answer, whose SOA has
// the negative TTL.
func (d *DBRecords) soaNeg(a *apexSigs) []dns.RR {
	out := dnssec.Copies(a.soa)
	for _, rr := range out {
		rr.Header().Ttl = d.cfg.negativeTTL
	}
	return out
}

// apexSigned returns zone zi's signed apex RRsets for snap, signed by s,
// signing them when the serial, the apex's own records or the signer
// changed, or they age.
func (d *DBRecords) apexSigned(snap *store.Snapshot, zi int, z store.Version, s *dnssec.Signer) *apexSigs {
	apex, hasApex := snap.Get(z.Name)
	data := ""
	if hasApex {
		data = apex.Content()
	}
	if a := d.apexc[zi].p.Load(); a != nil && a.signer == s && a.serial == z.Serial && a.apexData == data && s.Now().Add(dnssec.Refresh).Before(a.expir) {
		return a
	}
	incep, expir := s.Window()
	a := &apexSigs{signer: s, serial: z.Serial, apexData: data, expir: time.Unix(int64(expir), 0)}
	soa := z.SOA(d.cfg.ttl, d.cfg.negativeTTL)
	a.soa = s.Sign([]dns.RR{soa}, z.Name, s.ZSK, incep, expir)
	ns := d.nsRRs(snap, z, z.Name)
	a.ns = s.Sign(ns, z.Name, s.ZSK, incep, expir)
	var keys []dns.RR
	for _, k := range s.Keys {
		rr := dns.Copy(k.RR).(*dns.DNSKEY)
		rr.Hdr.Name, rr.Hdr.Ttl = z.Name, d.cfg.ttl
		keys = append(keys, rr)
	}
	a.dnskey = append(keys, s.Sign(keys, z.Name, s.KSK, incep, expir)...)
	var types []uint16
	if hasApex {
		types = apex.Types() // the apex's rows' types, and NSEC
	}
	types = append(types, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY)
	slices.Sort(types)
	types = slices.Compact(types)
	nsec := dnssec.NSECOf(z.Name, s.NegTTL, types...)
	a.nsec = append([]dns.RR{nsec}, s.Sign([]dns.RR{nsec}, z.Name, s.ZSK, incep, expir)...)
	d.apexc[zi].p.Store(a)
	return a
}
