// Command bench is `make bench`: it serves the same data from dbrecords (with
// and without cache), CoreDNS's file plugin, whoami and PowerDNS gmysql,
// loads each with dnsperf in alternating rounds (server on CPU 0, dnsperf on
// CPU 1), and writes a markdown report to bench/results/.
//
// Environment: QUICK=1 (10,000 names, short runs), BENCH_NAMES (comma-separated
// sizes, default 10000,1000000), BENCH_ROUNDS (default 3), BENCH_SECONDS (per
// run, default 5), BENCH_ONLY=dnssec (only the signed-versus-unsigned
// section), COREDNS_BINARY (default ./coredns), MYSQL_DSN.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type options struct {
	sizes   []int
	rounds  int
	seconds int
	binary  string
	out     string
	work    string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	opt, err := parseOptions()
	if err != nil {
		return err
	}
	defer os.RemoveAll(opt.work)
	var report strings.Builder
	fmt.Fprintf(&report, "# dbrecords benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&report, "Command: `make bench%s` on %s (%d CPUs, %s). Server pinned to CPU 0, dnsperf to CPU 1; "+
		"%d rounds of %d s per system and mix, systems alternating; medians with min–max.\n\n",
		map[bool]string{true: " QUICK=1", false: ""}[os.Getenv("QUICK") == "1"], cpuModel(), runtime.NumCPU(), kernel(), opt.rounds, opt.seconds)
	for _, n := range opt.sizes {
		fmt.Fprintf(os.Stderr, "bench: %d names\n", n)
		section, err := benchSize(opt, n)
		if err != nil {
			return err
		}
		report.WriteString(section)
	}
	if err := os.MkdirAll(opt.out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(opt.out, "bench-"+time.Now().UTC().Format("20060102-150405")+".md")
	if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(report.String())
	fmt.Fprintf(os.Stderr, "bench: report written to %s\n", path)
	return nil
}

func parseOptions() (options, error) {
	opt := options{sizes: []int{10000, 1000000}, rounds: 3, seconds: 5, binary: "./coredns", out: "bench/results"}
	if os.Getenv("QUICK") == "1" {
		opt.sizes, opt.seconds = []int{10000}, 2
	}
	if v := os.Getenv("BENCH_NAMES"); v != "" {
		opt.sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 100 {
				return opt, fmt.Errorf("BENCH_NAMES: want sizes of at least 100, got %q", f)
			}
			opt.sizes = append(opt.sizes, n)
		}
	}
	for env, dst := range map[string]*int{"BENCH_ROUNDS": &opt.rounds, "BENCH_SECONDS": &opt.seconds} {
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return opt, fmt.Errorf("%s: want a positive number, got %q", env, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("COREDNS_BINARY"); v != "" {
		opt.binary = v
	}
	var err error
	if opt.binary, err = filepath.Abs(opt.binary); err != nil {
		return opt, err
	}
	opt.work, err = os.MkdirTemp("", "dbrecords-bench")
	return opt, err
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}
