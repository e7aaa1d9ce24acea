// Package dbrecords is a CoreDNS plugin that serves the records of a MySQL
// table, holding the whole table in memory and following its changes.
package dbrecords

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/pkg/fall"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/request"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

var log = clog.NewWithPlugin(pluginName)

// DBRecords is the plugin handler.
type DBRecords struct {
	Next plugin.Handler
	Fall fall.F

	cfg   *config
	zones records.ZoneSet

	// data is where the snapshot that queries are answered from is
	// published: the loader's, set by OnStartup (a reload hands it over).
	// Nil before; the ready plugin may ask meanwhile, so it is atomic too.
	data atomic.Pointer[atomic.Pointer[store.Snapshot]]

	xfer *transfer.Transfer // the transfer plugin of this server block, for NOTIFY; nil without one

	signers []*dnssec.Signer // by zone index, as configured; nil when no zone is signed. Answers use the snapshot's.
	apexc   []apexCache      // by zone index: the signed apex RRsets

	mu         sync.Mutex     // guards sh, stopNotify, down and up
	sh         *shared        // the loader in use, from OnStartup to OnShutdown
	stopNotify func()         // ends the notifier; nil without one
	down       bool           // OnShutdown has run
	token      *instanceToken // the caddy instance of this configuration; nil outside caddy
	up         *updater       // DNS UPDATE, made at the first one (updater); nil before and without an update block
}

// The CoreDNS interfaces DBRecords implements.
var (
	_ plugin.Handler      = (*DBRecords)(nil)
	_ transfer.Transferer = (*DBRecords)(nil)
	_ cache.ZoneBypasser  = (*DBRecords)(nil)
	_ ready.Readiness     = (*DBRecords)(nil)
)

// New returns a DBRecords for cfg. Nothing is started until OnStartup.
func New(cfg *config) *DBRecords {
	d := &DBRecords{Fall: cfg.fall, cfg: cfg, zones: records.NewZoneSet(cfg.zones, cfg.ns)}
	d.apexc = make([]apexCache, len(d.zones.List))
	if len(cfg.keys) > 0 {
		d.signers = make([]*dnssec.Signer, len(d.zones.List))
		for zi, z := range d.zones.List {
			var keys []*dnssec.Key
			for _, k := range cfg.keys {
				if strings.EqualFold(k.RR.Hdr.Name, z.Name) {
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				d.signers[zi] = dnssec.New(keys, cfg.negativeTTL)
			}
		}
	}
	return d
}

// snapshot returns what queries are answered from, nil until the first load.
func (d *DBRecords) snapshot() *store.Snapshot {
	if p := d.data.Load(); p != nil {
		return p.Load()
	}
	return nil
}

// ServeDNS implements the plugin.Handler interface.
func (d *DBRecords) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	owner := state.QName()          // answers keep the query's case
	qname := strings.ToLower(owner) // what state.Name() computes, without converting the name again

	zi := d.zones.Match(qname)
	if zi < 0 || state.QClass() != dns.ClassINET { // other classes are for plugins such as chaos
		if r.Opcode == dns.OpcodeUpdate && d.cfg.update != nil {
			// The update block opened the opcode for the server block:
			// updates of zones it does not serve go nowhere else.
			return dns.RcodeRefused, nil
		}
		return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
	}
	if r.Opcode == dns.OpcodeUpdate { // writes go to the table, whatever this replica holds
		return d.serveUpdate(ctx, w, r, zi)
	}
	snap := d.snapshot()
	if snap == nil {
		log.Debugf("Not loaded yet, answering SERVFAIL for %q", qname)
		return dns.RcodeServerFailure, nil
	}
	// The zone's fixed SOA fields are this configuration's (a reload may
	// change ns while it takes the loader over); the serial is the data's.
	z := store.Version{Zone: d.zones.List[zi], Serial: snap.Zones[zi].Serial}
	qtype := state.QType()
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// Transfers are the transfer plugin's, which sits before this one in
		// the chain; without one for the zone, none is allowed (RFC 5936).
		return dns.RcodeRefused, nil
	case dns.TypeNXNAME:
		return dns.RcodeFormatError, nil // a meta-type, only for NSEC bitmaps (RFC 9824 section 3.5)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	reply := func() (int, error) {
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	if qtype == dns.TypeDS && qname == z.Name {
		if pi := d.zones.Parent(zi); pi >= 0 {
			d.delegationDS(m, snap, pi, zi, owner, qname, signerOf(snap, pi) != nil && state.Do())
			return reply()
		}
	}
	if d.answer(state, m, snap, zi, owner, qname, qtype, true) {
		return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
	}
	if !m.Truncated {
		d.chase(state, m, snap, qtype)
	}
	return reply()
}

