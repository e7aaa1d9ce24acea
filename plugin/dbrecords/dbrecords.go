// Package dbrecords is a CoreDNS plugin that serves A and AAAA records from a
// MySQL table, holding the whole table in memory and following its changes.
package dbrecords

import (
	"context"
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

	mu         sync.Mutex     // guards sh, stopNotify and down
	sh         *shared        // the loader in use, from OnStartup to OnShutdown
	stopNotify func()         // ends the notifier; nil without one
	down       bool           // OnShutdown has run
	token      *instanceToken // the caddy instance of this configuration; nil outside caddy
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
		return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
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
	s := signerOf(snap, zi)
	do := s != nil && state.Do()

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

	var e store.Entry
	found := true
	if qname == z.Name {
		if apex, ok := snap.Get(z.Name); ok && qtype != dns.TypeANY && !fits(state, &apex, qtype, s, do) {
			m.Truncated = true
			return reply()
		}
		m.Answer, m.Extra = d.apex(snap, zi, z, owner, qtype)
	} else {
		e, found = snap.Find(qname, z.Name)
		if (!found || e.Name() != qname) && d.zones.Below(zi, qname) {
			d.emptyNonTerminal(m, snap, zi, z, s, qname, qtype, do)
			return reply()
		}
		switch {
		case !found && d.Fall.Through(qname):
			return plugin.NextOrFailure(d.Name(), d.Next, ctx, w, r)
		case !found && do:
			// Black lies (RFC 9824): the name exists with an NSEC and its
			// signature only, so queries for those are answered.
			m.Answer = blackLie(s, z.Name, qname, qtype)
		case !found:
			m.Rcode = dns.RcodeNameError
		case !fits(state, &e, qtype, s, do):
			// Built, signed and then cut by the server, a large RRset would
			// cost every query what a large answer costs; TC sends the
			// client to TCP at once.
			m.Truncated = true
			return reply()
		default:
			m.Answer = below(s, &e, z.Name, owner, qname, qtype, do)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{z.SOA(d.cfg.negativeTTL, d.cfg.negativeTTL)}
	}
	if do {
		d.signReply(m, snap, zi, z, s, owner, qname, e, found)
	}
	return reply()
}

// fits reports whether the answer for qtype at e fits the client's UDP
// buffer (over TCP, a DNS message), estimated before it is built: the
// header, the question, the RRset with compressed owners and, with do, one
// signature per key plus the OPT record.
func fits(state request.Request, e *store.Entry, qtype uint16, s *dnssec.Signer, do bool) bool {
	if qtype == dns.TypeANY {
		qtype = anyType(e)
	}
	if qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return true
	}
	room := dns.MaxMsgSize
	if state.Proto() == "udp" {
		room = state.Size()
	}
	size := 12 + len(state.QName()) + 2 + 4 + e.WireSize(qtype)
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
// its A RRset, else its AAAA RRset; 0 when it has neither.
func anyType(e *store.Entry) uint16 {
	for _, t := range e.Types() {
		if t == dns.TypeA || t == dns.TypeAAAA {
			return t
		}
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
	case dns.TypeA, dns.TypeAAAA:
		return e.RRs(owner, qtype)
	case dns.TypeNSEC, dns.TypeRRSIG:
		own := e.Name() == qname
		if s == nil || !own && !do {
			return nil
		}
		nsec := dnssec.NSECOf(qname, s.NegTTL, s.Bitmap(e)...)
		if qtype == dns.TypeNSEC {
			return []dns.RR{nsec}
		}
		var sigs []dns.RR
		for _, t := range e.Types() {
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
	}
	return nil
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

// apex answers a query for the zone's own name: SOA, NS (with in-zone glue),
// any A/AAAA rows at the apex, and in a signed zone its DNSKEY, NSEC and
// RRSIG records.
func (d *DBRecords) apex(snap *store.Snapshot, zi int, z store.Version, owner string, qtype uint16) (answer, extra []dns.RR) {
	if qtype == dns.TypeANY {
		qtype = dns.TypeSOA // one RRset (RFC 8482)
	}
	switch qtype {
	case dns.TypeSOA:
		soa := z.SOA(d.cfg.ttl, d.cfg.negativeTTL)
		soa.Hdr.Name = owner
		return []dns.RR{soa}, nil
	case dns.TypeNS:
		return d.nsRRs(z, owner), d.glue(snap, -1)
	case dns.TypeA, dns.TypeAAAA:
		if e, ok := snap.Get(z.Name); ok {
			return e.RRs(owner, qtype), nil
		}
	case dns.TypeDNSKEY, dns.TypeNSEC, dns.TypeRRSIG:
		if s := signerOf(snap, zi); s != nil {
			return d.apexDNSSEC(snap, zi, z, s, owner, qtype), nil
		}
	}
	return nil, nil
}

func (d *DBRecords) nsRRs(z store.Version, owner string) []dns.RR {
	names := d.cfg.ns
	if len(names) == 0 {
		names = []string{z.MName}
	}
	rrs := make([]dns.RR, len(names))
	for i, n := range names {
		rrs[i] = &dns.NS{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: d.cfg.ttl}, Ns: n}
	}
	return rrs
}

// glue returns the addresses this plugin serves for its own name servers,
// those inside zone inside only when inside is not -1 (a cut's glue).
func (d *DBRecords) glue(snap *store.Snapshot, inside int) []dns.RR {
	var extra []dns.RR
	for _, n := range d.cfg.ns {
		if inside >= 0 && d.zones.Match(n) != inside {
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
