package dbrecords

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
)

// testLoader is a loader over src serving example.org and example.net, with a
// clock the test moves.
type testLoader struct {
	*loader
	clock time.Time
}

func newTestLoader(src source.Source) *testLoader {
	tl := &testLoader{clock: t0}
	tl.loader = &loader{
		src:     src,
		zones:   records.NewZoneSet([]string{"example.org.", "example.net."}, nil),
		ttl:     60,
		refresh: time.Second,
		table:   "dns_records",
		label:   "test",
		publish: func(*store.Snapshot) {},
		now:     func() time.Time { return tl.clock },
	}
	return tl
}

// loaded returns a fake source and a loader that has loaded it.
func loaded(t *testing.T) (*fakeSource, *testLoader) {
	t.Helper()
	src := newFakeSource()
	tl := newTestLoader(src)
	tl.load(t)
	return src, tl
}

// load does the first full read; reread another (a pending reason stays);
// step advances the clock a second and polls.
func (tl *testLoader) load(t *testing.T) { tl.reread(t, reasonStartup) }

func (tl *testLoader) reread(t *testing.T, reason string) {
	t.Helper()
	tl.requestFull(reason)
	if err := tl.full(context.Background()); err != nil {
		t.Fatalf("Expected the full read (%s) to succeed, got %v", reason, err)
	}
}

func (tl *testLoader) step(t *testing.T) {
	t.Helper()
	tl.clock = tl.clock.Add(time.Second)
	if _, err := tl.poll(context.Background()); err != nil {
		t.Fatalf("Expected the poll to succeed, got %v", err)
	}
}

// answer returns the sorted addresses served for name, or "NXDOMAIN".
func (tl *testLoader) answer(name string) string {
	e, ok := tl.cur.Get(name + ".")
	if !ok {
		return "NXDOMAIN"
	}
	var ips []string
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		for _, rr := range e.RRs(name+".", qt) {
			ips = append(ips, strings.Fields(rr.String())[4])
		}
	}
	sort.Strings(ips)
	return strings.Join(ips, ",")
}

func (tl *testLoader) serial(zi int) uint32 { return tl.cur.Zones[zi].Serial }

// holdOpen writes name in a transaction left open, then commits later in a
// transaction of its own: a gap below a committed number.
func holdOpen(src *fakeSource, name, later string) *fakeTx {
	tx := src.begin(1)
	tx.write(name, "192.0.2.1")
	src.commitOne(later, "192.0.2.2")
	return tx
}

// TestBigTransactionCommittingLast: 12,000 names in one transaction that
// commits after a later writer; every one of them is served.
func TestBigTransactionCommittingLast(t *testing.T) {
	src, tl := loaded(t)
	big := src.begin(1)
	for i := range 12000 {
		big.write(fmt.Sprintf("big-%d.example.org", i), "192.0.2.1")
	}
	src.commitOne("fast.example.org", "192.0.2.2")
	tl.step(t)
	if got := tl.answer("fast.example.org"); got != "192.0.2.2" {
		t.Fatalf("Expected the later commit served, got %s", got)
	}
	if n, _ := tl.track.Waiting(); n != 12000 {
		t.Fatalf("Expected 12000 numbers waiting for the big transaction, got %d", n)
	}
	if s := tl.serial(0); s != 0 {
		t.Fatalf("Expected the serial to wait for the open transaction, got %d", s)
	}
	big.commit()
	tl.step(t)
	for i := range 12000 {
		if got := tl.answer(fmt.Sprintf("big-%d.example.org", i)); got != "192.0.2.1" {
			t.Fatalf("Expected big-%d served, got %s", i, got)
		}
	}
	if s := tl.serial(0); s != 12001 {
		t.Errorf("Expected serial 12001 (the last change), got %d", s)
	}
}

