//go:build topologies

package test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"
)

// The runs of `make test-topologies`: real multi-server MySQL topologies,
// writers with every statement shape SPEC.md names, two replicas, exact
// convergence and freshness. Figures go to the test log (-v).

const topologyWriteTime = 20 * time.Second

// newGalera starts an n-node Galera cluster on 127.0.0.1. Joiners receive
// the state by rsync SST, whose daemon runs as nobody: their data
// directories are given to nobody.
func newGalera(t *testing.T, n int) []*privateMariaDB {
	t.Helper()
	if _, err := os.Stat("/usr/lib/galera/libgalera_smm.so"); err != nil {
		t.Fatalf("Expected Galera (Debian package galera-4, which make test-topologies installs), got %v", err)
	}
	nodes := make([]*privateMariaDB, n)
	gcomm := make([]int, n)
	for i := range nodes {
		nodes[i] = installMariaDB(t)
		gcomm[i] = freePort(t)
	}
	for i, m := range nodes {
		m.args = []string{
			"--binlog-format=ROW", "--innodb-autoinc-lock-mode=2", "--wsrep-on=ON",
			"--wsrep-provider=/usr/lib/galera/libgalera_smm.so", "--wsrep-cluster-name=dbrecords",
			fmt.Sprintf("--wsrep-node-name=node%d", i+1),
			fmt.Sprintf("--wsrep-node-address=127.0.0.1:%d", gcomm[i]),
			fmt.Sprintf("--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d", gcomm[i], freePort(t)),
			"--wsrep-sst-method=rsync", fmt.Sprintf("--wsrep-sst-receive-address=127.0.0.1:%d", freePort(t)),
			fmt.Sprintf("--wsrep-node-incoming-address=127.0.0.1:%d", m.port),
		}
		if i == 0 {
			m.args = append(m.args, "--wsrep-cluster-address=gcomm://", "--wsrep-new-cluster")
		} else {
			m.args = append(m.args, fmt.Sprintf("--wsrep-cluster-address=gcomm://127.0.0.1:%d", gcomm[0]))
			for _, dir := range []string{filepath.Dir(m.dir), m.dir} {
				os.Chmod(dir, 0o755)
			}
			runCmd(t, "chown", "-R", "nobody:nogroup", m.data())
		}
		m.start(t)
	}
	return nodes
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("Expected %s %v to succeed, got %v:\n%s", name, args, err, out)
	}
}

// openDB opens database name on m, after waiting for it to exist there.
func openDB(t *testing.T, m *privateMariaDB, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", m.dsn(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	waitFor(t, 30*time.Second, "database "+name+" on port "+fmt.Sprint(m.port), func() bool {
		var n int
		return db.QueryRow("SELECT COUNT(*) FROM dns_records_prune").Scan(&n) == nil
	})
	return db
}

// createSchema creates database name with schema.sql on m.
func createSchema(t *testing.T, m *privateMariaDB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, _, err := dbsetup.Create(ctx, m.dsn(""), name)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// topologyRun is one run: writers on writeDBs, probes committed through
// them, and replicas that must follow.
type topologyRun struct {
	writeDBs []*sql.DB
	replicas []*server
	names    int
	proof    bool // the replicas can prove gaps dead (their gaps must all close)
}

// exercise runs the writers (one of them holding transactions open for
// seconds) and a freshness probe for topologyWriteTime, and returns the
// probe delays (commit to answered on every replica).
func (tr topologyRun) exercise(t *testing.T) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), topologyWriteTime)
	defer cancel()
	var wg sync.WaitGroup
	for w := range max(4, 2*len(tr.writeDBs)) {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(w)))
			db := tr.writeDBs[w%len(tr.writeDBs)]
			for ctx.Err() == nil {
				hold := time.Duration(0)
				if w == 0 {
					hold = 3 * time.Second
				}
				write(ctx, db, r, tr.names, hold)
			}
		})
	}
	var delays []time.Duration
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("probe-%d.example.org", i)
		if _, err := tr.writeDBs[i%len(tr.writeDBs)].Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", name); err != nil {
			continue
		}
		committed := time.Now()
		for _, s := range tr.replicas {
			waitFor(t, 30*time.Second, name+" on "+s.dns, func() bool { return answerA(t, s, name+".") == "192.0.2.1" })
		}
		delays = append(delays, time.Since(committed))
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	return delays
}