// answer fills m with the answer for qname (owner as asked) and qtype from
// zone zi of snap. For the query's own name (first), it reports that the
// query falls through to the next plugin, and sets TC when the answer would
// not fit; the names of a CNAME chain do neither.
func (d *DBRecords) answer(state request.Request, m *dns.Msg, snap *store.Snapshot, zi int, owner, qname string, qtype uint16, first bool) (next bool) {
	z := store.Version{Zone: d.zones.List[zi], Serial: snap.Zones[zi].Serial}
	s := signerOf(snap, zi)
	do := s != nil && state.Do()
	var e store.Entry
	found := true
	if qname == z.Name {
		if apex, ok := snap.Get(z.Name); first && ok && qtype != dns.TypeANY && !fits(state, &apex, qtype, s, do) {
			m.Truncated = true
			return false
		}
		m.Answer = d.apex(snap, zi, z, owner, qtype)
	} else {
		if cut, ok := snap.Cut(qname, z.Name); ok && (qtype != dns.TypeDS || !cut.Is(qname)) {
			d.referral(m, snap, z.Name, s, &cut, do)
			return false
		}
		e, found = snap.Find(qname, z.Name)
		if (!found || !e.Is(qname)) && d.zones.Below(zi, qname) {
			d.emptyNonTerminal(m, snap, zi, z, s, qname, qtype, do)
			return false
		}
		switch {
		case !found && first && d.Fall.Through(qname):
			return true
		case !found && do:
			// Black lies (RFC 9824): the name exists with an NSEC and its
			// signature only, so queries for those are answered.
			m.Answer = blackLie(s, z.Name, qname, qtype)
		case !found:
			m.Rcode = dns.RcodeNameError
		case !fits(state, &e, qtype, s, do):
			// Built, signed and then cut by the server, a large RRset would
			// cost every query what a large answer costs; TC sends the
			// client to TCP at once (for a link of a CNAME chain too).
			m.Truncated = true
			return false
		default:
			m.Answer = below(s, &e, z.Name, owner, qname, qtype, do)
		}
	}
	m.Extra = append(m.Extra, d.additional(snap, z.Name, m.Answer, do)...)
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{z.SOA(d.cfg.negativeTTL, d.cfg.negativeTTL)}
	}
	if do {
		d.signReply(m, snap, zi, z, s, owner, qname, e, found)
	}
	return false
}

// maxChain is the most CNAME links an answer follows.
const maxChain = 8

