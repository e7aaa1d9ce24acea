package store

import (
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// Builder derives a new snapshot from an old one. It decodes a bucket the
// first time it changes it and encodes it again in finish, copying the
// bucket's page then; so applying a batch costs the size of the batch plus one
// copy of the page index (a pointer per 64 buckets), never a copy of every
// name. A Builder is used by one goroutine; the old snapshot stays valid for
// readers throughout.
type Builder struct {
	s          *Snapshot
	Sign       func(*Entry)        // signs an entry whose sigs are ""; nil when the zones are not signed
	work       map[uint64]*[]Entry // decoded buckets changed in this batch
	ownedPages map[uint64]bool     // pages already copied into s
	fresh      [][]Entry           // every bucket, when s was built from scratch (full load, growth)
}

// NewBuilder starts from old; old is not modified.
func NewBuilder(old *Snapshot) *Builder {
	s := *old
	s.pages = slices.Clone(old.pages)
	s.Zones = slices.Clone(old.Zones)
	s.Hist = slices.Clone(old.Hist)
	s.ByType = maps.Clone(old.ByType)
	if s.ByType == nil {
		s.ByType = map[uint16]int{}
	}
	return &Builder{s: &s, work: map[uint64]*[]Entry{}, ownedPages: map[uint64]bool{}}
}

// NewFullBuilder starts from nothing, for a full load of about sizeHint names.
func NewFullBuilder(sizeHint int, zones []Version) *Builder {
	s := newSnapshot(sizeHint, zones)
	return &Builder{s: s, fresh: make([][]Entry, s.Buckets())}
}

// SetSerial sets the serial of zone zi.
func (b *Builder) SetSerial(zi int, serial uint32) { b.s.Zones[zi].Serial = serial }

// ForgetJournal empties zone zi's journal: a client at any earlier serial
// gets the whole zone, also one at the serial the next step starts from,
// which other contents may have had.
func (b *Builder) ForgetJournal(zi int) { b.s.Hist[zi] = history{dirtyBase: true} }

// Record appends a step to zone zi's journal, keeping it within budget bytes.
func (b *Builder) Record(zi int, st *Step, budget int) {
	b.s.Hist[zi] = b.s.Hist[zi].record(st, budget)
}

// Set replaces the records of name (a lower-case FQDN in zone) with recs,
// built with addRecord. An empty recs deletes the name's records. It returns
// the name's entry as it was, with changed false when recs are what it had.
func (b *Builder) Set(name, zone string, recs []records.Record) (was Entry, changed bool) {
	bi, i := b.locate(name)
	was = Entry{data: name, nlen: uint16(len(name))} //nolint:gosec // names are at most 254 bytes (validName)
	had := 0
	if i >= 0 {
		was = b.entries(bi)[i]
		had = was.Count()
	}
	data := pack(name, recs)
	if (had == 0 && len(recs) == 0) || (had > 0 && data == was.data) {
		return was, false
	}
	b.s.Records += len(recs) - had
	cut := 0 // +1 when name becomes a delegation, -1 when it stops being one
	for i := int(was.nlen); i < len(was.data); {
		var t uint16
		t, _, _, i = was.next(i)
		b.s.ByType[t]--
		if t == dns.TypeNS && cut == 0 {
			cut = -1
		}
	}
	isCut := false
	for _, r := range recs {
		b.s.ByType[r.Type]++
		isCut = isCut || r.Type == dns.TypeNS
	}
	if name != zone {
		b.s.cuts += cut + boolInt(isCut)
	}
	switch {
	case had == 0:
		b.upsert(name, recs)
		b.ancestors(name, zone, 1)
	case len(recs) == 0:
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].Sigs = data, ""
		b.release(name)
		b.ancestors(name, zone, -1)
	default:
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].Sigs = data, ""
	}
	return was, true
}

// Add adds one record to name, skipping an exact duplicate address. It
// reports false when name already has MaxRecords records.
func (b *Builder) Add(name, zone string, r records.Record) bool {
	var recs []records.Record
	if bi, i := b.locate(name); i >= 0 {
		recs = b.entries(bi)[i].Records()
	}
	recs, ok := records.AddRecord(recs, r)
	if ok {
		b.Set(name, zone, recs)
	}
	return ok
}

