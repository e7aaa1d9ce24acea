package dbrecords

import (
	"runtime"
	"slices"
	"strings"
	"sync"
)

// maxRecords caps the records of one name, so that an entry's records fit
// its 2-byte length and an answer fits a TCP message.
const maxRecords = 2000

// builder derives a new snapshot from an old one. It decodes a bucket the
// first time it changes it and encodes it again in finish, copying the
// bucket's page then; so applying a batch costs the size of the batch plus one
// copy of the page index (a pointer per 64 buckets), never a copy of every
// name. A builder is used by one goroutine; the old snapshot stays valid for
// readers throughout.
type builder struct {
	s          *snapshot
	sign       func(*entry)        // signs an entry whose sigs are ""; nil when the zones are not signed
	work       map[uint64]*[]entry // decoded buckets changed in this batch
	ownedPages map[uint64]bool     // pages already copied into s
	fresh      [][]entry           // every bucket, when s was built from scratch (full load, growth)
}

// newBuilder starts from old; old is not modified.
func newBuilder(old *snapshot) *builder {
	s := *old
	s.pages = slices.Clone(old.pages)
	s.zones = slices.Clone(old.zones)
	s.hist = slices.Clone(old.hist)
	return &builder{s: &s, work: map[uint64]*[]entry{}, ownedPages: map[uint64]bool{}}
}

// newFullBuilder starts from nothing, for a full load of about sizeHint names.
func newFullBuilder(sizeHint int, zones []version) *builder {
	s := newSnapshot(sizeHint, zones)
	return &builder{s: s, fresh: make([][]entry, s.buckets())}
}

// setSerial sets the serial of zone zi.
func (b *builder) setSerial(zi int, serial uint32) { b.s.zones[zi].serial = serial }

// record appends a step to zone zi's journal, keeping it within budget bytes.
func (b *builder) record(zi int, st *step, budget int) {
	b.s.hist[zi] = b.s.hist[zi].record(st, budget)
}

// set replaces the records of name (a lower-case FQDN in zone) with recs,
// built with addRecord. An empty recs deletes the name's records. It returns
// the name's entry as it was, with changed false when recs are what it had.
func (b *builder) set(name, zone string, recs []record) (was entry, changed bool) {
	bi, i := b.locate(name)
	was = entry{data: name, nlen: uint16(len(name))} //nolint:gosec // names are at most 254 bytes (validName)
	had := 0
	if i >= 0 {
		was = b.entries(bi)[i]
		had = was.count()
	}
	data := pack(name, recs)
	if (had == 0 && len(recs) == 0) || (had > 0 && data == was.data) {
		return was, false
	}
	b.s.records += len(recs) - had
	switch {
	case had == 0:
		b.upsert(name, recs)
		b.ancestors(name, zone, 1)
	case len(recs) == 0:
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].sigs = data, ""
		b.release(name)
		b.ancestors(name, zone, -1)
	default:
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].sigs = data, ""
	}
	return was, true
}

// add adds one record to name, skipping an exact duplicate address. It
// reports false when name already has maxRecords records.
func (b *builder) add(name, zone string, r record) bool {
	var recs []record
	if bi, i := b.locate(name); i >= 0 {
		recs = b.entries(bi)[i].records()
	}
	recs, ok := addRecord(recs, r)
	if ok {
		b.set(name, zone, recs)
	}
	return ok
}

// addRecord adds r to a name's records unless its address is already there.
// Records of one type form an RRset with one TTL, the lowest of its rows
// (RFC 2181 section 5.2), whatever order the rows arrive in. It reports
// false, leaving recs as they are, when the name already has maxRecords.
func addRecord(recs []record, r record) ([]record, bool) {
	v4, ttl, dup := r.addr.Is4(), r.ttl, false
	for _, x := range recs {
		if x.addr.Is4() == v4 {
			ttl = min(ttl, x.ttl)
			dup = dup || x.addr == r.addr
		}
	}
	if !dup && len(recs) >= maxRecords {
		return recs, false
	}
	for i := range recs {
		if recs[i].addr.Is4() == v4 {
			recs[i].ttl = ttl
		}
	}
	if dup {
		return recs, true
	}
	return append(recs, record{addr: r.addr, ttl: ttl}), true
}

