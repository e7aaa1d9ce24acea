package dbrecords

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// DNSSEC: the plugin signs its own answers when given keys (the "key file"
// property, as the dnssec plugin spells it). Every RRset of the table is
// signed once, when it enters a snapshot, and its signatures are kept with
// its entry: answering a signed query then costs what answering costs, plus
// building the RRSIG records. A changed name gets new signatures in the
// snapshot that changes it, so an old signature is never served with new
// data. Signatures are valid for sigValidity plus up to sigJitter and are
// renewed sigRefresh before they expire, a few entries per sync. What
// depends on the query name is signed when asked: the NSEC of a name that
// does not exist (black lies: NOERROR with an NSEC from the name to
// \000.name whose types are RRSIG, NSEC and NXNAME, RFC 9824) and answers
// synthesized from a wildcard, which are signed as their own names, as the
// dnssec plugin does.

const (
	sigValidity = 14 * 24 * time.Hour
	sigJitter   = 7 * 24 * time.Hour
	sigRefresh  = 7 * 24 * time.Hour // renewed when less validity is left
	sigBackdate = time.Hour          // inception before now, for clocks behind ours
)

// dnsKey is one key pair read from the files dnssec-keygen writes.
type dnsKey struct {
	rr     *dns.DNSKEY
	signer crypto.Signer
	tag    uint16
	sigLen int // bytes of one signature
}

