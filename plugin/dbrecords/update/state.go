package update

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// row is one table row of a name an update touches, as read and as the
// update leaves it.
type row struct {
	id      int64 // 0: a row the update inserts
	valid   bool  // served on its own (records.Parse)
	rec     records.Record
	typ     uint16 // the row's type, valid or not; 0 when unknown
	deleted bool
	ttl     bool // the update sets rec.TTL
}

// state is the rows of the names a request touches, read under lock.
type state struct {
	names map[string][]*row // by lower-case FQDN
}

// served returns the records served at name from rows not deleted: what
// the loader would make of them (records.AddRecord, records.Settle).
func (st *state) served(name string) []records.Record {
	var recs []records.Record
	for _, r := range st.names[name] {
		if r.valid && !r.deleted {
			recs, _ = records.AddRecord(recs, r.rec)
		}
	}
	recs, _ = records.Settle(recs)
	return recs
}

// has reports whether name has an RRset of type t (any type for
// dns.TypeANY). The apex always has its SOA and NS RRsets.
func (st *state) has(req *Request, name string, t uint16) bool {
	if name == req.Zone && (t == dns.TypeANY || t == dns.TypeSOA || t == dns.TypeNS) {
		return true
	}
	return slices.ContainsFunc(st.served(name), func(r records.Record) bool { return t == dns.TypeANY || r.Type == t })
}

// check evaluates req's prerequisites (RFC 2136 section 3.2.5) against the
// rows as read.
func (st *state) check(req *Request, ns []string, mname string) (int, string) {
	type set struct {
		name string
		typ  uint16
	}
	want := map[set][]string{}
	for _, p := range req.prereqs {
		switch {
		case p.kind == nameInUse && !st.has(req, p.name, dns.TypeANY):
			return dns.RcodeNameError, fmt.Sprintf("%s is not in use", p.name)
		case p.kind == nameNotInUse && st.has(req, p.name, dns.TypeANY):
			return dns.RcodeYXDomain, fmt.Sprintf("%s is in use", p.name)
		case p.kind == rrsetExists && !st.has(req, p.name, p.typ):
			return dns.RcodeNXRrset, fmt.Sprintf("%s has no %s RRset", p.name, typeName(p.typ))
		case p.kind == rrsetNotExist && st.has(req, p.name, p.typ):
			return dns.RcodeYXRrset, fmt.Sprintf("%s has a %s RRset", p.name, typeName(p.typ))
		case p.kind == rrsetEquals:
			k := set{p.name, p.typ}
			want[k] = append(want[k], p.rec.Data)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), func(a, b set) int { return strings.Compare(a.name+typeName(a.typ), b.name+typeName(b.typ)) }) {
		var have []string
		for _, r := range st.served(k.name) {
			if r.Type == k.typ {
				have = append(have, r.Data)
			}
		}
		if k.name == req.Zone && k.typ == dns.TypeNS {
			// The apex NS RRset is the rows' and the ns property's, or
			// the SOA's MNAME when neither names one. An SOA never
			// matches: its serial is the replica's own.
			for _, n := range ns {
				have = append(have, nsData(n))
			}
			if len(have) == 0 {
				have = append(have, nsData(mname))
			}
		}
		slices.Sort(have)
		got := slices.Compact(slices.Sorted(slices.Values(want[k])))
		if !slices.Equal(slices.Compact(have), got) || k.typ == dns.TypeSOA {
			return dns.RcodeNXRrset, fmt.Sprintf("the %s RRset of %s differs", typeName(k.typ), k.name)
		}
	}
	return dns.RcodeSuccess, ""
}

