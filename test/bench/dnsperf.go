package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// result is one dnsperf run against one system.
type result struct {
	qps, lost, latency float64 // queries/s, lost queries, mean latency in ms
	questions          float64 // MySQL Questions per second during the run
	rss                float64 // server RSS in MiB after the run
}

var (
	reQPS     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reLost    = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	reLatency = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// load runs dnsperf pinned to CPU 1 against r for opt.seconds with queries.
func load(ctx context.Context, opt options, db *sql.DB, r *running, queries string, extra ...string) (result, error) {
	q0, err := questions(ctx, db)
	if err != nil {
		return result{}, err
	}
	began := time.Now()
	args := append([]string{"-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(r.port),
		"-d", queries, "-l", strconv.Itoa(opt.seconds), "-q", "500", "-t", "2"}, extra...)
	out, err := exec.CommandContext(ctx, "taskset", args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("dnsperf: %v\n%s", err, out)
	}
	elapsed := time.Since(began).Seconds()
	q1, err := questions(ctx, db)
	if err != nil {
		return result{}, err
	}
	res := result{questions: (q1 - q0 - 1) / elapsed, rss: r.rss()} // less our own SHOW STATUS
	for re, dst := range map[*regexp.Regexp]*float64{reQPS: &res.qps, reLost: &res.lost, reLatency: &res.latency} {
		m := re.FindSubmatch(out)
		if m == nil {
			return result{}, fmt.Errorf("dnsperf output lacks %s:\n%s", re, out)
		}
		*dst, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	res.latency *= 1000
	return res, nil
}

// questions is the server's global count of statements from clients.
func questions(ctx context.Context, db *sql.DB) (float64, error) {
	var k string
	var v float64
	err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&k, &v)
	return v, err
}
