package dbrecords

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
)

// fakeSource is an in-memory table with a change log that behaves as InnoDB's
// does for the triggers of schema.sql: a writer's statement takes the next
// sequence number of its series at once, and the entry and the rows become
// visible together when its transaction commits.
type fakeSource struct {
	mu          sync.Mutex
	inc         uint64
	next        map[uint64]uint64 // per series (auto_increment_offset): the next number it takes
	taken       uint64            // the highest number taken
	frontier    uint64            // when set, what openWriters reports (a node that lags behind)
	table       map[string][]records.Row
	entries     map[uint64]fakeEntry
	prunedBelow uint64
	noProof     bool
	fail        error     // returned by every call while set
	dbNow       time.Time // what Now reports; zero: unknown
	txs         int
}

type fakeEntry struct {
	name string
	tx   *fakeTx
	at   time.Time // Change.At; zero: unknown
}

type fakeTx struct {
	f      *fakeSource
	id     int
	offset uint64
	open   bool
	seqs   []uint64
	writes map[string][]records.Row
}

func newFakeSource() *fakeSource {
	return &fakeSource{inc: 1, next: map[uint64]uint64{}, table: map[string][]records.Row{}, entries: map[uint64]fakeEntry{}}
}

// begin starts a transaction of the series with this auto_increment_offset.
func (f *fakeSource) begin(offset uint64) *fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txs++
	return &fakeTx{f: f, id: f.txs, offset: offset, open: true, writes: map[string][]records.Row{}}
}

// write replaces the rows of name (none deletes it) and takes a number.
func (tx *fakeTx) write(name string, addrs ...string) uint64 {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.next[tx.offset]
	if !ok {
		n = tx.offset
	}
	// Like InnoDB: a series never takes a number at or below one already
	// used (Galera bumps a node's counter past the rows it applies).
	for n <= f.taken {
		n += f.inc
	}
	f.taken = n
	f.next[tx.offset] = n + f.inc
	f.entries[n] = fakeEntry{name: name, tx: tx}
	var rows []records.Row
	for _, a := range addrs {
		typ := "A"
		if t, content, ok := strings.Cut(a, " "); ok { // "TYPE content"
			typ, a = t, content
		} else if len(a) > 15 || slices.Contains([]byte(a), ':') {
			typ = "AAAA"
		}
		rows = append(rows, records.Row{Name: name, Type: typ, Content: a, TTLNull: true})
	}
	tx.writes[name] = rows
	tx.seqs = append(tx.seqs, n)
	return n
}

// writeAt is write with the number seq, as a Galera node that has not yet
// applied the newer rows of other nodes takes a lower number than theirs.
func (tx *fakeTx) writeAt(seq uint64, name string, addr string) {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[seq] = fakeEntry{name: name, tx: tx}
	tx.writes[name] = []records.Row{{Name: name, Type: "A", Content: addr, TTLNull: true}}
	tx.seqs = append(tx.seqs, seq)
}

func (tx *fakeTx) commit() {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, rows := range tx.writes {
		f.table[records.NameKey(name)] = rows
	}
	tx.open = false
}

func (tx *fakeTx) rollback() {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range tx.seqs {
		delete(f.entries, s)
	}
	tx.open = false
}

// commitOne writes and commits name in a transaction of its own.
func (f *fakeSource) commitOne(name string, addrs ...string) uint64 {
	tx := f.begin(1)
	n := tx.write(name, addrs...)
	tx.commit()
	return n
}

// prune deletes the visible entries below below, as the prune procedure does.
func (f *fakeSource) prune(below uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, e := range f.entries {
		if s < below && !e.tx.open {
			delete(f.entries, s)
		}
	}
	f.prunedBelow = max(f.prunedBelow, below)
}

func (f *fakeSource) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// visible returns the committed entries that match keep, in order.
func (f *fakeSource) visible(keep func(uint64) bool) []source.Change {
	var out []source.Change
	for s, e := range f.entries {
		if !e.tx.open && keep(s) {
			out = append(out, source.Change{Seq: s, Name: e.name, At: e.at})
		}
	}
	slices.SortFunc(out, func(a, b source.Change) int { return int(a.Seq) - int(b.Seq) }) //nolint:gosec // small test numbers
	return out
}