// TestFreshInstallFirstNumberOpen: the first number of an empty log is held
// by an open transaction while the second commits; nothing is taken for a
// pruned log, and the first transaction's change arrives.
func TestFreshInstallFirstNumberOpen(t *testing.T) {
	src := newFakeSource()
	first := src.begin(1)
	first.write("first.example.org", "192.0.2.1")
	src.commitOne("second.example.org", "192.0.2.2")
	tl := newTestLoader(src)
	tl.load(t)
	tl.step(t)
	if tl.pendingFull != "" {
		t.Fatalf("Expected no full read, got one for %q", tl.pendingFull)
	}
	first.commit()
	tl.step(t)
	if got := tl.answer("first.example.org"); got != "192.0.2.1" {
		t.Errorf("Expected the first transaction served, got %s", got)
	}
	if s := tl.serial(0); s != 2 {
		t.Errorf("Expected serial 2, got %d", s)
	}
}

// TestRolledBackGapDies: a rollback leaves a gap that the proof ends within
// two polls, so the serial moves on.
func TestRolledBackGapDies(t *testing.T) {
	src, tl := loaded(t)
	holdOpen(src, "never.example.org", "after.example.org").rollback()
	tl.step(t)
	tl.step(t)
	if n, _ := tl.track.Waiting(); n != 0 {
		t.Fatalf("Expected the rolled-back number proven dead, got %d waiting", n)
	}
	if s := tl.serial(0); s != 2 {
		t.Errorf("Expected serial 2, got %d", s)
	}
	if got := tl.answer("never.example.org"); got != "NXDOMAIN" {
		t.Errorf("Expected the rolled-back row absent, got %s", got)
	}
}

// TestLongTransactionWithProof: a transaction open past gapTimeout stops
// holding the serial back, is still watched, and its change arrives.
func TestLongTransactionWithProof(t *testing.T) {
	src, tl := loaded(t)
	long := holdOpen(src, "long.example.org", "quick.example.org")
	tl.step(t)
	tl.clock = tl.clock.Add(source.GapTimeout)
	tl.step(t)
	if s := tl.serial(0); s != 2 {
		t.Fatalf("Expected the serial to stop waiting after the gap timeout, got %d", s)
	}
	long.commit()
	tl.step(t)
	if got := tl.answer("long.example.org"); got != "192.0.2.1" {
		t.Fatalf("Expected the long transaction served, got %s", got)
	}
	if s := tl.serial(0); s != 3 {
		t.Errorf("Expected the late change to raise the serial to 3, got %d", s)
	}
	if tl.pendingFull != "" {
		t.Errorf("Expected no full read with proof, got one for %q", tl.pendingFull)
	}
}

// TestUnprovableGap: without proof (no PROCESS privilege, a replica) a gap
// stops holding the serial after gapTimeout, is still watched, so a late
// commit arrives, and is given up to a full read after gapGiveUp.
func TestUnprovableGap(t *testing.T) {
	src := newFakeSource()
	src.noProof = true
	tl := newTestLoader(src)
	tl.load(t)
	long := holdOpen(src, "long.example.org", "quick.example.org")
	tl.step(t)
	tl.clock = tl.clock.Add(source.GapTimeout)
	tl.step(t)
	if tl.pendingFull != "" || tl.serial(0) != 2 {
		t.Fatalf("Expected the gap watched without holding the serial, got full read %q and serial %d", tl.pendingFull, tl.serial(0))
	}
	long.commit()
	tl.step(t)
	if got := tl.answer("long.example.org"); got != "192.0.2.1" {
		t.Fatalf("Expected the late commit served, got %s", got)
	}
	holdOpen(src, "other.example.org", "quick2.example.org")
	tl.step(t)
	tl.clock = tl.clock.Add(source.GapGiveUp)
	tl.step(t)
	if tl.pendingFull != reasonGap {
		t.Errorf("Expected a full read for reason %q after %s, got %q", reasonGap, source.GapGiveUp, tl.pendingFull)
	}
}

