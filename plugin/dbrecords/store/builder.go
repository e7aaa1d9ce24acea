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

// Builder derives a new snapshot from an old one. It keeps each bucket it
// changes encoded, as a string of its own, and makes the pages of the
// changed buckets again in Finish; so applying a batch costs the size of
// the batch plus one copy of the page index (a string header per 64
// buckets), never a copy of every name. A full load fills every bucket the
// same way: what it holds until Finish is the new snapshot's data, once. A
// Builder is used by one goroutine; the old snapshot stays valid for
// readers throughout.
type Builder struct {
	s     *Snapshot
	Sign  func(*Entry)      // signs an entry whose sigs are ""; nil when the zones are not signed
	work  map[uint64]string // buckets changed in this batch
	fresh []string          // every bucket, when s was built from scratch (full load, growth)
	zi    map[string]int    // zone index by name
	buf   []byte            // the bucket being made
	rbuf  []byte            // the records being packed
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
	return &Builder{s: &s, work: map[uint64]string{}}
}

// NewFullBuilder starts from nothing, for a full load of about sizeHint names.
func NewFullBuilder(sizeHint int, zones []Version) *Builder {
	s := newSnapshot(sizeHint, zones)
	return &Builder{s: s, fresh: make([]string, s.Buckets())}
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
	was, at := b.locate(name)
	return b.set(name, zone, recs, was, at)
}

// set is Set with name's entry and place, as locate found them.
func (b *Builder) set(name, zone string, recs []records.Record, was Entry, at spot) (Entry, bool) {
	ok := at.ok
	if !ok {
		was.rel, was.zone = relative(name, zone)
	}
	had := was.Count()
	b.rbuf = packTo(b.rbuf[:0], recs)
	if (had == 0 && len(recs) == 0) || (had > 0 && string(b.rbuf) == was.recs) {
		return was, false
	}
	b.s.Records += len(recs) - had
	cut := 0 // +1 when name becomes a delegation, -1 when it stops being one
	for i := 0; i < len(was.recs); {
		s := rrsetAt(was.recs, i)
		b.s.ByType[s.t] -= s.n
		if s.t == dns.TypeNS {
			cut = -1
		}
		i = s.end
	}
	isCut := false
	for _, r := range recs {
		b.s.ByType[r.Type]++
		isCut = isCut || r.Type == dns.TypeNS
	}
	if name != zone {
		b.s.cuts += cut + boolInt(isCut)
	}
	e := was
	e.recs, e.Sigs = "", "" // the records are in rbuf
	switch {
	case !ok:
		b.insert(name, at, &e, b.rbuf)
		b.ancestors(name, zone, 1)
	case had == 0:
		b.splice(at, &e, b.rbuf)
		b.ancestors(name, zone, 1)
	case len(recs) == 0:
		b.splice(at, &e, nil)
		b.release(name)
		b.ancestors(name, zone, -1)
	default:
		b.splice(at, &e, b.rbuf)
	}
	return was, true
}

// Add adds one record to name, skipping an exact duplicate address. It
// reports false when name already has MaxRecords records.
func (b *Builder) Add(name, zone string, r records.Record) bool {
	e, at := b.locate(name)
	if (!at.ok || e.Empty()) && r.Size() <= records.MaxBytes { // the name's first record, as most are
		b.set(name, zone, []records.Record{r}, e, at)
		return true
	}
	recs, ok := records.AddRecord(e.Records(), r)
	if ok {
		b.set(name, zone, recs, e, at)
	}
	return ok
}