// readKey reads base.key and base.private (base may end in either).
func readKey(base string) (*dnsKey, error) {
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".key"), ".private")
	pub, err := os.ReadFile(filepath.Clean(base + ".key"))
	if err != nil {
		return nil, err
	}
	rr, err := dns.NewRR(string(pub))
	if err != nil {
		return nil, fmt.Errorf("%s.key: %v", base, err)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("%s.key holds no DNSKEY", base)
	}
	f, err := os.Open(filepath.Clean(base + ".private"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	priv, err := dk.ReadPrivateKey(f, base+".private")
	if err != nil {
		return nil, fmt.Errorf("%s.private: %v", base, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s.private: not a signing key", base)
	}
	k := &dnsKey{rr: dk, signer: signer, tag: dk.KeyTag()}
	// Learn the signature length, and that the key signs at all.
	probe := &dns.RRSIG{Algorithm: dk.Algorithm, KeyTag: k.tag, SignerName: dk.Hdr.Name}
	if err := probe.Sign(signer, []dns.RR{dk}); err != nil {
		return nil, fmt.Errorf("%s: cannot sign: %v", base, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(probe.Signature)
	k.sigLen = len(raw)
	return k, nil
}

// signer signs with a zone's keys: the DNSKEY RRset with the key-signing
// keys (flag SEP), everything else with the others; with only one kind,
// every key signs everything. Each key adds a signature to every RRset, so
// a rollover can sign with the old and the new key at once.
type signer struct {
	keys     []*dnsKey
	zsk, ksk []*dnsKey
	negTTL   uint32 // NSEC TTL (RFC 9077: the SOA minimum)
	now      func() time.Time
}

func newSigner(keys []*dnsKey, negTTL uint32) *signer {
	s := &signer{keys: keys, negTTL: negTTL, now: time.Now}
	for _, k := range keys {
		if k.rr.Flags&dns.SEP != 0 {
			s.ksk = append(s.ksk, k)
		} else {
			s.zsk = append(s.zsk, k)
		}
	}
	if len(s.zsk) == 0 || len(s.ksk) == 0 {
		s.zsk, s.ksk = keys, keys
	}
	return s
}

// sign returns the RRSIGs of rrset (one owner, one type) by keys.
func (s *signer) sign(rrset []dns.RR, zone string, keys []*dnsKey, incep, expir uint32) []dns.RR {
	out := make([]dns.RR, 0, len(keys))
	for _, k := range keys {
		sig := k.newRRSIG(rrset[0].Header(), zone, incep, expir)
		raw, err := k.rawSig(rrset, sig)
		if err != nil {
			log.Errorf("Signing %s/%s: %v", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], err)
			continue
		}
		sig.Signature = base64.StdEncoding.EncodeToString(raw)
		out = append(out, sig)
	}
	return out
}

// newRRSIG returns k's RRSIG for the RRset whose first header is h, without
// its signature: it lives as long as the RRset (OrigTtl and TTL are h's).
func (k *dnsKey) newRRSIG(h *dns.RR_Header, zone string, incep, expir uint32) *dns.RRSIG {
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		TypeCovered: h.Rrtype, Algorithm: k.rr.Algorithm, Labels: sigLabels(h.Name), OrigTtl: h.Ttl,
		Expiration: expir, Inception: incep, KeyTag: k.tag, SignerName: zone,
	}
}

// sigLabels is an RRSIG's Labels field for owner: its labels, a leading
// wildcard not counted (RFC 4034 section 3.1.3).
func sigLabels(owner string) uint8 {
	n := uint8(dns.CountLabel(owner)) //nolint:gosec // at most 127
	if strings.HasPrefix(owner, "*.") {
		n--
	}
	return n
}

// window returns an inception and an expiration for signatures made now,
// the expiration spread over sigJitter so that renewals spread too.
func (s *signer) window() (incep, expir uint32) {
	now := s.now()
	jitter := time.Duration(rand.Int64N(int64(sigJitter)))                                    //nolint:gosec // spreading, not secrecy
	return uint32(now.Add(-sigBackdate).Unix()), uint32(now.Add(sigValidity + jitter).Unix()) //nolint:gosec // RFC 4034 serial time
}

// nsec is the NSEC of an existing name (black lies: from the name to
// \000.name), listing the types it has.
func nsecOf(owner string, ttl uint32, types ...uint16) *dns.NSEC {
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: `\000.` + owner,
		TypeBitMap: types,
	}
}

// entryTypes returns the RRset types of e in signing order, NSEC last.
func entryTypes(e *entry) []uint16 {
	var v4, v6 bool
	for i := int(e.nlen); i < len(e.data); {
		ip, _, j := e.next(i)
		v4, v6, i = v4 || len(ip) == 4, v6 || len(ip) == 16, j
	}
	var ts []uint16
	if v4 {
		ts = append(ts, dns.TypeA)
	}
	if v6 {
		ts = append(ts, dns.TypeAAAA)
	}
	return append(ts, dns.TypeNSEC)
}

// signEntry sets e.sigs: inception and expiration (4 bytes each), then per
// RRset (A, AAAA, NSEC, as present) one signature per key, in key order.
func (s *signer) signEntry(e *entry, zone string) {
	incep, expir := s.window()
	b := binary.BigEndian.AppendUint32(nil, incep)
	b = binary.BigEndian.AppendUint32(b, expir)
	name := e.name()
	for _, t := range entryTypes(e) {
		var rrset []dns.RR
		if t == dns.TypeNSEC {
			rrset = []dns.RR{nsecOf(name, s.negTTL, s.bitmap(e)...)}
		} else {
			rrset = e.rrs(name, t)
		}
		for _, k := range s.zsk {
			raw, err := k.rawSig(rrset, k.newRRSIG(rrset[0].Header(), zone, incep, expir))
			if err != nil || len(raw) != k.sigLen {
				log.Errorf("Signing %s/%s: %v", name, dns.TypeToString[t], err)
				e.sigs = "" // answered unsigned rather than with some signatures missing
				return
			}
			b = append(b, raw...)
		}
	}
	e.sigs = string(b)
}

// bitmap is the NSEC type list of an existing name.
func (s *signer) bitmap(e *entry) []uint16 {
	ts := entryTypes(e)
	ts = ts[:len(ts)-1]
	return append(ts, dns.TypeRRSIG, dns.TypeNSEC)
}

// entrySigs returns the RRSIGs kept in e for its RRset of type t, for the
// owner name as asked (any case) with TTL ttl; nil when e is not signed.
func (s *signer) entrySigs(e *entry, t uint16, owner string, zone string, ttl uint32) []dns.RR {
	if len(e.sigs) < 8 {
		return nil
	}
	per := 0
	for _, k := range s.zsk {
		per += k.sigLen
	}
	off := 8
	for _, et := range entryTypes(e) {
		if et == t {
			break
		}
		off += per
	}
	if off+per > len(e.sigs) {
		return nil
	}
	incep := binary.BigEndian.Uint32([]byte(e.sigs[0:4]))
	expir := binary.BigEndian.Uint32([]byte(e.sigs[4:8]))
	labels := sigLabels(e.name())
	out := make([]dns.RR, 0, len(s.zsk))
	for _, k := range s.zsk {
		origTTL := ttl
		if t == dns.TypeNSEC {
			origTTL = s.negTTL
		}
		out = append(out, &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
			TypeCovered: t, Algorithm: k.rr.Algorithm, Labels: labels, OrigTtl: origTTL,
			Expiration: expir, Inception: incep, KeyTag: k.tag, SignerName: zone,
			Signature: base64.StdEncoding.EncodeToString([]byte(e.sigs[off : off+k.sigLen])),
		})
		off += k.sigLen
	}
	return out
}