// chase follows the CNAME that m answers with through the zones served
// here (RFC 1034 section 4.3.2 step 3a), appending each target's answer: up
// to maxChain links, stopping at a loop or a name outside the zones. The
// last name decides the rcode (RFC 6604) and the authority section.
func (d *DBRecords) chase(state request.Request, m *dns.Msg, snap *store.Snapshot, qtype uint16) {
	switch qtype {
	case dns.TypeCNAME, dns.TypeANY, dns.TypeNSEC, dns.TypeRRSIG:
		return
	}
	step := m.Answer
	var seen []string // the names of the chain, allocated only for one
	for range maxChain {
		if len(step) == 0 {
			return
		}
		c, ok := step[0].(*dns.CNAME)
		if !ok {
			return
		}
		if seen == nil {
			seen = []string{strings.ToLower(state.QName())}
		}
		target := c.Target // lower case, as the store keeps it
		zi := d.zones.Match(target)
		if zi < 0 || slices.Contains(seen, target) {
			return
		}
		seen = append(seen, target)
		next := new(dns.Msg)
		d.answer(state, next, snap, zi, target, target, qtype, false)
		if next.Truncated {
			m.Truncated = state.Proto() == "udp" // over TCP, the chain ends where it fits
			return
		}
		m.Answer = append(m.Answer, next.Answer...)
		m.Ns = append(m.Ns, next.Ns...)
		m.Extra = append(m.Extra, next.Extra...)
		m.Rcode = next.Rcode
		step = next.Answer
		if m.Len() > dns.MaxMsgSize { // links that fit alone, not together
			m.Answer, m.Ns, m.Extra = m.Answer[:len(m.Answer)-len(next.Answer)], m.Ns[:len(m.Ns)-len(next.Ns)], m.Extra[:len(m.Extra)-len(next.Extra)]
			m.Truncated = state.Proto() == "udp"
			return
		}
	}
}

// referral answers a query at or below cut, a delegation of zone (RFC 1034
// section 4.3.2 step 3b): not authoritative, the cut's NS RRset in the
// authority section with, under DO, its signed DS RRset or the signed NSEC
// that proves there is none (RFC 4035 section 3.1.4), and the addresses of
// its name servers that the zone holds (glue below the cut, unsigned).
func (d *DBRecords) referral(m *dns.Msg, snap *store.Snapshot, zone string, s *dnssec.Signer, cut *store.Entry, do bool) {
	m.Authoritative = false
	name := cut.Name()
	ns := cut.RRs(name, dns.TypeNS)
	m.Ns = ns
	if do {
		if ds := cut.RRs(name, dns.TypeDS); len(ds) > 0 {
			m.Ns = append(append(m.Ns, ds...), s.EntrySigs(cut, dns.TypeDS, name, zone, ds[0].Header().Ttl)...)
		} else {
			m.Ns = append(m.Ns, dnssec.NSECOf(name, s.NegTTL, s.Bitmap(cut, zone)...))
			m.Ns = append(m.Ns, s.EntrySigs(cut, dns.TypeNSEC, name, zone, s.NegTTL)...)
		}
	}
	m.Extra = d.additional(snap, zone, ns, do)
}

// additional returns the addresses this replica serves for the names that
// rrs, answered from zone from, point at (MX, SRV and NS targets, RFC 1035 section 3.3), each RRset
// signed under do where it is its zone's data, unsigned where it is glue
// below a delegation (RFC 4035 section 2.2).
func (d *DBRecords) additional(snap *store.Snapshot, from string, rrs []dns.RR, do bool) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	// rrs is one RRset (a CNAME chain is chased name by name).
	k := records.KindOf(rrs[0].Header().Rrtype)
	if k == nil || k.Target == nil {
		return nil
	}
	var out []dns.RR
	var seen []string
	for _, rr := range rrs {
		t := strings.ToLower(k.Target(rr))
		zi := d.zones.Match(t)
		if t == "." || zi < 0 || slices.Contains(seen, t) {
			continue
		}
		seen = append(seen, t)
		e, ok := snap.Get(t)
		if !ok {
			continue
		}
		zone := d.zones.List[zi].Name
		// Glue: below a cut of its zone, or in a zone of the block below
		// the answering zone from (the parent holds that cut).
		glue := zone != from && dns.IsSubDomain(from, zone)
		if !glue && t != zone {
			_, glue = snap.Cut(t, zone)
		}
		s := signerOf(snap, zi)
		for _, typ := range []uint16{dns.TypeA, dns.TypeAAAA} {
			set := e.RRs(t, typ)
			out = append(out, set...)
			if do && s != nil && !glue && len(set) > 0 {
				out = append(out, s.EntrySigs(&e, typ, t, zone, set[0].Header().Ttl)...)
			}
		}
	}
	return out
}

