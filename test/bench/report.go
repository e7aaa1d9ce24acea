package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

var mixes = []string{"hits", "flood", "nodata", "mixed"}

// measurements of one system over all rounds.
type measurements struct {
	runs     map[string][]result // mix → one result per round
	readyIn  []time.Duration
	rssReady []float64 // MiB right after start
}

// benchSize runs every system on n names and returns the report section.
func benchSize(opt options, n int) (string, error) {
	ctx := context.Background()
	d, err := prepare(ctx, opt, n)
	if err != nil {
		return "", err
	}
	defer d.close()
	switch os.Getenv("BENCH_ONLY") {
	case "dnssec":
		sec, err := dnssecBench(ctx, opt, d)
		return fmt.Sprintf("## %d names\n\n%s", n, sec), err
	case "restarts":
		sec, err := restarts(opt, d)
		return fmt.Sprintf("## %d names\n\n%s", n, sec), err
	}
	sys := systems(d)
	m, err := rounds(ctx, opt, d, sys)
	if err != nil {
		return "", err
	}
	prop, err := propagation(ctx, opt, d)
	if err != nil {
		return "", err
	}
	xfr, err := transfers(ctx, opt, d)
	if err != nil {
		return "", err
	}
	sec, err := dnssecBench(ctx, opt, d)
	if err != nil {
		return "", err
	}
	rst, err := restarts(opt, d)
	if err != nil {
		return "", err
	}
	return render(n, sys, m, prop+"\n"+xfr+"\n"+sec+"\n"+rst), nil
}

// rounds runs every system of sys on d in alternating rounds, each mix
// with dnsperf (and dnsperf's extra arguments), and returns what it measured.
func rounds(ctx context.Context, opt options, d *dataset, sys []system, extra ...string) (map[string]*measurements, error) {
	m := map[string]*measurements{}
	for _, s := range sys {
		m[s.name] = &measurements{runs: map[string][]result{}}
	}
	for round := range opt.rounds {
		for _, s := range sys {
			r, err := start(opt, d, s)
			if err != nil {
				return nil, err
			}
			ms := m[s.name]
			ms.readyIn = append(ms.readyIn, r.readyIn)
			ms.rssReady = append(ms.rssReady, r.rss())
			for _, mix := range mixes {
				res, err := load(ctx, opt, d.db, r, d.queries[mix], extra...)
				if err != nil {
					r.stop()
					return nil, fmt.Errorf("%s %s: %w", s.name, mix, err)
				}
				ms.runs[mix] = append(ms.runs[mix], res)
				fmt.Fprintf(os.Stderr, "bench: n=%d round %d %-20s %-6s %8.0f qps, %5.0f lost, %6.2f ms, %6.1f MySQL q/s, RSS %.0f MiB %s\n",
					d.n, round+1, s.name, mix, res.qps, res.lost, res.latency, res.questions, res.rss, strings.Join(extra, " "))
			}
			r.stop()
		}
	}
	return m, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func spread(v []float64, format string) string {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf(format+" (%s–%s)", s[len(s)/2], fmt.Sprintf(format, s[0]), fmt.Sprintf(format, s[len(s)-1]))
}

func field(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func durations(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = x.Seconds()
	}
	return out
}

func render(n int, sys []system, m map[string]*measurements, prop string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %d names\n\n", n)
	fmt.Fprintf(&b, "| system | mix | qps | lost | mean latency ms | MySQL queries/s | RSS MiB after run |\n|---|---|---|---|---|---|---|\n")
	for _, mix := range mixes {
		for _, s := range sys {
			rs := m[s.name].runs[mix]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", s.name, mix,
				spread(field(rs, func(r result) float64 { return r.qps }), "%.0f"),
				spread(field(rs, func(r result) float64 { return r.lost }), "%.0f"),
				spread(field(rs, func(r result) float64 { return r.latency }), "%.2f"),
				spread(field(rs, func(r result) float64 { return r.questions }), "%.1f"),
				spread(field(rs, func(r result) float64 { return r.rss }), "%.0f"))
		}
	}
	fmt.Fprintf(&b, "\nRatios of median qps:\n\n| mix | dbrecords/whoami | dbrecords+cache/whoami | dbrecords/file | dbrecords/pdns |\n|---|---|---|---|---|\n")
	qps := func(name, mix string) float64 {
		if m[name] == nil {
			return 0
		}
		return median(field(m[name].runs[mix], func(r result) float64 { return r.qps }))
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	for _, mix := range mixes {
		db := qps("dbrecords", mix)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mix, ratio(db, qps("whoami", mix)), ratio(qps("dbrecords+cache", mix), qps("whoami", mix)),
			ratio(db, qps("file", mix)), ratio(db, qps("pdns-gmysql", mix)))
	}
	fmt.Fprintf(&b, "\n| system | start to ready s | RSS MiB after load |\n|---|---|---|\n")
	for _, s := range sys {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s.name, spread(durations(m[s.name].readyIn), "%.2f"), spread(m[s.name].rssReady, "%.0f"))
	}
	b.WriteString("\n" + prop + "\n")
	return b.String()
}
