package dnssec

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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

var log = clog.NewWithPlugin("dbrecords")

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
	Refresh     = 7 * 24 * time.Hour // renewed when less validity is left
	sigBackdate = time.Hour          // inception before now, for clocks behind ours
)

// Key is one key pair read from the files dnssec-keygen writes.
type Key struct {
	RR     *dns.DNSKEY
	signer crypto.Signer
	Tag    uint16
	sigLen int // bytes of one signature
}

// ReadKey reads base.key and base.private (base may end in either).
func ReadKey(base string) (*Key, error) {
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
	content, err := os.ReadFile(filepath.Clean(base + ".private"))
	if err != nil {
		return nil, err
	}
	priv, err := dk.ReadPrivateKey(bytes.NewReader(content), base+".private")
	if err != nil {
		return nil, privateKeyError(base+".private", content, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s.private: not a signing key", base)
	}
	k := &Key{RR: dk, signer: signer, Tag: dk.KeyTag()}
	// Learn the signature length, and that the key signs at all.
	probe := &dns.RRSIG{Algorithm: dk.Algorithm, KeyTag: k.Tag, SignerName: dk.Hdr.Name}
	if err := probe.Sign(signer, []dns.RR{dk}); err != nil {
		return nil, fmt.Errorf("%s: cannot sign: %v", base, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(probe.Signature)
	k.sigLen = len(raw)
	return k, nil
}

// lineOf finds the line number in a miekg/dns parse error.
var lineOf = regexp.MustCompile(`line: ([0-9]+)`)

// privateKeyError says why the .private file at path does not parse, naming
// the file, the line and the field at fault, never a value: the parser's own
// message quotes the key material.
func privateKeyError(path string, content []byte, err error) error {
	m := lineOf.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: not a private key file as dnssec-keygen writes it", path)
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(content), "\n")
	field := "no field name"
	if n >= 1 && n <= len(lines) {
		if name, _, ok := strings.Cut(lines[n-1], ":"); ok && isFieldName(name) {
			field = "field " + name
		}
	}
	return fmt.Errorf("%s: line %d (%s) is not part of a private key file as dnssec-keygen writes it (one \"Field: value\" per line)", path, n, field)
}

// isFieldName reports whether s looks like a .private field name
// (Private-key-format, PrivateKey, Prime1, ...), not like key material.
func isFieldName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// Signer signs with a zone's keys: the DNSKEY RRset with the key-signing
// keys (flag SEP), everything else with the others; with only one kind,
// every key signs everything. Each key adds a signature to every RRset, so
// a rollover can sign with the old and the new key at once.
type Signer struct {
	Keys     []*Key
	ZSK, KSK []*Key
	NegTTL   uint32 // NSEC TTL (RFC 9077: the SOA minimum)
	Now      func() time.Time
}

// New returns a signer with keys, split into KSKs (SEP flag) and ZSKs, whose
// NSEC records have TTL negTTL.
func New(keys []*Key, negTTL uint32) *Signer {
	s := &Signer{Keys: keys, NegTTL: negTTL, Now: time.Now}
	s.KSK, s.ZSK = Split(keys)
	return s
}

// Split divides one zone's keys into those that sign the DNSKEY RRset (and
// whose DS goes to the parent) and those that sign the rest: KSKs (SEP flag)
// and ZSKs when there are both, else every key does both (CSKs).
func Split(keys []*Key) (ksk, zsk []*Key) {
	for _, k := range keys {
		if k.RR.Flags&dns.SEP != 0 {
			ksk = append(ksk, k)
		} else {
			zsk = append(zsk, k)
		}
	}
	if len(ksk) == 0 || len(zsk) == 0 {
		return keys, keys
	}
	return ksk, zsk
}

// Sign returns the RRSIGs of rrset (one owner, one type) by keys.
func (s *Signer) Sign(rrset []dns.RR, zone string, keys []*Key, incep, expir uint32) []dns.RR {
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
func (k *Key) newRRSIG(h *dns.RR_Header, zone string, incep, expir uint32) *dns.RRSIG {
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		TypeCovered: h.Rrtype, Algorithm: k.RR.Algorithm, Labels: sigLabels(h.Name), OrigTtl: h.Ttl,
		Expiration: expir, Inception: incep, KeyTag: k.Tag, SignerName: zone,
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

// entryLabels is sigLabels of e's owner name, counted on the parts the
// entry keeps (a signed answer builds no name for it).
func entryLabels(e *store.Entry) uint8 {
	rel, zone := e.Parts()
	switch {
	case rel == "": // the apex (dns.CountLabel counts "" as one label)
		return sigLabels(zone)
	case zone == "":
		return sigLabels(rel)
	}
	return sigLabels(rel) + uint8(dns.CountLabel(zone)) //nolint:gosec // at most 127
}

// window returns an inception and an expiration for signatures made now,
// the expiration spread over sigJitter so that renewals spread too.
func (s *Signer) window() (incep, expir uint32) {
	now := s.Now()
	jitter := time.Duration(rand.Int64N(int64(sigJitter)))                                    //nolint:gosec // spreading, not secrecy
	return uint32(now.Add(-sigBackdate).Unix()), uint32(now.Add(sigValidity + jitter).Unix()) //nolint:gosec // RFC 4034 serial time
}

// NSECOf is the NSEC of an existing name (black lies: from the name to its
// immediate successor, \000.name for all but the longest names), listing
// the types it has.
func NSECOf(owner string, ttl uint32, types ...uint16) *dns.NSEC {
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: Successor(owner),
		TypeBitMap: types,
	}
}

// SignEntry sets e.sigs: inception and expiration (4 bytes each), then per
// signed RRset (Signed) one signature per key, in key order.
func (s *Signer) SignEntry(e *store.Entry, zone string) {
	incep, expir := s.window()
	b := binary.BigEndian.AppendUint32(nil, incep)
	b = binary.BigEndian.AppendUint32(b, expir)
	name := e.Name()
	for _, t := range Signed(e, zone) {
		var rrset []dns.RR
		if t == dns.TypeNSEC {
			rrset = []dns.RR{NSECOf(name, s.NegTTL, s.Bitmap(e, zone)...)}
		} else {
			rrset = e.RRs(name, t)
		}
		for _, k := range s.ZSK {
			raw, err := k.rawSig(rrset, k.newRRSIG(rrset[0].Header(), zone, incep, expir))
			if err != nil || len(raw) != k.sigLen {
				log.Errorf("Signing %s/%s: %v", name, dns.TypeToString[t], err)
				e.Sigs = "" // answered unsigned rather than with some signatures missing
				return
			}
			b = append(b, raw...)
		}
	}
	e.Sigs = string(b)
}

// Bitmap is the NSEC type list of an existing name of zone. At a
// delegation it lists NS and DS only: the rest there is the child's (RFC
// 4035 section 2.3), glue included.
func (s *Signer) Bitmap(e *store.Entry, zone string) []uint16 {
	if IsCut(e, zone) {
		if e.Has(dns.TypeDS) {
			return []uint16{dns.TypeNS, dns.TypeDS, dns.TypeRRSIG, dns.TypeNSEC}
		}
		return []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC}
	}
	ts := e.Types()
	ts = append(ts[:len(ts)-1], dns.TypeRRSIG, dns.TypeNSEC)
	slices.Sort(ts) // a bitmap is packed in type order (CAA is above NSEC)
	return ts
}

// IsCut reports whether e is a delegation point of zone: NS records below
// its apex.
func IsCut(e *store.Entry, zone string) bool {
	rel, z := e.Parts()
	return len(rel)+len(z) != len(zone) && e.Has(dns.TypeNS)
}

// Signed returns the types of e's RRsets that zone signs, in the order
// their signatures are kept, NSEC last: all of them, but at a delegation
// only the DS (the NS RRset there is the child's and is not signed, RFC
// 4035 section 2.2).
func Signed(e *store.Entry, zone string) []uint16 {
	if IsCut(e, zone) {
		if e.Has(dns.TypeDS) {
			return []uint16{dns.TypeDS, dns.TypeNSEC}
		}
		return []uint16{dns.TypeNSEC}
	}
	return e.Types()
}

// EntrySigs returns the RRSIGs kept in e for its RRset of type t, for the
// owner name as asked (any case) with TTL ttl; nil when e is not signed.
func (s *Signer) EntrySigs(e *store.Entry, t uint16, owner string, zone string, ttl uint32) []dns.RR {
	if len(e.Sigs) < 8 {
		return nil
	}
	per := 0
	for _, k := range s.ZSK {
		per += k.sigLen
	}
	off := 8
	for _, et := range Signed(e, zone) {
		if et == t {
			break
		}
		off += per
	}
	if off+per > len(e.Sigs) {
		return nil
	}
	incep := binary.BigEndian.Uint32([]byte(e.Sigs[0:4]))
	expir := binary.BigEndian.Uint32([]byte(e.Sigs[4:8]))
	labels := entryLabels(e)
	out := make([]dns.RR, 0, len(s.ZSK))
	for _, k := range s.ZSK {
		origTTL := ttl
		if t == dns.TypeNSEC {
			origTTL = s.NegTTL
		}
		out = append(out, &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
			TypeCovered: t, Algorithm: k.RR.Algorithm, Labels: labels, OrigTtl: origTTL,
			Expiration: expir, Inception: incep, KeyTag: k.Tag, SignerName: zone,
			Signature: base64.StdEncoding.EncodeToString([]byte(e.Sigs[off : off+k.sigLen])),
		})
		off += k.sigLen
	}
	return out
}

// NeedsRenewal reports whether e's signatures expire within sigRefresh.
func (s *Signer) NeedsRenewal(e *store.Entry) bool {
	if len(e.Sigs) < 8 {
		return true
	}
	expir := int64(binary.BigEndian.Uint32([]byte(e.Sigs[4:8])))
	return expir-s.Now().Unix() < int64(Refresh/time.Second)
}

var errSlowPath = errors.New("no direct signing for this algorithm")

// SigsSize is the wire size of the signatures an RRset gets, about: one
// RRSIG per zone-signing key, its owner compressed, its signer name not.
func (s *Signer) SigsSize() int {
	n := 0
	for _, k := range s.ZSK {
		n += 2 + 10 + 18 + 255/4 + k.sigLen // pointer, RR header, fixed fields, a signer name, the signature
	}
	return n
}

// SignNow signs rrset with the ZSKs for the current validity window.
func (s *Signer) SignNow(rrset []dns.RR, zone string) []dns.RR {
	incep, expir := s.Window()
	return s.Sign(rrset, zone, s.ZSK, incep, expir)
}

// Window is window without jitter, for signatures made per answer.
func (s *Signer) Window() (incep, expir uint32) {
	now := s.Now()
	return uint32(now.Add(-sigBackdate).Unix()), uint32(now.Add(sigValidity).Unix()) //nolint:gosec // RFC 4034 serial time
}

// Copies returns copies of rrs, so that no answer shares records with another.
func Copies(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// rawSig returns k's signature of rrset (one owner, one type) under the
// RRSIG fields of sig. RRsets whose RDATA is canonical already (every
// type the table holds), made for every answer and every name, are signed
// here without the copies and the 4 KB buffer of dns.RRSIG.Sign: the RFC
// 4034 section 3.1.8.1 data is the RRSIG RDATA without the signature, then
// the RRs in canonical form (owner in lower case, TTL sig.OrigTtl) and
// order. Other RRsets (SOA, DNSKEY), and keys signRaw does not handle
// (RSA), go through dns.RRSIG.Sign.
func (k *Key) rawSig(rrset []dns.RR, sig *dns.RRSIG) ([]byte, error) {
	if canonical(rrset) {
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

// canonical reports whether rrset's RDATA is already in canonical form (RFC
// 4034 section 6.2): types with no names in it, and the types the store
// keeps, whose names it lowers when it parses them (records.rdata).
func canonical(rrset []dns.RR) bool {
	switch rrset[0].Header().Rrtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeNSEC, dns.TypeTXT, dns.TypeCAA, dns.TypeDS,
		dns.TypeCNAME, dns.TypeMX, dns.TypeSRV, dns.TypeNS, dns.TypePTR:
		for _, rr := range rrset {
			if n := rdataNames(rr); strings.ToLower(n) != n {
				return false
			}
		}
		return true
	}
	return false
}

// rdataNames returns the names in rr's RDATA, joined.
func rdataNames(rr dns.RR) string {
	switch rr := rr.(type) {
	case *dns.CNAME:
		return rr.Target
	case *dns.MX:
		return rr.Mx
	case *dns.SRV:
		return rr.Target
	case *dns.NS:
		return rr.Ns
	case *dns.PTR:
		return rr.Ptr
	}
	return ""
}

// signSet is rawSig's own path.
func (k *Key) signSet(rrset []dns.RR, sig *dns.RRSIG) ([]byte, error) {
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
func (k *Key) signRaw(data []byte) ([]byte, error) {
	switch priv := k.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, data), nil
	case *ecdsa.PrivateKey:
		var digest []byte
		switch k.RR.Algorithm {
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