// fits reports whether the answer for qtype at e fits the client's UDP
// buffer (over TCP, a DNS message), estimated before it is built: the
// header, the question, the RRset with compressed owners and, with do, one
// signature per key plus the OPT record.
func fits(state request.Request, e *store.Entry, qtype uint16, s *dnssec.Signer, do bool) bool {
	switch qtype {
	case dns.TypeANY:
		qtype = anyType(e)
	case dns.TypeNSEC, dns.TypeRRSIG:
		return true
	}
	rrset := e.WireSize(qtype)
	if rrset == 0 && qtype != dns.TypeCNAME { // a CNAME is alone at its name (records.Settle)
		rrset = e.WireSize(dns.TypeCNAME)
	}
	room := dns.MaxMsgSize
	if state.Proto() == "udp" {
		room = state.Size()
	}
	size := 12 + len(state.QName()) + 2 + 4 + rrset
	if do {
		size += 11 + s.SigsSize()
	}
	return size <= room
}

// signerOf returns the signer that signed zone zi in snap, nil when the
// zone is not signed there.
func signerOf(snap *store.Snapshot, zi int) *dnssec.Signer {
	if ss, ok := snap.Signers.([]*dnssec.Signer); ok && zi < len(ss) {
		return ss[zi]
	}
	return nil
}

// anyType is the one RRset an ANY query at e is answered with (RFC 8482):
// its A RRset, else its AAAA RRset, else its first; 0 when it has none.
func anyType(e *store.Entry) uint16 {
	ts := e.Types()
	for _, t := range ts {
		if t == dns.TypeA || t == dns.TypeAAAA {
			return t
		}
	}
	if len(ts) > 1 {
		return ts[0]
	}
	return 0
}

// below answers qtype at e, the entry found for qname below the apex of
// zone: its own, or the wildcard that covers qname. s is nil in an unsigned zone. An
// NSEC or RRSIG query is answered with the records the zone holds at the
// name whether or not DO is set (RFC 4035 section 3.1 restricts only what
// is added to other answers); at a name synthesized from a wildcard they
// exist only as signed, with DO.
func below(s *dnssec.Signer, e *store.Entry, zone, owner, qname string, qtype uint16, do bool) []dns.RR {
	if qtype == dns.TypeANY {
		qtype = anyType(e)
	}
	switch qtype {
	case dns.TypeNSEC, dns.TypeRRSIG:
		own := e.Is(qname)
		if s == nil || !own && !do {
			return nil
		}
		nsec := dnssec.NSECOf(qname, s.NegTTL, s.Bitmap(e, zone)...)
		if qtype == dns.TypeNSEC {
			return []dns.RR{nsec}
		}
		var sigs []dns.RR
		for _, t := range dnssec.Signed(e, zone) {
			rrset, ttl := []dns.RR{nsec}, s.NegTTL
			if t != dns.TypeNSEC {
				rrset = e.RRs(owner, t)
				ttl = rrset[0].Header().Ttl
			}
			if own {
				sigs = append(sigs, s.EntrySigs(e, t, owner, zone, ttl)...)
			} else {
				sigs = append(sigs, s.SignNow(rrset, zone)...)
			}
		}
		return sigs
	case 0:
		return nil
	}
	rrs := e.RRs(owner, qtype)
	if len(rrs) == 0 && qtype != dns.TypeCNAME {
		// A CNAME answers every other type (RFC 1034 section 3.6.2); it is
		// alone at its name (records.Settle), so only where nothing else is.
		rrs = e.RRs(owner, dns.TypeCNAME)
	}
	return rrs
}

// blackLie answers an NSEC or RRSIG query for a name that does not exist in a
// signed zone, as the black-lie NSEC says it does; nil for other types.
func blackLie(s *dnssec.Signer, zone, qname string, qtype uint16) []dns.RR {
	nsec := dnssec.NSECOf(qname, s.NegTTL, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME)
	switch qtype {
	case dns.TypeNSEC:
		return []dns.RR{nsec}
	case dns.TypeRRSIG:
		return s.SignNow([]dns.RR{nsec}, zone)
	}
	return nil
}