// needsRenewal reports whether e's signatures expire within sigRefresh.
func (s *signer) needsRenewal(e *entry) bool {
	if len(e.sigs) < 8 {
		return true
	}
	expir := int64(binary.BigEndian.Uint32([]byte(e.sigs[4:8])))
	return expir-s.now().Unix() < int64(sigRefresh/time.Second)
}

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

var errSlowPath = errors.New("no direct signing for this algorithm")

// apexCache holds one zone's apexSigs.
type apexCache struct{ p atomic.Pointer[apexSigs] }

// signReply adds DNSSEC records to m, the answer for qname (owner as asked)
// of type qtype in zone zi of snap; e is the entry that answered, if found.
// A positive answer below the apex costs only its entry's signatures; the
// apex's are looked up for the apex and for negative answers.
func (d *DBRecords) signReply(m *dns.Msg, snap *snapshot, zi int, z version, owner, qname string, qtype uint16, e entry, found bool) {
	s := d.signers[zi]
	switch {
	case qname == z.name:
		a := d.apexSigned(snap, zi, z)
		switch {
		case qtype == dns.TypeDNSKEY:
			m.Answer, m.Ns = copies(a.dnskey), nil
		case qtype == dns.TypeSOA:
			m.Answer = append(m.Answer, copies(a.soa)...)
		case qtype == dns.TypeNS:
			m.Answer = append(m.Answer, copies(a.ns)...)
			m.Extra = append(m.Extra, d.glueSigs(snap, s, z.name, m.Extra)...)
		case len(m.Answer) > 0:
			apex, _ := snap.get(z.name)
			m.Answer = append(m.Answer, s.entrySigs(&apex, qtype, owner, z.name, m.Answer[0].Header().Ttl)...)
		}
		if len(m.Answer) == 0 {
			m.Ns = append(m.Ns, d.soaNeg(a)...)
			m.Ns = append(m.Ns, copies(a.nsec)...)
		}
	case found && e.name() == qname && qtype == dns.TypeNSEC:
		// The NSEC itself is the answer (a denial listing NSEC would contradict itself).
		m.Answer, m.Ns = append([]dns.RR{nsecOf(qname, s.negTTL, s.bitmap(&e)...)}, s.entrySigs(&e, dns.TypeNSEC, qname, z.name, s.negTTL)...), nil
	case found && e.name() == qname && qtype == dns.TypeRRSIG:
		// The name's signatures are the answer.
		m.Ns = nil
		for _, t := range entryTypes(&e) {
			ttl := s.negTTL
			if t != dns.TypeNSEC {
				ttl = e.rrs(owner, t)[0].Header().Ttl
			}
			m.Answer = append(m.Answer, s.entrySigs(&e, t, owner, z.name, ttl)...)
		}
	case len(m.Answer) > 0 && e.name() == qname:
		m.Answer = append(m.Answer, s.entrySigs(&e, qtype, owner, z.name, m.Answer[0].Header().Ttl)...)
	case len(m.Answer) > 0: // synthesized from a wildcard: signed as its own name
		m.Answer = append(m.Answer, s.signNow(m.Answer, z.name)...)
	case found && e.name() == qname: // NODATA
		// In lower case: an NSEC's next name is signed as written
		// (RFC 6840 section 5.1), and it was signed in lower case.
		nsec := nsecOf(qname, s.negTTL, s.bitmap(&e)...)
		m.Ns = append(m.Ns, d.soaNeg(d.apexSigned(snap, zi, z))...)
		m.Ns = append(m.Ns, nsec)
		m.Ns = append(m.Ns, s.entrySigs(&e, dns.TypeNSEC, qname, z.name, s.negTTL)...)
	default: // NODATA at a wildcard's name, or a name that does not exist (black lies)
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}
		if found {
			types = s.bitmap(&e)
		}
		nsec := nsecOf(qname, s.negTTL, types...)
		m.Rcode = dns.RcodeSuccess
		m.Ns = append(m.Ns, d.soaNeg(d.apexSigned(snap, zi, z))...)
		m.Ns = append(m.Ns, nsec)
		m.Ns = append(m.Ns, s.signNow([]dns.RR{nsec}, z.name)...)
	}
}