// Get returns the records name has in this batch.
func (b *Builder) Get(name string) []records.Record {
	if e, at := b.locate(name); at.ok {
		return e.Records()
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Finish signs (in signed zones) the changed buckets, makes their pages
// again, and returns the new snapshot. The builder is spent afterwards.
// Signing runs on all CPUs, a bucket at a time. A full load releases each
// bucket as its page is made (and, signed, each unsigned bucket as it is
// signed).
func (b *Builder) Finish() *Snapshot {
	var jobs []uint64
	if b.fresh != nil {
		if b.Sign != nil {
			jobs = make([]uint64, len(b.fresh))
			for bi := range jobs {
				jobs[bi] = uint64(bi) //nolint:gosec // an index
			}
		}
	} else {
		jobs = slices.Sorted(maps.Keys(b.work))
	}
	if b.Sign != nil {
		var signed []string // a batch's signed buckets, until the workers are done
		if b.fresh == nil {
			signed = make([]string, len(jobs))
		}
		// Entries decoded from buckets know their zone's index: signing
		// touches no state of the builder but signed.
		one := func(k int, buf []byte) []byte {
			es := b.s.Decode(b.bucket(jobs[k]))
			n := 0
			for i := range es {
				if es[i].Sigs == "" {
					b.Sign(&es[i])
					n++
				}
			}
			if n == 0 {
				if b.fresh == nil {
					signed[k] = b.bucket(jobs[k])
				}
				return buf
			}
			buf = buf[:0]
			for i := range es {
				buf = appendEntry(buf, &es[i], es[i].zi-1, es[i].recs)
			}
			if b.fresh != nil {
				// Its own slot, which no other worker reads: the unsigned
				// bucket goes at once instead of staying beside the signed.
				b.fresh[jobs[k]] = string(buf)
			} else {
				signed[k] = string(buf)
			}
			return buf
		}
		workers := min(runtime.GOMAXPROCS(0), 1+len(jobs)/64)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf []byte
				for k := w; k < len(jobs); k += workers {
					buf = one(k, buf)
				}
			}()
		}
		wg.Wait()
		if b.fresh == nil {
			for k, bi := range jobs {
				b.work[bi] = signed[k]
			}
		}
	}
	if b.fresh != nil {
		for pi := range b.s.pages {
			base := uint64(pi) << pageBits //nolint:gosec // an index
			b.s.pages[pi] = makePage(func(k uint64) string { return b.fresh[base+k] })
			clear(b.fresh[base : base+pageSize])
		}
	} else {
		old := b.s.pages
		b.s.pages = slices.Clone(old)
		for k, bi := range jobs {
			pi := bi >> pageBits
			if k > 0 && jobs[k-1]>>pageBits == pi {
				continue // made with the first of its page
			}
			old := &Snapshot{pages: old}
			b.s.pages[pi] = makePage(func(k uint64) string {
				bi := pi<<pageBits | k
				if v, ok := b.work[bi]; ok {
					return v
				}
				return old.Bucket(bi)
			})
		}
	}
	b.work, b.fresh = nil, nil
	return b.s
}

// Resign makes Finish sign name again.
func (b *Builder) Resign(name string) {
	if e, at := b.locate(name); at.ok {
		e.Sigs = ""
		b.splice(at, &e, nil)
	}
}

// bucket returns bucket bi as this batch sees it.
func (b *Builder) bucket(bi uint64) string {
	if b.fresh != nil {
		return b.fresh[bi]
	}
	if v, ok := b.work[bi]; ok {
		return v
	}
	return b.s.Bucket(bi)
}

func (b *Builder) put(bi uint64, v string) {
	if b.fresh != nil {
		b.fresh[bi] = v
	} else {
		b.work[bi] = v
	}
}

func (b *Builder) index(name string) uint64 { return mix(hashName(fnvOffset, name)) & b.s.mask }

// spot is where an entry is in its bucket, or would go (ok false: at the
// end). It holds until the bucket changes.
type spot struct {
	bi        uint64
	off, next int
	ok        bool
}

