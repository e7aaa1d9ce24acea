package update

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// A prerequisite's kind (RFC 2136 section 2.4).
const (
	nameInUse     = iota // class ANY, type ANY
	nameNotInUse         // class NONE, type ANY
	rrsetExists          // class ANY: value-independent
	rrsetNotExist        // class NONE
	rrsetEquals          // class IN: value-dependent
)

// An update's kind (RFC 2136 section 2.5).
const (
	add       = iota // class IN
	delRRset         // class ANY, a type
	delName          // class ANY, type ANY
	delRecord        // class NONE
)

type prereq struct {
	kind int
	name string // lower-case FQDN
	typ  uint16
	rec  records.Record // rrsetEquals
}

type op struct {
	kind int
	name string // lower-case FQDN
	typ  uint16
	rec  records.Record // add, delRecord
}

// Request is a checked UPDATE message: its zone, prerequisites and updates.
type Request struct {
	Zone    string // lower-case FQDN
	zi      int
	prereqs []prereq
	ops     []op
}

// Error is a request refused before the database is asked: the rcode of the
// reply and why, for the log.
type Error struct {
	Rcode int
	Why   string
}

func (e *Error) Error() string { return e.Why }

func fail(rcode int, format string, args ...any) *Error {
	return &Error{Rcode: rcode, Why: fmt.Sprintf(format, args...)}
}

// Parse checks the form of m, an UPDATE for zone zi of zones (RFC 2136
// sections 3.1, 3.2 and 3.4.1), with at most maxRecords records in its
// prerequisite and update sections. defaultTTL is the ttl property, which
// rows need to parse. Content is judged by the rules of table rows.
func Parse(m *dns.Msg, zones records.ZoneSet, zi int, defaultTTL uint32, maxRecords int) (*Request, *Error) {
	if len(m.Question) != 1 || m.Question[0].Qtype != dns.TypeSOA {
		return nil, fail(dns.RcodeFormatError, "the zone section must hold one SOA question")
	}
	if n := len(m.Answer) + len(m.Ns); n > maxRecords {
		return nil, fail(dns.RcodeFormatError, "%d records, more than the %d allowed", n, maxRecords)
	}
	req := &Request{Zone: zones.List[zi].Name, zi: zi}
	for _, rr := range m.Answer {
		p, err := req.prereq(rr, zones, defaultTTL)
		if err != nil {
			return nil, err
		}
		req.prereqs = append(req.prereqs, p)
	}
	for _, rr := range m.Ns {
		o, err := req.op(rr, zones, defaultTTL)
		if err != nil {
			return nil, err
		}
		req.ops = append(req.ops, o)
	}
	return req, nil
}

// owner checks that rr's owner lies in the request's zone and not in a child
// zone of the block, and returns it in lower case.
func (req *Request) owner(rr dns.RR, zones records.ZoneSet) (string, *Error) {
	name := strings.ToLower(rr.Header().Name)
	if zones.Match(name) != req.zi {
		return "", fail(dns.RcodeNotZone, "%q is not in zone %s", name, req.Zone)
	}
	if !records.ValidName(records.NameKey(name)) {
		return "", fail(dns.RcodeFormatError, "%q is not a host name", name)
	}
	return name, nil
}

func (req *Request) prereq(rr dns.RR, zones records.ZoneSet, defaultTTL uint32) (prereq, *Error) {
	h := rr.Header()
	name, err := req.owner(rr, zones)
	if err != nil {
		return prereq{}, err
	}
	if h.Ttl != 0 {
		return prereq{}, fail(dns.RcodeFormatError, "a prerequisite with a TTL")
	}
	p := prereq{name: name, typ: h.Rrtype}
	switch h.Class {
	case dns.ClassANY, dns.ClassNONE:
		if h.Rdlength != 0 {
			return prereq{}, fail(dns.RcodeFormatError, "a prerequisite of class %s with data", dns.ClassToString[h.Class])
		}
		switch {
		case h.Class == dns.ClassANY && h.Rrtype == dns.TypeANY:
			p.kind = nameInUse
		case h.Class == dns.ClassANY:
			p.kind = rrsetExists
		case h.Rrtype == dns.TypeANY:
			p.kind = nameNotInUse
		default:
			p.kind = rrsetNotExist
		}
	case dns.ClassINET:
		p.kind = rrsetEquals
		if h.Rrtype != dns.TypeSOA { // never matches: the serial is the replica's own
			if p.rec, err = record(rr, name, zones, defaultTTL); err != nil {
				return prereq{}, err
			}
		}
	default:
		return prereq{}, fail(dns.RcodeFormatError, "a prerequisite of class %s", dns.ClassToString[h.Class])
	}
	return p, nil
}