// TestSeriesOfGaleraNodes: three series (auto_increment_increment 3) advance
// at different rates and commit out of order; everything arrives, the gaps
// close, and every replica computes the same serial.
func TestSeriesOfGaleraNodes(t *testing.T) {
	src := newFakeSource()
	src.inc = 3
	a, b := newTestLoader(src), newTestLoader(src)
	a.load(t)
	var open []*fakeTx
	for i := range 30 {
		tx := src.begin(uint64(1 + i%3))
		tx.write(fmt.Sprintf("n%d.example.org", i), fmt.Sprintf("192.0.2.%d", i))
		if i%4 == 0 {
			open = append(open, tx)
		} else {
			tx.commit()
		}
		if i%7 == 0 {
			a.step(t)
		}
	}
	b.load(t)
	for _, tx := range open {
		tx.commit()
		a.step(t)
	}
	a.step(t)
	b.step(t)
	b.step(t)
	for i := range 30 {
		name := fmt.Sprintf("n%d.example.org", i)
		if ga, gb := a.answer(name), b.answer(name); ga != fmt.Sprintf("192.0.2.%d", i) || gb != ga {
			t.Fatalf("Expected both replicas to serve %s as 192.0.2.%d, got %s and %s", name, i, ga, gb)
		}
	}
	if n, _ := a.track.Waiting(); n != 0 {
		t.Errorf("Expected no gap left, got %d numbers", n)
	}
	if a.serial(0) != b.serial(0) || a.serial(0) == 0 {
		t.Errorf("Expected equal non-zero serials, got %d and %d", a.serial(0), b.serial(0))
	}
}

// TestLaggingSeriesFrontier: a node that lags behind takes a number below
// entries already read, after the poll that first checked the gap; the
// frontier keeps that part of the gap alive until the node has passed it.
func TestLaggingSeriesFrontier(t *testing.T) {
	src, tl := loaded(t)
	src.commitOne("a.example.org", "192.0.2.1") // 1
	tx := src.begin(1)
	tx.writeAt(5, "b.example.org", "192.0.2.2")
	tx.commit()
	src.frontier = 2 // the lagging node would still take 2 and up
	tl.step(t)
	tl.step(t)
	lag := src.begin(2)
	lag.writeAt(3, "late.example.org", "192.0.2.3")
	tl.step(t)
	src.frontier = 6
	tl.step(t)
	tl.step(t)
	lag.commit()
	tl.step(t)
	if got := tl.answer("late.example.org"); got != "192.0.2.3" {
		t.Fatalf("Expected the lagging node's change served, got %s", got)
	}
	tl.step(t)
	if n, _ := tl.track.Waiting(); n != 0 || tl.serial(0) != 5 {
		t.Errorf("Expected no gap and serial 5, got %d waiting and serial %d", n, tl.serial(0))
	}
}

// TestSerialsAgree: replicas that read the same log in different batches,
// and one that starts later, report the same serials; a zone that did not
// change keeps its serial; a full re-read changes nothing.
func TestSerialsAgree(t *testing.T) {
	src, a := loaded(t)
	src.commitOne("x.example.net", "192.0.2.1")
	a.step(t)
	for i := range 5 {
		src.commitOne(fmt.Sprintf("n%d.example.org", i), "192.0.2.2")
		if i%2 == 0 {
			a.step(t)
		}
	}
	a.step(t)
	b := newTestLoader(src)
	b.load(t)
	if a.serial(0) != b.serial(0) || a.serial(1) != b.serial(1) {
		t.Fatalf("Expected equal serials, got %d/%d and %d/%d", a.serial(0), a.serial(1), b.serial(0), b.serial(1))
	}
	if a.serial(1) != 1 || a.serial(0) != 6 {
		t.Fatalf("Expected serials org 6 and net 1, got %d and %d", a.serial(0), a.serial(1))
	}
	before := a.serial(0)
	a.reread(t, reasonReconcile)
	a.step(t)
	if a.serial(0) != before {
		t.Errorf("Expected a re-read to keep serial %d, got %d", before, a.serial(0))
	}
}