// apex answers a query for the zone's own name: SOA, NS (the ns property's
// names and the apex's NS rows), the apex's rows of other types, and in a
// signed zone its DNSKEY, NSEC and RRSIG records.
func (d *DBRecords) apex(snap *store.Snapshot, zi int, z store.Version, owner string, qtype uint16) []dns.RR {
	switch qtype {
	case dns.TypeANY, dns.TypeSOA: // ANY: one RRset (RFC 8482)
		soa := z.SOA(d.cfg.ttl, d.cfg.negativeTTL)
		soa.Hdr.Name = owner
		return []dns.RR{soa}
	case dns.TypeNS:
		return d.nsRRs(snap, z, owner)
	case dns.TypeDNSKEY, dns.TypeNSEC, dns.TypeRRSIG:
		if s := signerOf(snap, zi); s != nil {
			return d.apexDNSSEC(snap, zi, z, s, owner, qtype)
		}
		return nil
	}
	if e, ok := snap.Get(z.Name); ok {
		return e.RRs(owner, qtype)
	}
	return nil
}

// nsRRs returns zone z's NS RRset named owner: the ns property's names (the
// zone's MNAME without it) and the NS rows at its apex in snap.
func (d *DBRecords) nsRRs(snap *store.Snapshot, z store.Version, owner string) []dns.RR {
	var rows []dns.RR
	if snap != nil {
		if e, ok := snap.Get(z.Name); ok {
			rows = e.RRs(owner, dns.TypeNS)
		}
	}
	return d.mergeNS(z, owner, rows)
}

// mergeNS returns the NS RRset of zone z with the apex's NS rows: the ns
// property's names, then the rows' other names, with the lower TTL of the
// two (RFC 2181 section 5.2); with neither, the SOA's MNAME.
func (d *DBRecords) mergeNS(z store.Version, owner string, rows []dns.RR) []dns.RR {
	names := d.cfg.ns
	if len(names) == 0 && len(rows) == 0 {
		names = []string{z.MName} // without either, the SOA's MNAME
	}
	ttl := d.cfg.ttl
	if len(rows) > 0 {
		ttl = min(ttl, rows[0].Header().Ttl)
	}
	rrs := make([]dns.RR, 0, len(names)+len(rows))
	for _, n := range names {
		rrs = append(rrs, &dns.NS{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ttl}, Ns: n})
	}
	for _, rr := range rows {
		if !slices.ContainsFunc(rrs, func(x dns.RR) bool { return strings.EqualFold(x.(*dns.NS).Ns, rr.(*dns.NS).Ns) }) {
			rr.Header().Ttl = ttl
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// glue returns the addresses this plugin serves for the name servers in
// ns (an NS RRset) that lie inside zone inside: a cut's glue.
func (d *DBRecords) glue(snap *store.Snapshot, ns []dns.RR, inside int) []dns.RR {
	var extra []dns.RR
	for _, rr := range ns {
		n := strings.ToLower(rr.(*dns.NS).Ns)
		if d.zones.Match(n) != inside {
			continue
		}
		e, ok := snap.Get(n)
		if !ok {
			continue
		}
		extra = append(extra, e.RRs(n, dns.TypeA)...)
		extra = append(extra, e.RRs(n, dns.TypeAAAA)...)
	}
	return extra
}

// Name implements the plugin.Handler interface.
func (d *DBRecords) Name() string { return pluginName }

// CacheBypassZones implements cache.ZoneBypasser: a cache plugin in the same
// server block passes queries for these zones straight through. Answers from
// memory are cheaper than a cache lookup, and a cached answer would outlive a
// change in the table by up to its TTL.
func (d *DBRecords) CacheBypassZones() []string { return d.cfg.zones }