// signNow signs rrset with the zone-signing keys, for one answer.
func (s *signer) signNow(rrset []dns.RR, zone string) []dns.RR {
	incep, expir := s.window0()
	return s.sign(rrset, zone, s.zsk, incep, expir)
}

// window0 is window without jitter, for signatures made per answer.
func (s *signer) window0() (incep, expir uint32) {
	now := s.now()
	return uint32(now.Add(-sigBackdate).Unix()), uint32(now.Add(sigValidity).Unix()) //nolint:gosec // RFC 4034 serial time
}

// glueSigs returns the signatures of the glue in extra, from their entries.
func (d *DBRecords) glueSigs(snap *snapshot, s *signer, zone string, extra []dns.RR) []dns.RR {
	var out []dns.RR
	for i, rr := range extra {
		h := rr.Header()
		if i > 0 && extra[i-1].Header().Name == h.Name && extra[i-1].Header().Rrtype == h.Rrtype {
			continue // one RRset, signed once
		}
		if e, ok := snap.get(h.Name); ok && inZone(h.Name, zone) {
			out = append(out, s.entrySigs(&e, h.Rrtype, h.Name, zone, h.Ttl)...)
		}
	}
	return out
}

// soaNeg returns the SOA's signatures for a negative answer, whose SOA has
// the negative TTL.
func (d *DBRecords) soaNeg(a *apexSigs) []dns.RR {
	out := copies(a.soa)
	for _, rr := range out {
		rr.Header().Ttl = d.cfg.negativeTTL
	}
	return out
}

// apexSigned returns zone zi's signed apex RRsets for snap, signing them
// when the serial or the apex's own records changed, or they age.
func (d *DBRecords) apexSigned(snap *snapshot, zi int, z version) *apexSigs {
	apex, hasApex := snap.get(z.name)
	data := ""
	if hasApex {
		data = apex.data
	}
	s := d.signers[zi]
	if a := d.apexc[zi].p.Load(); a != nil && a.serial == z.serial && a.apexData == data && s.now().Add(sigRefresh).Before(a.expir) {
		return a
	}
	incep, expir := s.window0()
	a := &apexSigs{serial: z.serial, apexData: data, expir: time.Unix(int64(expir), 0)}
	soa := z.soa(d.cfg.ttl, d.cfg.negativeTTL)
	a.soa = s.sign([]dns.RR{soa}, z.name, s.zsk, incep, expir)
	ns := d.nsRRs(z, z.name)
	a.ns = s.sign(ns, z.name, s.zsk, incep, expir)
	var keys []dns.RR
	for _, k := range s.keys {
		rr := dns.Copy(k.rr).(*dns.DNSKEY)
		rr.Hdr.Name, rr.Hdr.Ttl = z.name, d.cfg.ttl
		keys = append(keys, rr)
	}
	a.dnskey = append(keys, s.sign(keys, z.name, s.ksk, incep, expir)...)
	var types []uint16
	if hasApex {
		types = s.bitmap(&apex)
		types = types[:len(types)-2] // A, AAAA as present
	}
	types = append(types, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY)
	slices.Sort(types)
	nsec := nsecOf(z.name, s.negTTL, types...)
	a.nsec = append([]dns.RR{nsec}, s.sign([]dns.RR{nsec}, z.name, s.zsk, incep, expir)...)
	d.apexc[zi].p.Store(a)
	return a
}