func (req *Request) op(rr dns.RR, zones records.ZoneSet, defaultTTL uint32) (op, *Error) {
	h := rr.Header()
	name, err := req.owner(rr, zones)
	if err != nil {
		return op{}, err
	}
	o := op{name: name, typ: h.Rrtype}
	if meta(h.Rrtype) && !(h.Class == dns.ClassANY && h.Rrtype == dns.TypeANY) {
		return op{}, fail(dns.RcodeFormatError, "an update of meta-type %s", dns.TypeToString[h.Rrtype])
	}
	switch h.Class {
	case dns.ClassINET:
		o.kind = add
	case dns.ClassANY:
		if h.Ttl != 0 || h.Rdlength != 0 {
			return op{}, fail(dns.RcodeFormatError, "a deletion of class ANY with a TTL or data")
		}
		o.kind = delRRset
		if h.Rrtype == dns.TypeANY {
			o.kind = delName
		}
	case dns.ClassNONE:
		if h.Ttl != 0 {
			return op{}, fail(dns.RcodeFormatError, "a deletion of class NONE with a TTL")
		}
		o.kind = delRecord
	default:
		return op{}, fail(dns.RcodeFormatError, "an update of class %s", dns.ClassToString[h.Class])
	}
	// The SOA is the plugin's, and so is the apex NS RRset: the ns
	// property and the table's rows decide them, never an update.
	if h.Rrtype == dns.TypeSOA || h.Rrtype == dns.TypeNS && name == req.Zone {
		return op{}, fail(dns.RcodeRefused, "the %s RRset of the apex cannot be updated", dns.TypeToString[h.Rrtype])
	}
	if o.kind == add || o.kind == delRecord {
		if o.rec, err = record(rr, name, zones, defaultTTL); err != nil {
			return op{}, err
		}
	}
	return o, nil
}

// meta reports whether t is a type no RRset can have (RFC 6895 section 3.1).
func meta(t uint16) bool {
	return t == dns.TypeANY || t == dns.TypeAXFR || t == dns.TypeIXFR || t == dns.TypeMAILA ||
		t == dns.TypeMAILB || t == dns.TypeOPT || t == dns.TypeTSIG || t == dns.TypeTKEY
}

// record turns rr into the record a table row of its content would give,
// judged by the same rules.
func record(rr dns.RR, name string, zones records.ZoneSet, defaultTTL uint32) (records.Record, *Error) {
	typ := typeName(rr.Header().Rrtype)
	if !records.ServedType(rr.Header().Rrtype) {
		return records.Record{}, fail(dns.RcodeFormatError, "type %s is not served", typ)
	}
	content := records.Presentation(rr)
	if len(content) > records.MaxContent {
		return records.Record{}, fail(dns.RcodeFormatError, "%s data of %d characters, more than a row holds (%d)", typ, len(content), records.MaxContent)
	}
	row := records.Row{Name: name, Type: typ, Content: content, TTL: int64(rr.Header().Ttl)}
	sr, why := records.Parse(row, zones, defaultTTL)
	if why != records.Valid {
		return records.Record{}, fail(dns.RcodeFormatError, "%s %s: %s", name, typ, why)
	}
	return sr.Rec, nil
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

// Authorize reports whether key may make every change of req, and ask
// about every name its prerequisites name (the names its rules cover, of
// any type); the first it may not is named.
func (req *Request) Authorize(p Policy, key string) *Error {
	for _, pr := range req.prereqs {
		if !p.Covers(key, pr.name) {
			return fail(dns.RcodeRefused, "key %s may not ask about %s", key, pr.name)
		}
	}
	for _, o := range req.ops {
		t := o.typ
		if o.kind == delName {
			t = dns.TypeANY
		}
		if !p.Allows(key, o.name, t) {
			what := typeName(t) + " at"
			if t == dns.TypeANY {
				what = "every RRset of"
			}
			return fail(dns.RcodeRefused, "key %s may not change %s %s", key, what, o.name)
		}
	}
	return nil
}

// Summary describes req for a log line: counts and names, never data.
func (req *Request) Summary() string {
	var parts []string
	if n := len(req.prereqs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d prerequisites", n))
	}
	counts := map[string]int{}
	var order, names []string
	for _, o := range req.ops {
		verb := [...]string{add: "add", delRRset: "delete", delName: "delete", delRecord: "delete"}[o.kind]
		k := verb + " " + typeName(o.typ)
		if o.kind == delName {
			k = "delete every RRset"
		}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
		if !slices.Contains(names, o.name) {
			names = append(names, o.name)
		}
	}
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	const shown = 3
	at := strings.Join(names[:min(len(names), shown)], " ")
	if len(names) > shown {
		at += fmt.Sprintf(" and %d more", len(names)-shown)
	}
	if at != "" {
		at = " at " + at
	}
	return strings.Join(parts, ", ") + at
}