// finish signs (in signed zones) and encodes the changed buckets, and
// returns the new snapshot. The builder is spent afterwards. Signing runs on
// all CPUs, a bucket at a time, each bucket's decoded entries released as
// soon as it is encoded, so a full load of a signed zone never holds its
// signatures twice.
func (b *builder) finish() *snapshot {
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
		var es []entry
		if b.fresh != nil {
			es, b.fresh[bi] = b.fresh[bi], nil
		} else {
			es = *b.work[bi]
		}
		if b.sign != nil {
			for i := range es {
				if es[i].sigs == "" {
					b.sign(&es[i])
				}
			}
		}
		b.s.pages[bi>>pageBits][bi&(pageSize-1)] = encode(es)
	}
	workers := 1
	if b.sign != nil {
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

// resign makes finish sign name again.
func (b *builder) resign(name string) {
	if bi, i := b.locate(name); i >= 0 {
		(*b.slot(bi))[i].sigs = ""
	}
}

// entries returns bucket bi as this batch sees it.
func (b *builder) entries(bi uint64) []entry {
	if b.fresh != nil {
		return b.fresh[bi]
	}
	if w := b.work[bi]; w != nil {
		return *w
	}
	return decode(b.s.bucket(bi))
}

// slot returns bucket bi for changing.
func (b *builder) slot(bi uint64) *[]entry {
	if b.fresh != nil {
		return &b.fresh[bi]
	}
	if w := b.work[bi]; w != nil {
		return w
	}
	w := new([]entry)
	*w = decode(b.s.bucket(bi))
	b.work[bi] = w
	return w
}

func (b *builder) locate(name string) (bi uint64, i int) {
	bi = mix(hashName(fnvOffset, name)) & b.s.mask
	for j, e := range b.entries(bi) {
		if int(e.nlen) == len(name) && e.name() == name {
			return bi, j
		}
	}
	return bi, -1
}

// upsert sets the records of name, creating the entry if needed. The entry
// gets its own copy of name: callers pass substrings of longer names.
func (b *builder) upsert(name string, recs []record) {
	if bi, i := b.locate(name); i >= 0 {
		(*b.slot(bi))[i].data, (*b.slot(bi))[i].sigs = pack(name, recs), ""
		return
	}
	if b.s.names >= loadFactor*b.s.buckets() {
		b.grow()
	}
	w := b.slot(mix(hashName(fnvOffset, name)) & b.s.mask)
	*w = append(*w, entry{data: pack(name, recs), nlen: uint16(len(name))}) //nolint:gosec // names are at most 254 bytes (validName)
	b.s.names++
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards++
	}
}

// release removes name if it has no records and nothing below it.
func (b *builder) release(name string) {
	bi, i := b.locate(name)
	if i < 0 {
		return
	}
	if e := b.entries(bi)[i]; e.count() > 0 || e.below > 0 {
		return
	}
	w := b.slot(bi)
	last := len(*w) - 1
	(*w)[i] = (*w)[last]
	*w = (*w)[:last]
	b.s.names--
	if strings.HasPrefix(name, "*.") {
		b.s.wildcards--
	}
}

// ancestors adds delta to the below count of every name between name and zone,
// creating and removing empty non-terminals as needed.
func (b *builder) ancestors(name, zone string, delta int32) {
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
func (b *builder) grow() {
	n := newSnapshot(2*loadFactor*b.s.buckets(), nil)
	fresh := make([][]entry, n.buckets())
	for bi := range uint64(b.s.buckets()) { //nolint:gosec // a positive count
		for _, e := range b.entries(bi) {
			nbi := mix(hashName(fnvOffset, e.name())) & n.mask
			fresh[nbi] = append(fresh[nbi], e)
		}
	}
	b.s.pages, b.s.mask = n.pages, n.mask
	b.fresh, b.work, b.ownedPages = fresh, nil, nil
}