// nsData is the wire form of an NS record's RDATA for name, as the store
// keeps it (uncompressed, lower case).
func nsData(name string) string {
	b := make([]byte, 256)
	n, err := dns.PackDomainName(strings.ToLower(dns.Fqdn(name)), b, 0, nil, false)
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// apply makes req's changes to the rows (RFC 2136 section 3.4.2) and checks
// the result by the rules of table rows: a change that would leave a name
// with a row the plugin drops, or more than it serves, is refused (the
// reason is returned) where RFC 2136 would ignore it silently, so that the
// writer learns of it.
func (st *state) apply(req *Request) string {
	before := map[string][]records.Drop{}
	for name := range st.names {
		_, before[name] = records.Settle(st.served(name))
	}
	for _, o := range req.ops {
		rows := st.names[o.name]
		switch o.kind {
		case add:
			if o.rec.Type == dns.TypeCNAME {
				// A CNAME replaces the name's CNAME (RFC 2136 section 3.4.2.2).
				for _, r := range rows {
					if r.typ == dns.TypeCNAME && r.rec.Data != o.rec.Data {
						r.deleted = true
					}
				}
			}
			st.names[o.name] = addTo(rows, o.rec)
		case delRRset:
			for _, r := range rows {
				if r.typ == o.typ {
					r.deleted = true
				}
			}
		case delName:
			for _, r := range rows {
				if o.name != req.Zone || r.typ != dns.TypeNS {
					r.deleted = true
				}
			}
		case delRecord:
			for _, r := range rows {
				if r.valid && r.rec.Type == o.rec.Type && r.rec.Data == o.rec.Data {
					r.deleted = true
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(st.names)) {
		var (
			recs      []records.Record
			ok, added bool
			kept      int // rows left, invalid ones included: the loader reads a name's first MaxRecords
		)
		for _, r := range st.names[name] {
			if r.deleted {
				continue
			}
			kept++
			added = added || r.id == 0
			if !r.valid {
				continue
			}
			if recs, ok = records.AddRecord(recs, r.rec); !ok && (r.id == 0 || r.ttl) {
				return fmt.Sprintf("%s: %s", name, records.TooMany)
			}
		}
		if added && kept > records.MaxRecords {
			return fmt.Sprintf("%s: %s", name, records.TooMany)
		}
		_, after := records.Settle(recs)
		for _, d := range after {
			if !slices.ContainsFunc(before[name], func(b records.Drop) bool { return b.Reason == d.Reason }) {
				return fmt.Sprintf("%s: %s", name, d.Reason)
			}
		}
	}
	return ""
}

// addTo adds rec to a name's rows: the RRset takes rec's TTL (one TTL per
// RRset, RFC 2181 section 5.2), and a row of the same data, if any, stays
// (or comes back, when this update deleted it).
func addTo(rows []*row, rec records.Record) []*row {
	found := false
	for _, r := range rows {
		if !r.valid || r.rec.Type != rec.Type {
			continue
		}
		if r.rec.Data == rec.Data && !found {
			found, r.deleted = true, false
		}
		if !r.deleted && r.rec.TTL != rec.TTL {
			r.rec.TTL, r.ttl = rec.TTL, true
		}
	}
	if !found {
		rows = append(rows, &row{valid: true, rec: rec, typ: rec.Type})
	}
	return rows
}

// write stores the rows as the update left them, and returns how many rows
// it inserted, updated or deleted.
func (w *Writer) write(ctx context.Context, tx *sql.Tx, st *state) (int, error) {
	var (
		del, ins []any
		ttls     = map[uint32][]any{}
		n        int
	)
	for _, name := range slices.Sorted(maps.Keys(st.names)) {
		for _, r := range st.names[name] {
			switch {
			case r.id == 0 && !r.deleted:
				ins = append(ins, strings.TrimSuffix(name, "."), typeName(r.rec.Type), r.rec.Content(), r.rec.TTL)
			case r.id != 0 && r.deleted:
				del = append(del, r.id)
			case r.id != 0 && r.ttl:
				ttls[r.rec.TTL] = append(ttls[r.rec.TTL], r.id)
			}
		}
	}
	exec := func(q string, args []any) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err == nil {
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return err
	}
	if len(del) > 0 {
		if err := exec("DELETE FROM `"+w.Table+"` WHERE id IN ("+marks(len(del), "?")+")", del); err != nil {
			return 0, err
		}
	}
	for _, ttl := range slices.Sorted(maps.Keys(ttls)) {
		ids := ttls[ttl]
		if err := exec("UPDATE `"+w.Table+"` SET ttl = ? WHERE id IN ("+marks(len(ids), "?")+")", append([]any{ttl}, ids...)); err != nil {
			return 0, err
		}
	}
	if len(ins) > 0 {
		q := "INSERT INTO `" + w.Table + "` (name, type, content, ttl) VALUES " + marks(len(ins)/4, "(?, ?, ?, ?)")
		if err := exec(q, ins); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// marks returns n copies of m separated by commas.
func marks(n int, m string) string {
	return strings.TrimSuffix(strings.Repeat(m+", ", n), ", ")
}