func (f *fakeSource) lock() error {
	f.mu.Lock()
	return f.fail
}

func (f *fakeSource) Increment(context.Context) (uint64, error) {
	defer f.mu.Unlock()
	return f.inc, f.lock()
}

func (f *fakeSource) LogState(context.Context) (source.LogState, error) {
	defer f.mu.Unlock()
	return source.LogState{PrunedBelow: f.prunedBelow}, f.lock()
}

func (f *fakeSource) Top(context.Context) (uint64, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return 0, err
	}
	cs := f.visible(func(uint64) bool { return true })
	if len(cs) == 0 {
		return 0, nil
	}
	return cs[len(cs)-1].Seq, nil
}

// OlderWriter: the fake has no clock; a writer still open that took a
// number at or below seq counts as older.
func (f *fakeSource) OlderWriter(_ context.Context, seq uint64) bool {
	defer f.mu.Unlock()
	f.lock()
	for s, e := range f.entries {
		if e.tx.open && s <= seq {
			return true
		}
	}
	return false
}

// Now implements source.Source: the database clock, zero (unknown) unless a
// test sets dbNow.
func (f *fakeSource) Now(context.Context) (time.Time, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return time.Time{}, err
	}
	return f.dbNow, nil
}

// age stamps every entry with the database time d before dbNow.
func (f *fakeSource) age(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, e := range f.entries {
		e.at = f.dbNow.Add(-d)
		f.entries[s] = e
	}
}

func (f *fakeSource) ChangesAfter(_ context.Context, after uint64, limit int) ([]source.Change, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return nil, err
	}
	cs := f.visible(func(s uint64) bool { return s > after })
	return cs[:min(len(cs), limit)], nil
}

func (f *fakeSource) ChangesIn(_ context.Context, ranges []source.ClassRange, limit int) ([]source.Change, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return nil, err
	}
	cs := f.visible(func(s uint64) bool {
		return slices.ContainsFunc(ranges, func(r source.ClassRange) bool { return r.Lo <= s && s <= r.Hi && s%r.Inc == r.Class })
	})
	return cs[:min(len(cs), limit)], nil
}

func (f *fakeSource) ChangesBefore(_ context.Context, before uint64, limit int) ([]source.Change, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return nil, err
	}
	cs := f.visible(func(s uint64) bool { return s < before })
	slices.Reverse(cs)
	return cs[:min(len(cs), limit)], nil
}

func (f *fakeSource) OpenWriters(context.Context) (*source.Writers, error) {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return nil, err
	}
	if f.noProof {
		return nil, source.ErrNoProof{Why: "the fake hides its transactions"}
	}
	w := &source.Writers{IDs: map[string]struct{}{}, Frontier: f.taken + 1}
	if f.frontier > 0 {
		w.Frontier = f.frontier
	}
	for _, e := range f.entries {
		if e.tx.open {
			w.IDs[strconv.Itoa(e.tx.id)] = struct{}{}
		}
	}
	return w, nil
}

func (f *fakeSource) Rows(_ context.Context, keys []string, fn func(records.Row)) error {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return err
	}
	for name, rows := range f.table {
		if keys == nil || slices.Contains(keys, records.NameKey(name)) { // as the collation and the trailing dot match
			for _, r := range rows {
				fn(r)
			}
		}
	}
	return nil
}

func (f *fakeSource) ByName(_ context.Context, fn func([]records.Row)) error {
	defer f.mu.Unlock()
	if err := f.lock(); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(f.table)) {
		if rows := f.table[name]; len(rows) > 0 {
			fn(rows)
		}
	}
	return nil
}

func (f *fakeSource) Size(context.Context) int { return 0 }

func (f *fakeSource) Close() {}

var errFake = errors.New("fake: connection refused")