// TestPrunedPastReplica: entries the replica never read were pruned; it asks
// for a full read, once.
func TestPrunedPastReplica(t *testing.T) {
	src, tl := loaded(t)
	src.commitOne("a.example.org", "192.0.2.1")
	src.commitOne("b.example.org", "192.0.2.2")
	src.prune(3)
	tl.clock = tl.clock.Add(time.Second)
	if _, err := tl.poll(context.Background()); !errors.Is(err, errLogPruned) {
		t.Fatalf("Expected errLogPruned, got %v", err)
	}
	tl.after(errLogPruned, 0, false)
	if tl.pendingFull != reasonPruned {
		t.Fatalf("Expected a full read for %q, got %q", reasonPruned, tl.pendingFull)
	}
	tl.reread(t, reasonPruned)
	tl.step(t)
	if tl.answer("a.example.org") != "192.0.2.1" || tl.pendingFull != "" {
		t.Errorf("Expected the re-read to serve a and ask for nothing more, got %s and %q", tl.answer("a.example.org"), tl.pendingFull)
	}
}

// TestFailedPollLosesNothing: a poll that fails half way changes nothing,
// and the next one applies everything.
func TestFailedPollLosesNothing(t *testing.T) {
	src, tl := loaded(t)
	src.commitOne("a.example.org", "192.0.2.1")
	src.setFail(errFake)
	if _, err := tl.poll(context.Background()); err == nil {
		t.Fatal("Expected the poll to fail")
	}
	if tl.track.Cursor != 0 || tl.answer("a.example.org") != "NXDOMAIN" {
		t.Fatalf("Expected nothing to move, got cursor %d", tl.track.Cursor)
	}
	src.setFail(nil)
	tl.step(t)
	if got := tl.answer("a.example.org"); got != "192.0.2.1" {
		t.Errorf("Expected the change after recovery, got %s", got)
	}
}

func TestBackoff(t *testing.T) {
	tl := newTestLoader(newFakeSource())
	tl.refresh = 100 * time.Millisecond
	waits := make([]time.Duration, 5)
	failures := 0
	for i := range waits {
		failures, waits[i] = tl.after(errFake, failures, false)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, maxBackoff}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("Expected backoff %v, got %v", want, waits)
		}
	}
	if f, w := tl.after(nil, failures, false); f != 0 || w != tl.refresh {
		t.Errorf("Expected a success to reset to the refresh, got %d failures and %v", f, w)
	}
}

// TestBacklogNewestFirst: behind a backlog of 25,000 entries (a large
// transaction), the newest change is served after one poll; the rest
// follows in the next ones, and nothing is left waiting.
func TestBacklogNewestFirst(t *testing.T) {
	src, tl := loaded(t)
	bulk := src.begin(1)
	for i := range 25000 {
		bulk.write(fmt.Sprintf("bulk-%d.example.org", i), "192.0.2.1")
	}
	bulk.commit()
	src.commitOne("recent.example.org", "192.0.2.2")
	tl.step(t)
	if got := tl.answer("recent.example.org"); got != "192.0.2.2" {
		t.Fatalf("Expected the newest change after one poll, got %s", got)
	}
	if n, _ := tl.track.Waiting(); n == 0 {
		t.Fatalf("Expected the middle of the backlog to wait as a gap, got none")
	}
	for range 3 {
		tl.step(t)
	}
	for _, i := range []int{0, 9999, 12345, 24999} {
		if got := tl.answer(fmt.Sprintf("bulk-%d.example.org", i)); got != "192.0.2.1" {
			t.Errorf("Expected bulk-%d served, got %s", i, got)
		}
	}
	if n, _ := tl.track.Waiting(); n != 0 || tl.serial(0) != 25001 {
		t.Errorf("Expected no gap and serial 25001, got %d waiting and serial %d", n, tl.serial(0))
	}
}