// check waits until every replica serves exactly what db (synced with the
// writers) holds for every name ever written, and logs the figures.
func (tr topologyRun) check(t *testing.T, db *sql.DB, delays []time.Duration) {
	t.Helper()
	names := loggedNames(t, db)
	took := converge(t, tr.replicas, tableA(t, db, names), 60*time.Second)
	for _, s := range tr.replicas {
		if tr.proof {
			waitFor(t, 30*time.Second, "the gaps on "+s.dns+" to be proven dead", func() bool {
				return s.counter(t, "coredns_dbrecords_gap_numbers") == 0
			})
		}
	}
	slices.Sort(delays)
	pct := func(p float64) time.Duration { return delays[int(p*float64(len(delays)-1))] }
	var changes int
	db.QueryRow("SELECT COUNT(*) FROM dns_records_changes").Scan(&changes)
	t.Logf("%d change-log entries for %d names; the %d replicas equal the table %.1f s after the writers stopped", changes, len(names), len(tr.replicas), took.Seconds())
	t.Logf("Freshness over %d probes: p50 %.0f ms, p99 %.0f ms", len(delays), pct(0.5).Seconds()*1000, pct(0.99).Seconds()*1000)
	for _, s := range tr.replicas {
		var reads []string
		for _, l := range s.metricLines(t, "coredns_dbrecords_full_reads_total{") {
			reads = append(reads, strings.TrimPrefix(l, "coredns_dbrecords_full_reads_total"))
		}
		t.Logf("Replica %s: full reads %v, gaps expired %v, gap numbers now %v", s.dns, reads,
			s.counter(t, "coredns_dbrecords_gaps_expired_total"), s.counter(t, "coredns_dbrecords_gap_numbers"))
	}
}

// TestGalera: three Galera nodes, writers on all of them, one replica reading
// node 1 and another node 3.
func TestGalera(t *testing.T) {
	nodes := newGalera(t, 3)
	createSchema(t, nodes[0], "dbrecords_galera")
	dbs := make([]*sql.DB, len(nodes))
	for i, m := range nodes {
		dbs[i] = openDB(t, m, "dbrecords_galera")
	}
	// The nodes' addresses come from the cluster; without tls the replicas
	// dial only those the Corefile lists.
	var listed []string
	for _, m := range nodes {
		listed = append(listed, fmt.Sprintf("127.0.0.1:%d", m.port))
	}
	peers := "galera_nodes " + strings.Join(listed, " ")
	tr := topologyRun{writeDBs: dbs, names: 200, proof: true, replicas: []*server{
		start(t, nodes[0].dsn("dbrecords_galera"), peers), start(t, nodes[2].dsn("dbrecords_galera"), peers),
	}}
	delays := tr.exercise(t)
	if _, err := dbs[0].Exec("SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	dbs[0].SetMaxOpenConns(1) // the session setting must hold for the checks
	tr.check(t, dbs[0], delays)
}

// TestGaleraCompetingUpdates: two replicas, each reading and writing
// through its own Galera node, take competing DNS UPDATEs at the same
// moment. Galera does not replicate locks, so only a conflict on a written
// row (the update lock table) makes one of the two commits fail its
// certification; the loser runs again and fails its prerequisite.
func TestGaleraCompetingUpdates(t *testing.T) {
	nodes := newGalera(t, 3)
	createSchema(t, nodes[0], "dbrecords_galera")
	db := openDB(t, nodes[0], "dbrecords_galera")
	openDB(t, nodes[2], "dbrecords_galera")
	if _, err := db.Exec("SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	var listed []string
	for _, m := range nodes {
		listed = append(listed, fmt.Sprintf("127.0.0.1:%d", m.port))
	}
	peers := "galera_nodes " + strings.Join(listed, " ")
	a := startCorefile(t, strings.Replace(updateBlock(nodes[0].dsn("dbrecords_galera"), nodes[0].dsn("dbrecords_galera")), "refresh 1s", "refresh 1s\n\t\t"+peers, 1))
	b := startCorefile(t, strings.Replace(updateBlock(nodes[2].dsn("dbrecords_galera"), nodes[2].dsn("dbrecords_galera")), "refresh 1s", "refresh 1s\n\t\t"+peers, 1))
	a.waitReady(t)
	b.waitReady(t)
	competeUpdates(t, db, a, b, 30)
}

// TestAsyncReplica: writers on a primary, dbrecords reading an asynchronous
// replica (ROW binlog, CHANGE MASTER TO).
func TestAsyncReplica(t *testing.T) {
	primary := newPrivateMariaDB(t, "--server-id=1", "--log-bin=binlog", "--binlog-format=ROW")
	replica := newPrivateMariaDB(t, "--server-id=2", "--read-only=ON")
	rdb, err := sql.Open("mysql", replica.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, q := range []string{
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos", primary.port),
		"START SLAVE",
	} {
		if _, err := rdb.Exec(q); err != nil {
			t.Fatalf("Expected %q to succeed, got %v", q, err)
		}
	}
	createSchema(t, primary, "dbrecords_async")
	pdb := openDB(t, primary, "dbrecords_async")
	repl := openDB(t, replica, "dbrecords_async")
	tr := topologyRun{writeDBs: []*sql.DB{pdb}, names: 200, replicas: []*server{
		start(t, replica.dsn("dbrecords_async")), start(t, replica.dsn("dbrecords_async")),
	}}
	delays := tr.exercise(t)
	var pos string
	if err := pdb.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var waited int
	if err := repl.QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&waited); err != nil || waited != 0 {
		t.Fatalf("Expected the replica to catch up with the primary, got %d, %v", waited, err)
	}
	tr.check(t, repl, delays)
}
