package main

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// propagation starts dbrecords and measures commit → first correct answer for
// inserts, updates and deletes, then dnsperf's view of the query path while
// 1,000 rows change per second.
func propagation(ctx context.Context, opt options, d *dataset) (string, error) {
	r, err := start(opt, d, systems(d)[0])
	if err != nil {
		return "", err
	}
	defer r.stop()
	burst, err := underBurst(ctx, opt, d, r)
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(r.port)
	lat := map[string][]time.Duration{}
	for k := range 15 {
		name := fmt.Sprintf("probe-%d.%s", k, zone)
		for _, op := range []struct{ kind, sql, want string }{
			{"insert", "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", "192.0.2.1"},
			{"update", "UPDATE dns_records SET content = '192.0.2.2' WHERE name = ?", "192.0.2.2"},
			{"delete", "DELETE FROM dns_records WHERE name = ?", ""},
		} {
			time.Sleep(time.Duration(rand.Intn(1000)) * time.Millisecond)
			if _, err := d.db.ExecContext(ctx, op.sql, name); err != nil {
				return "", err
			}
			committed := time.Now()
			for answer(addr, name+".") != op.want {
				if time.Since(committed) > 30*time.Second {
					return "", fmt.Errorf("%s of %s not answered within 30 s", op.kind, name)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat[op.kind] = append(lat[op.kind], time.Since(committed))
		}
	}
	var out strings.Builder
	out.WriteString("| propagation (commit → first correct answer, refresh 1s) | p50 | p99 |\n|---|---|---|\n")
	for _, kind := range []string{"insert", "update", "delete"} {
		l := lat[kind]
		slices.Sort(l)
		fmt.Fprintf(&out, "| %s (%d samples) | %s | %s |\n", kind, len(l), l[len(l)/2].Round(time.Millisecond), l[min(len(l)-1, len(l)*99/100)].Round(time.Millisecond))
	}
	return out.String() + "\n" + burst, nil
}

// underBurst runs the hits mix against r idle and while ten 100-row UPDATEs a
// second change 1,000 rows a second.
func underBurst(ctx context.Context, opt options, d *dataset, r *running) (string, error) {
	idle, err := load(ctx, opt, d.db, r, d.queries["hits"])
	if err != nil {
		return "", err
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			from := rand.Intn(max(1, d.n-100))
			if _, err := d.db.ExecContext(ctx, "UPDATE dns_records SET content = CONCAT('10.200.', id % 256, '.', ?) WHERE id BETWEEN ? AND ?", i%256, from, from+99); err != nil {
				done <- err
				return
			}
		}
	}()
	busy, err := load(ctx, opt, d.db, r, d.queries["hits"])
	close(stop)
	if werr := <-done; err == nil {
		err = werr
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("| dbrecords, hits mix | qps | mean latency ms |\n|---|---|---|\n| idle | %.0f | %.2f |\n| while 1,000 rows change per second | %.0f | %.2f |\n",
		idle.qps, idle.latency, busy.qps, busy.latency), nil
}

// answer is the first A address served for name, or "" for none.
func answer(addr, name string) string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	resp, err := dns.Exchange(m, addr)
	if err != nil || len(resp.Answer) == 0 {
		return ""
	}
	if a, ok := resp.Answer[0].(*dns.A); ok {
		return a.A.String()
	}
	return ""
}