// locate finds name's entry and its spot, comparing headers only.
func (b *Builder) locate(name string) (Entry, spot) {
	bi := b.index(name)
	bk := b.bucket(bi)
	for i := 0; i < len(bk); {
		h := headAt(bk, i)
		if b.s.is(bk, h, name) {
			e, _ := b.s.At(bk, i)
			return e, spot{bi: bi, off: i, next: h.next, ok: true}
		}
		i = h.next
	}
	return Entry{}, spot{bi: bi, off: len(bk), next: len(bk)}
}

// zoneIndex returns the index of zone among the snapshot's suffixes, adding
// it when it is new.
func (b *Builder) zoneIndex(zone string) int {
	if b.zi == nil {
		b.zi = make(map[string]int, len(b.s.suffixes))
		for i, z := range b.s.suffixes {
			b.zi[z] = i
		}
	}
	i, ok := b.zi[zone]
	if !ok {
		i = len(b.s.suffixes)
		b.s.suffixes = append(slices.Clip(b.s.suffixes), zone)
		b.zi[zone] = i
	}
	return i
}

// splice makes a bucket again with the entry at at replaced by e (or
// removed, when e is nil), or with e appended when at is not an entry;
// recs, when not nil, are e's records.
func (b *Builder) splice(at spot, e *Entry, recs []byte) {
	bk := b.bucket(at.bi)
	b.buf = append(b.buf[:0], bk[:at.off]...)
	if e != nil {
		if e.zi == 0 {
			e.zi = b.zoneIndex(e.zone) + 1
		}
		if recs != nil {
			b.buf = appendEntry(b.buf, e, e.zi-1, recs)
		} else {
			b.buf = appendEntry(b.buf, e, e.zi-1, e.recs)
		}
	}
	b.buf = append(b.buf, bk[at.next:]...)
	b.put(at.bi, string(b.buf))
}

// insert adds e, name's entry, which the batch does not hold yet, at at.
func (b *Builder) insert(name string, at spot, e *Entry, recs []byte) {
	if b.s.Names >= loadFactor*b.s.Buckets() {
		b.grow()
		_, at = b.locate(name)
	}
	b.splice(at, e, recs)
	b.s.Names++
	if strings.HasPrefix(e.rel, "*.") {
		b.s.wildcards++
	}
}

// release removes name if it has no records and nothing below it.
func (b *Builder) release(name string) {
	e, at := b.locate(name)
	if !at.ok || !e.Empty() || e.below > 0 {
		return
	}
	b.splice(at, nil, nil)
	b.s.Names--
	if strings.HasPrefix(e.rel, "*.") {
		b.s.wildcards--
	}
}

// ancestors adds delta to the below count of every name between name and zone,
// creating and removing empty non-terminals as needed.
func (b *Builder) ancestors(name, zone string, delta int32) {
	for p := parent(name); p != zone && len(p) > len(zone); p = parent(p) {
		e, at := b.locate(p)
		if !at.ok {
			e.rel, e.zone = relative(p, zone)
			e.below = delta
			b.insert(p, at, &e, nil)
			continue
		}
		e.below += delta
		b.splice(at, &e, nil)
		if delta < 0 {
			b.release(p)
		}
	}
}

// grow doubles the bucket count; every page of the result is private and
// every bucket is made again in Finish.
func (b *Builder) grow() {
	n := newSnapshot(2*loadFactor*b.s.Buckets(), nil)
	fresh := make([][]byte, n.Buckets())
	for bi := range uint64(b.s.Buckets()) { //nolint:gosec // a positive count
		bk := b.bucket(bi)
		for i := 0; i < len(bk); {
			h := headAt(bk, i)
			e, _ := b.s.At(bk, i)
			nbi := mix(hashName(hashName(fnvOffset, e.rel), e.zone)) & n.mask
			fresh[nbi] = append(fresh[nbi], bk[i:h.next]...)
			i = h.next
		}
	}
	b.fresh = make([]string, len(fresh))
	for i, v := range fresh {
		b.fresh[i] = string(v)
	}
	b.s.pages, b.s.mask, b.work = n.pages, n.mask, nil
}
