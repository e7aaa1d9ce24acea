package dbrecords

import (
	"errors"
	"slices"

	"github.com/coredns/coredns/plugin/transfer"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

var errNotLoaded = errors.New("the table is not loaded yet")

// xfrBatch is how many RRs a transfer hands to the transfer plugin at a time;
// the transfer plugin packs them into messages of up to 64 KB.
const xfrBatch = 500

// Transfer implements transfer.Transferer: the transfer plugin, in front of
// this one, checks who may transfer and sends what the channel gives.
// serial 0 asks for the whole zone (AXFR). Otherwise (IXFR) a client at our
// serial or newer gets one SOA; a client at a serial the journal holds, the
// differences from it to now (RFC 1995, condensed to one sequence); any other,
// the whole zone. Everything sent comes from one snapshot, read as it is
// streamed: a transfer holds no second copy of the zone.
func (d *DBRecords) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	zi := -1
	for i, z := range d.zones.List {
		if z.Name == zone {
			zi = i
		}
	}
	if zi < 0 {
		return nil, transfer.ErrNotAuthoritative
	}
	snap := d.snapshot()
	if snap == nil {
		return nil, errNotLoaded
	}
	v := store.Version{Zone: d.zones.List[zi], Serial: snap.Zones[zi].Serial}
	soa := v.SOA(d.cfg.ttl, d.cfg.negativeTTL)
	ch := make(chan []dns.RR)

	kind := "axfr"
	var changed []store.Entry
	if serial != 0 {
		kind = "ixfr_full"
		if !serialLess(serial, v.Serial) {
			kind = "ixfr_current"
		} else if from := snap.Hist[zi].Since(serial); from >= 0 {
			// A large difference touching more names than half the
			// zone's (all zones' names, as a bound) goes as the whole zone.
			if changed = snap.Hist[zi].ChangedSince(from); len(changed) <= 1000 || 2*len(changed) <= snap.Names {
				kind = "ixfr"
			}
		}
	}
	transfers.WithLabelValues(zone, kind).Inc()

	go func() {
		defer close(ch)
		switch kind {
		case "ixfr_current":
			ch <- []dns.RR{soa}
		case "ixfr":
			d.sendDiff(ch, snap, v, changed, soa, serial)
		default:
			d.sendZone(ch, snap, zi, soa)
		}
	}()
	return ch, nil
}

// sendZone sends zone zi of snap in AXFR format: SOA, NS, the cuts to the
// zones below it that the block serves (NS, DS, glue), every RRset, SOA.
func (d *DBRecords) sendZone(ch chan<- []dns.RR, snap *store.Snapshot, zi int, soa *dns.SOA) {
	z := d.zones.List[zi]
	batch := append([]dns.RR{soa}, d.nsRRs(snap, store.Version{Zone: z}, z.Name)...)
	if e, ok := snap.Get(z.Name); ok {
		batch = appendRRsets(batch, &e, dns.TypeNS) // its NS rows are in the NS RRset
	}
	for _, ci := range d.zones.Children(zi) { // the cuts to zones below, served here too
		ns, ds, glue := d.cut(snap, ci)
		batch = append(append(append(batch, ns...), ds...), glue...)
	}
	for e := range snap.All() {
		name := e.Name()
		if e.Empty() || name == z.Name || d.zones.Match(name) != zi {
			continue // an empty non-terminal, the apex (sent), or another zone's
		}
		batch = appendRRsets(batch, e, 0)
		if len(batch) >= xfrBatch {
			ch <- batch
			batch = nil
		}
	}
	ch <- append(batch, soa)
}

// appendRRsets appends e's RRsets but those of type except to batch.
func appendRRsets(batch []dns.RR, e *store.Entry, except uint16) []dns.RR {
	name := e.Name()
	for _, t := range e.Types() {
		if t != dns.TypeNSEC && t != except {
			batch = append(batch, e.RRs(name, t)...)
		}
	}
	return batch
}

// sendDiff sends the differences between the entries changed (as a client
// at serial has them) and snap, in IXFR format: the new SOA, the old SOA,
// the records deleted, the new SOA, the records added, the new SOA. It
// streams them in batches, computing each name's difference twice rather
// than holding the whole difference. The apex's NS RRset is compared as
// served, its rows merged with the ns property's names.
func (d *DBRecords) sendDiff(ch chan<- []dns.RR, snap *store.Snapshot, z store.Version, changed []store.Entry, soa *dns.SOA, serial uint32) {
	old := *soa
	old.Serial = serial
	batch := []dns.RR{soa, &old}
	for _, adding := range []bool{false, true} {
		for _, was := range changed {
			name := was.Name()
			now, _ := snap.Get(name)
			types := slices.Compact(slices.Sorted(slices.Values(slices.Concat(was.Types(), now.Types()))))
			apex := z // the zone whose apex NS RRset name holds, if it is an apex
			if ci := d.zones.Match(name); ci >= 0 && d.zones.List[ci].Name != z.Name {
				// A child zone of the block: the parent holds its cut, the
				// NS RRset at its apex and the glue below (sendZone).
				apex = store.Version{Zone: d.zones.List[ci]}
				types = []uint16{dns.TypeA, dns.TypeAAAA}
				if name == apex.Name {
					types = []uint16{dns.TypeNS}
				}
			}
			for _, t := range types {
				if t == dns.TypeNSEC {
					continue
				}
				wasSet, nowSet := was.RRs(name, t), now.RRs(name, t)
				if t == dns.TypeNS && name == apex.Name {
					wasSet, nowSet = d.mergeNS(apex, name, wasSet), d.mergeNS(apex, name, nowSet)
				}
				del, add := rrsetDiff(wasSet, nowSet)
				if adding {
					batch = append(batch, add...)
				} else {
					batch = append(batch, del...)
				}
			}
			if len(batch) >= xfrBatch {
				ch <- batch
				batch = nil
			}
		}
		batch = append(batch, soa)
	}
	ch <- batch
}

// rrsetDiff returns what to delete from and add to the RRset was to make it
// now. A changed TTL replaces the whole RRset, since IXFR deletes by data.
func rrsetDiff(was, now []dns.RR) (del, add []dns.RR) {
	if len(was) > 0 && len(now) > 0 && was[0].Header().Ttl != now[0].Header().Ttl {
		return was, now
	}
	in := func(rr dns.RR, set []dns.RR) bool {
		for _, x := range set {
			if dns.IsDuplicate(rr, x) {
				return true
			}
		}
		return false
	}
	for _, rr := range was {
		if !in(rr, now) {
			del = append(del, rr)
		}
	}
	for _, rr := range now {
		if !in(rr, was) {
			add = append(add, rr)
		}
	}
	return del, add
}