// TestReloadKeysAndTTL: a reload that changes the keys and the ttl publishes
// one snapshot, with a new serial, the new TTL and the new signatures: never
// new data under an old serial, nor two contents under one serial.
func TestReloadKeysAndTTL(t *testing.T) {
	src, tl := loaded(t)
	src.commitOne("a.example.org", "192.0.2.1")
	tl.step(t)
	before := tl.serial(0)
	var pubs []*store.Snapshot
	tl.publish = func(s *store.Snapshot) { pubs = append(pubs, s) }
	k := testKey(t, t.TempDir(), dns.ED25519, 257)
	signers := []*dnssec.Signer{dnssec.New([]*dnssec.Key{k}, 30), nil}
	tl.update(settings{ttl: 120, refresh: time.Second, keys: "k", signers: signers})
	tl.takeSigners()
	if err := tl.full(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 {
		t.Fatalf("Expected one snapshot published, got %d", len(pubs))
	}
	e, _ := pubs[0].Get("a.example.org.")
	if rrs := e.RRs("a.example.org.", dns.TypeA); len(rrs) != 1 || rrs[0].Header().Ttl != 120 || e.Sigs == "" || !serialLess(before, pubs[0].Zones[0].Serial) {
		t.Errorf("Expected a new serial, TTL 120 and signatures, got serial %d (was %d), %v, signed %v", pubs[0].Zones[0].Serial, before, rrs, e.Sigs != "")
	}
}

// TestStartBehindOldTransaction: a replica that starts while a write
// transaction taken minutes ago is still open treats the gap as the running
// replicas do, expired: its serials do not wait, it keeps no backlog of
// pending changes, and the gap is still watched, so the late commit is
// applied. A gap as young as the log's last entries still holds the serial.
func TestStartBehindOldTransaction(t *testing.T) {
	for _, tc := range []struct {
		age  time.Duration
		held bool
	}{{2 * time.Minute, false}, {time.Second, true}} {
		src := newFakeSource()
		src.dbNow = t0
		tx := holdOpen(src, "held.example.org", "first.example.org")
		var top uint64
		for i := range 3000 {
			top = src.commitOne(fmt.Sprintf("n%d.example.org", i), "192.0.2.7")
		}
		src.age(tc.age)
		tl := newTestLoader(src)
		tl.load(t)
		tl.step(t) // the first poll settles the gaps on this replica's own clock
		if held := tl.serial(0) != uint32(top); held != tc.held || held != (len(tl.loader.serial.pending) > 0) {
			t.Fatalf("age %s: expected the serial held %v (pending changes with it), got serial %d (top %d), %d pending", tc.age, tc.held, tl.serial(0), top, len(tl.loader.serial.pending))
		}
		if n, _ := tl.track.Waiting(); n == 0 {
			t.Fatalf("age %s: expected the open transaction's gap still watched", tc.age)
		}
		tx.commit()
		tl.step(t)
		if got := tl.answer("held.example.org"); got != "192.0.2.1" {
			t.Errorf("age %s: expected the late commit served, got %s", tc.age, got)
		}
	}
}

// TestStartBehindOldTransactionWithoutProof: without the proof, a gap under
// entries written hours ago is expired from the start but not given up: it
// is watched for GapGiveUp on this replica's clock, so the commit that
// fills it is applied, not left to the next reconcile.
func TestStartBehindOldTransactionWithoutProof(t *testing.T) {
	src := newFakeSource()
	src.noProof = true
	src.dbNow = t0
	tx := holdOpen(src, "held.example.org", "first.example.org")
	src.commitOne("after.example.org", "192.0.2.7")
	src.age(2 * time.Hour)
	tl := newTestLoader(src)
	tl.load(t)
	tl.step(t)
	tx.commit()
	tl.step(t)
	if got := tl.answer("held.example.org"); got != "192.0.2.1" {
		t.Errorf("Expected the late commit served, got %s", got)
	}
	if tl.pendingFull != "" {
		t.Errorf("Expected no full read for a gap watched on this replica's clock, got one for %q", tl.pendingFull)
	}
}

// TestBacklogLargerThanAPoll: a backlog whose middle (the gap the newest
// entries leave) holds more entries than one poll reads of the gaps: the
// part not read yet is never taken for dead, however quiet the writers are,
// and every entry arrives.
func TestBacklogLargerThanAPoll(t *testing.T) {
	old := maxChangesSync
	maxChangesSync = 5000 // the backlog's middle (two batches) is more than a poll reads
	defer func() { maxChangesSync = old }()
	src, tl := loaded(t)
	bulk := src.begin(1)
	n := 3 * source.ChangeBatch
	for i := range n {
		bulk.write(fmt.Sprintf("bulk-%d.example.org", i), "192.0.2.1")
	}
	bulk.commit()
	src.commitOne("recent.example.org", "192.0.2.2")
	for range 8 {
		tl.step(t)
	}
	for _, i := range []int{0, 4999, 5001, 12000, 19999, n - 1} {
		if got := tl.answer(fmt.Sprintf("bulk-%d.example.org", i)); got != "192.0.2.1" {
			t.Errorf("Expected bulk-%d of %d served, got %s", i, n, got)
		}
	}
	if w, _ := tl.track.Waiting(); w != 0 {
		t.Errorf("Expected no gap left, got %d numbers waiting", w)
	}
}

// TestRereadNameByName: a re-read compares the table with the served
// snapshot a name at a time and publishes what differs, under one serial:
// a name changed, one gone and one new behind the change log's back, one
// whose rows come apart (two spellings), one past MaxRecords; a second
// re-read finds nothing and changes nothing.
func TestRereadNameByName(t *testing.T) {
	src, tl := loaded(t)
	big := make([]string, records.MaxRecords+1)
	for i := range big {
		big[i] = fmt.Sprintf("198.18.%d.%d", i>>8, i&255)
	}
	src.commitOne("a.example.org", "192.0.2.1")
	src.commitOne("b.example.org", "192.0.2.2")
	src.commitOne("c.example.org", "192.0.2.3")
	src.commitOne("big.example.org", big...)
	tl.step(t)
	serial := tl.serial(0)
	src.mu.Lock()
	row := func(name, addr string) records.Row {
		return records.Row{Name: name, Type: "A", Content: addr, TTLNull: true}
	}
	src.table["b.example.org"] = []records.Row{row("b.example.org", "192.0.2.20")}
	delete(src.table, "c.example.org")
	src.table["App-D.example.org"] = []records.Row{row("App-D.example.org", "192.0.2.4")}
	src.table["app-d.example.org."] = []records.Row{row("app-d.example.org.", "192.0.2.5")}
	// A new delegation whose DS (alone: not served) and NS rows are spelled apart.
	src.table["e.example.org"] = []records.Row{{Name: "e.example.org", Type: "DS", Content: "12345 13 2 " + strings.Repeat("ab", 32), TTLNull: true}}
	src.table["e.example.org."] = []records.Row{{Name: "e.example.org.", Type: "NS", Content: "ns.example.net.", TTLNull: true}}
	src.mu.Unlock()
	tl.reread(t, reasonReconcile)
	for name, want := range map[string]string{
		"a.example.org": "192.0.2.1", "b.example.org": "192.0.2.20", "c.example.org": "NXDOMAIN", "app-d.example.org": "192.0.2.4,192.0.2.5",
	} {
		if got := tl.answer(name); got != want {
			t.Errorf("Expected %s to be %s after the re-read, got %s", name, want, got)
		}
	}
	if e, _ := tl.cur.Get("e.example.org."); !e.Has(dns.TypeNS) || !e.Has(dns.TypeDS) {
		t.Errorf("Expected the delegation e.example.org with its NS and its DS, got %v", e.Records())
	}
	if e, _ := tl.cur.Get("big.example.org."); e.Count() != records.MaxRecords {
		t.Errorf("Expected big.example.org to keep its first %d records, got %d", records.MaxRecords, e.Count())
	}
	if got := tl.serial(0); got != serial+1 {
		t.Errorf("Expected the re-read's changes under one serial, %d, got %d", serial+1, got)
	}
	tl.reread(t, reasonReconcile)
	if got := tl.serial(0); got != serial+1 {
		t.Errorf("Expected a re-read that finds nothing new to keep serial %d, got %d", serial+1, got)
	}
}