// copies returns copies of rrs, so that no answer shares records with another.
func copies(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// rawSig returns k's signature of rrset (one owner, one type) under the
// RRSIG fields of sig. A, AAAA and NSEC RRsets, made for every answer and
// every name, are signed here without the copies and the 4 KB buffer of
// dns.RRSIG.Sign: the RFC 4034 section 3.1.8.1 data is the RRSIG RDATA
// without the signature, then the RRs in canonical form (owner in lower
// case, TTL sig.OrigTtl) and order. Other types, and keys signRaw does not
// handle (RSA), go through dns.RRSIG.Sign.
func (k *dnsKey) rawSig(rrset []dns.RR, sig *dns.RRSIG) ([]byte, error) {
	switch sig.TypeCovered {
	case dns.TypeA, dns.TypeAAAA, dns.TypeNSEC: // no names to lower in their RDATA (RFC 6840 section 5.1)
		raw, err := k.signSet(rrset, sig)
		if !errors.Is(err, errSlowPath) {
			return raw, err
		}
	}
	slow := *sig
	if err := slow.Sign(k.signer, rrset); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(slow.Signature)
}

// signSet is rawSig's own path.
func (k *dnsKey) signSet(rrset []dns.RR, sig *dns.RRSIG) ([]byte, error) {
	buf := make([]byte, 0, 512)
	buf = binary.BigEndian.AppendUint16(buf, sig.TypeCovered)
	buf = append(buf, sig.Algorithm, sig.Labels)
	buf = binary.BigEndian.AppendUint32(buf, sig.OrigTtl)
	buf = binary.BigEndian.AppendUint32(buf, sig.Expiration)
	buf = binary.BigEndian.AppendUint32(buf, sig.Inception)
	buf = binary.BigEndian.AppendUint16(buf, sig.KeyTag)
	n := len(buf)
	buf = buf[:cap(buf)]
	off, err := dns.PackDomainName(dns.CanonicalName(sig.SignerName), buf, n, nil, false)
	if err != nil {
		return nil, err
	}
	// Each RR packed alone, as a copy with the canonical owner and TTL
	// (the answer's RRs are not touched); equal owners, types and TTLs
	// make their wire order their RDATA order.
	wires := make([][]byte, 0, len(rrset))
	for _, rr := range rrset {
		c := dns.Copy(rr)
		c.Header().Name, c.Header().Ttl = dns.CanonicalName(c.Header().Name), sig.OrigTtl
		w := make([]byte, dns.Len(c)+16)
		m, err := dns.PackRR(c, w, 0, nil, false)
		if err != nil {
			return nil, err
		}
		wires = append(wires, w[:m])
	}
	slices.SortFunc(wires, bytes.Compare)
	data := buf[:off]
	for i, w := range wires {
		if i > 0 && bytes.Equal(w, wires[i-1]) {
			continue
		}
		data = append(data, w...)
	}
	return k.signRaw(data)
}

// signRaw signs data as RFC 4034 asks of k's algorithm, returning the
// signature as it goes into an RRSIG.
func (k *dnsKey) signRaw(data []byte) ([]byte, error) {
	switch priv := k.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, data), nil
	case *ecdsa.PrivateKey:
		var digest []byte
		switch k.rr.Algorithm {
		case dns.ECDSAP256SHA256:
			d := sha256.Sum256(data)
			digest = d[:]
		case dns.ECDSAP384SHA384:
			d := sha512.Sum384(data)
			digest = d[:]
		}
		if digest != nil {
			r, s, err := ecdsa.Sign(crand.Reader, priv, digest)
			if err != nil {
				return nil, err
			}
			size := priv.Curve.Params().BitSize / 8
			out := make([]byte, 2*size)
			r.FillBytes(out[:size])
			s.FillBytes(out[size:])
			return out, nil
		}
	}
	// Other algorithms (RSA): through miekg/dns.
	return nil, errSlowPath
}