// Get returns the records name has in this batch.
func (b *Builder) Get(name string) []records.Record {
	if bi, i := b.locate(name); i >= 0 {
		return b.entries(bi)[i].Records()
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Finish signs (in signed zones) and encodes the changed buckets, and
// returns the new snapshot. The builder is spent afterwards. Signing runs on
// all CPUs, a bucket at a time, each bucket's decoded entries released as
// soon as it is encoded, so a full load of a signed zone never holds its
// signatures twice.
func (b *Builder) Finish() *Snapshot {
	var jobs []uint64
	if b.fresh != nil {
		jobs = make([]uint64, len(b.fresh))
		for bi := range jobs {
			jobs[bi] = uint64(bi) //nolint:gosec // an index
		}
	}
	for bi := range b.work {
		if pi := bi >> pageBits; !b.ownedPages[pi] {
			p := *b.s.pages[pi]
			b.s.pages[pi] = &p
			b.ownedPages[pi] = true
		}
		jobs = append(jobs, bi)
	}
	one := func(bi uint64) {
		var es []Entry
		if b.fresh != nil {
			es, b.fresh[bi] = b.fresh[bi], nil
		} else {
			es = *b.work[bi]
		}
		if b.Sign != nil {
			for i := range es {
				if es[i].Sigs == "" {
					b.Sign(&es[i])
				}
			}
		}
		b.s.pages[bi>>pageBits][bi&(pageSize-1)] = encode(es)
	}
	workers := 1
	if b.Sign != nil {
		workers = min(runtime.GOMAXPROCS(0), 1+len(jobs)/64)
	}
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(jobs); i += workers {
				one(jobs[i])
			}
		}()
	}
	wg.Wait()
	b.work, b.fresh = nil, nil
	return b.s
}

// Resign makes finish sign name again.
func (b *Builder) Resign(name string) {
	if bi, i := b.locate(name); i >= 0 {
		(*b.slot(bi))[i].Sigs = ""
	}
}

// entries returns bucket bi as this batch sees it.
func (b *Builder) entries(bi uint64) []Entry {
	if b.fresh != nil {
		return b.fresh[bi]
	}
	if w := b.work[bi]; w != nil {
		return *w
	}
	return Decode(b.s.Bucket(bi))
}

// slot returns bucket bi for changing.
func (b *Builder) slot(bi uint64) *[]Entry {
	if b.fresh != nil {
		return &b.fresh[bi]
	}
	if w := b.work[bi]; w != nil {
		return w
	}
	w := new([]Entry)
	*w = Decode(b.s.Bucket(bi))
	b.work[bi] = w
	return w
}

func (b *Builder) locate(name string) (bi uint64, i int) {
	bi = mix(hashName(fnvOffset, name)) & b.s.mask
	for j, e := range b.entries(bi) {
		if int(e.nlen) == len(name) && e.Name() == name {
			return bi, j
		}
	}
	return bi, -1
}

// upsert sets the records of name, creating the entry if needed. The entry
// gets its own copy of name: callers pass substrings of longer names.
func (b *Builder) upsert(name string, recs []records.Record) {
	if bi, i := b.locate(name); i >= 0 {
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].Sigs = pack(name, recs), ""
		return
	}
	if b.s.Names >= loadFactor*b.s.Buckets() {
		b.grow()
	}
	w := b.slot(mix(hashName(fnvOffset, name)) & b.s.mask)
	*w = append(*w, Entry{data: pack(name, recs), nlen: uint16(len(name))}) //nolint:gosec // names are at most 254 bytes (validName)
	b.s.Names++
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards++
	}
}

// release removes name if it has no records and nothing below it.
func (b *Builder) release(name string) {
	bi, i := b.locate(name)
	if i < 0 {
		return
	}
	if e := b.entries(bi)[i]; e.Count() > 0 || e.below > 0 {
		return
	}
	w := b.slot(bi)
	last := len(*w) - 1
	(*w)[i] = (*w)[last]
	*w = (*w)[:last]
	b.s.Names--
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards--
	}
}

// ancestors adds delta to the below count of every name between name and zone,
// creating and removing empty non-terminals as needed.
func (b *Builder) ancestors(name, zone string, delta int32) {
	for p := parent(name); p != zone && len(p) > len(zone); p = parent(p) {
		bi, i := b.locate(p)
		if i < 0 {
			b.upsert(p, nil)
			bi, i = b.locate(p)
		}
		(*b.slot(bi))[i].below += delta
		if delta < 0 {
			b.release(p)
		}
	}
}

// grow doubles the bucket count; every page of the result is private and
// every bucket is rebuilt in finish.
func (b *Builder) grow() {
	n := newSnapshot(2*loadFactor*b.s.Buckets(), nil)
	fresh := make([][]Entry, n.Buckets())
	for bi := range uint64(b.s.Buckets()) { //nolint:gosec // a positive count
		for _, e := range b.entries(bi) {
			nbi := mix(hashName(fnvOffset, e.Name())) & n.mask
			fresh[nbi] = append(fresh[nbi], e)
		}
	}
	b.s.pages, b.s.mask = n.pages, n.mask
	b.fresh, b.work, b.ownedPages = fresh, nil, nil
}
