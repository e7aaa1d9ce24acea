package dbrecords

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// apexSigs are the signed RRsets at a zone's apex for one serial and one
// content of the apex entry; built when first asked, kept until either
// changes.
type apexSigs struct {
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
// of type qtype in zone zi of snap; e is the entry that answered, if found.
// A positive answer below the apex costs only its entry's signatures; the
// apex's are looked up for the apex and for negative answers.
func (d *DBRecords) signReply(m *dns.Msg, snap *store.Snapshot, zi int, z store.Version, owner, qname string, qtype uint16, e store.Entry, found bool) {
	s := d.signers[zi]
	switch {
	case qname == z.Name:
		a := d.apexSigned(snap, zi, z)
		switch {
		case qtype == dns.TypeDNSKEY:
			m.Answer, m.Ns = dnssec.Copies(a.dnskey), nil
		case qtype == dns.TypeSOA:
			m.Answer = append(m.Answer, dnssec.Copies(a.soa)...)
		case qtype == dns.TypeNS:
			m.Answer = append(m.Answer, dnssec.Copies(a.ns)...)
			m.Extra = append(m.Extra, d.glueSigs(snap, s, z.Name, m.Extra)...)
		case len(m.Answer) > 0:
			apex, _ := snap.Get(z.Name)
			m.Answer = append(m.Answer, s.EntrySigs(&apex, qtype, owner, z.Name, m.Answer[0].Header().Ttl)...)
		}
		if len(m.Answer) == 0 {
			m.Ns = append(m.Ns, d.soaNeg(a)...)
			m.Ns = append(m.Ns, dnssec.Copies(a.nsec)...)
		}
	case found && e.Name() == qname && qtype == dns.TypeNSEC:
		// The NSEC itself is the answer (a denial listing NSEC would contradict itself).
		m.Answer, m.Ns = append([]dns.RR{dnssec.NSECOf(qname, s.NegTTL, s.Bitmap(&e)...)}, s.EntrySigs(&e, dns.TypeNSEC, qname, z.Name, s.NegTTL)...), nil
	case found && e.Name() == qname && qtype == dns.TypeRRSIG:
		// The name's signatures are the answer.
		m.Ns = nil
		for _, t := range e.Types() {
			ttl := s.NegTTL
			if t != dns.TypeNSEC {
				ttl = e.RRs(owner, t)[0].Header().Ttl
			}
			m.Answer = append(m.Answer, s.EntrySigs(&e, t, owner, z.Name, ttl)...)
		}
	case len(m.Answer) > 0 && e.Name() == qname:
		m.Answer = append(m.Answer, s.EntrySigs(&e, qtype, owner, z.Name, m.Answer[0].Header().Ttl)...)
	case len(m.Answer) > 0: // synthesized from a wildcard: signed as its own name
		m.Answer = append(m.Answer, s.SignNow(m.Answer, z.Name)...)
	case found && e.Name() == qname: // NODATA
		// In lower case: an NSEC's next name is signed as written
		// (RFC 6840 section 5.1), and it was signed in lower case.
		nsec := dnssec.NSECOf(qname, s.NegTTL, s.Bitmap(&e)...)
		m.Ns = append(m.Ns, d.soaNeg(d.apexSigned(snap, zi, z))...)
		m.Ns = append(m.Ns, nsec)
		m.Ns = append(m.Ns, s.EntrySigs(&e, dns.TypeNSEC, qname, z.Name, s.NegTTL)...)
	default: // NODATA at a wildcard's name, or a name that does not exist (black lies)
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}
		if found {
			types = s.Bitmap(&e)
		}
		nsec := dnssec.NSECOf(qname, s.NegTTL, types...)
		m.Rcode = dns.RcodeSuccess
		m.Ns = append(m.Ns, d.soaNeg(d.apexSigned(snap, zi, z))...)
		m.Ns = append(m.Ns, nsec)
		m.Ns = append(m.Ns, s.SignNow([]dns.RR{nsec}, z.Name)...)
	}
}

// signNow signs rrset with the zone-signing keys, for one answer.
// glueSigs returns the signatures of the glue in extra, from their entries.
func (d *DBRecords) glueSigs(snap *store.Snapshot, s *dnssec.Signer, zone string, extra []dns.RR) []dns.RR {
	var out []dns.RR
	for i, rr := range extra {
		h := rr.Header()
		if i > 0 && extra[i-1].Header().Name == h.Name && extra[i-1].Header().Rrtype == h.Rrtype {
			continue // one RRset, signed once
		}
		if e, ok := snap.Get(h.Name); ok && records.InZone(h.Name, zone) {
			out = append(out, s.EntrySigs(&e, h.Rrtype, h.Name, zone, h.Ttl)...)
		}
	}
	return out
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

// apexSigned returns zone zi's signed apex RRsets for snap, signing them
// when the serial or the apex's own records changed, or they age.
func (d *DBRecords) apexSigned(snap *store.Snapshot, zi int, z store.Version) *apexSigs {
	apex, hasApex := snap.Get(z.Name)
	data := ""
	if hasApex {
		data = apex.Content()
	}
	s := d.signers[zi]
	if a := d.apexc[zi].p.Load(); a != nil && a.serial == z.Serial && a.apexData == data && s.Now().Add(dnssec.Refresh).Before(a.expir) {
		return a
	}
	incep, expir := s.Window()
	a := &apexSigs{serial: z.Serial, apexData: data, expir: time.Unix(int64(expir), 0)}
	soa := z.SOA(d.cfg.ttl, d.cfg.negativeTTL)
	a.soa = s.Sign([]dns.RR{soa}, z.Name, s.ZSK, incep, expir)
	ns := d.nsRRs(z, z.Name)
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
		types = s.Bitmap(&apex)
		types = types[:len(types)-2] // A, AAAA as present
	}
	types = append(types, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY)
	slices.Sort(types)
	nsec := dnssec.NSECOf(z.Name, s.NegTTL, types...)
	a.nsec = append([]dns.RR{nsec}, s.Sign([]dns.RR{nsec}, z.Name, s.ZSK, incep, expir)...)
	d.apexc[zi].p.Store(a)
	return a
}
