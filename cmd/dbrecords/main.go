// Command dbrecords is the admin tool shipped with the dbrecords server:
//
//	dbrecords schema apply [--table T] [--grant-to ACCOUNT]
//	dbrecords import [--table T] [--origin ZONE] [--zone Z]... [--allow-outside] [--format zone|csv] FILE
//	dbrecords export [--table T] [--zone ZONE]... [--default-ttl N] [--format zone|csv]
//	dbrecords check  [--table T] --zone ZONE... [--ttl N] [--sample N] [--axfr] [--service NAME] [HOST:PORT...]
//
// Every subcommand takes the DSN from --dsn-file FILE, or from the
// DBRECORDS_DSN environment variable (never from the command line, where
// ps would show the password), and never prints the password.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbrecords: %v\n", err)
	}
	os.Exit(code)
}

const usage = `usage:
  dbrecords schema apply [--table T] [--grant-to ACCOUNT]   create or upgrade the tables, print the grants
  dbrecords import [--table T] [--origin ZONE] [--zone Z]... [--allow-outside] [--format zone|csv] FILE|-   load records (every served type)
  dbrecords export [--table T] [--zone ZONE]... [--default-ttl N] [--format zone|csv]   write the table out
  dbrecords check [--table T] --zone ZONE... [--ttl N] [--sample N] [--axfr] [--service NAME] [HOST:PORT...]
                                                           compare replicas' answers with the table
Every subcommand reads the DSN (USER:PASS@tcp(HOST:PORT)/DB) from --dsn-file or $DBRECORDS_DSN.`

// errDiffer is check's finding: the replicas do not serve the table.
var errDiffer = errors.New("differences found")

// run executes one subcommand and returns the exit code: 0 success, 1 a
// check that found differences, 2 bad usage or a failure.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return 2, nil
		}
		return 0, nil
	}
	cmd, rest := args[0], args[1:]
	if cmd == "schema" {
		if len(rest) == 0 || rest[0] != "apply" {
			return 2, errors.New("schema: the subcommand is 'schema apply'")
		}
		cmd, rest = "schema apply", rest[1:]
	}
	fs := flag.NewFlagSet("dbrecords "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsnFile := fs.String("dsn-file", "", "file holding the DSN (default: $DBRECORDS_DSN)")
	table := fs.String("table", "dns_records", "records table; its change log is TABLE_changes")
	var err error
	switch cmd {
	case "schema apply":
		grantTo := fs.String("grant-to", "'dbrecords'@'%'", "the replicas' account, for the printed grants")
		if err := parse(fs, rest, 0); err != nil {
			return 2, err
		}
		err = withDB(ctx, *dsnFile, func(db *sql.DB, dbName string) error {
			return schemaApply(ctx, db, dbName, *table, *grantTo, stdout, stderr)
		})
	case "import":
		origin := fs.String("origin", "", "origin for relative names in a zone file ($ORIGIN); names outside it are refused")
		format := fs.String("format", "", "zone or csv (default: csv for *.csv, else zone)")
		var zones listFlag
		fs.Var(&zones, "zone", "a zone the names must lie in (repeatable; default: --origin)")
		outside := fs.Bool("allow-outside", false, "load names outside --zone/--origin too")
		if err := parse(fs, rest, 1); err != nil {
			return 2, err
		}
		if len(zones) == 0 && *origin != "" && !*outside {
			zones = listFlag{*origin}
		}
		if *outside {
			zones = nil
		}
		err = withDB(ctx, *dsnFile, func(db *sql.DB, _ string) error {
			return importFile(ctx, db, *table, fs.Arg(0), *format, *origin, zones, stdin, stderr)
		})
	case "export":
		var zones listFlag
		fs.Var(&zones, "zone", "export only names in this zone (repeatable)")
		defTTL := fs.Uint("default-ttl", 60, "the $TTL for rows without a ttl (the plugin's ttl property)")
		format := fs.String("format", "zone", "zone, or csv (keeps NULL ttls exactly)")
		if err := parse(fs, rest, 0); err != nil {
			return 2, err
		}
		err = withDB(ctx, *dsnFile, func(db *sql.DB, _ string) error {
			return export(ctx, db, *table, zones, uint32(*defTTL), *format, stdout, stderr) //nolint:gosec // a TTL
		})
	case "check":
		var zones listFlag
		fs.Var(&zones, "zone", "a zone the replicas serve (repeatable, at least one)")
		sample := fs.Int("sample", 0, "check this many random names instead of all")
		service := fs.String("service", "", "a DNS name whose addresses are the replicas (a headless Service)")
		ttl := fs.Uint("ttl", 60, "the replicas' ttl property: the TTL of rows without one")
		axfr := fs.Bool("axfr", false, "also transfer each zone from each replica and report names the table does not have (needs transfer allowed)")
		port := fs.Int("port", 53, "the replicas' DNS port, with --service")
		if err := parse(fs, rest, -1); err != nil {
			return 2, err
		}
		if len(zones) == 0 {
			return 2, errors.New("check: give at least one --zone")
		}
		replicas, err := replicaAddrs(ctx, fs.Args(), *service, *port)
		if err != nil {
			return 2, err
		}
		err = withDB(ctx, *dsnFile, func(db *sql.DB, _ string) error {
			return check(ctx, db, *table, zones, uint32(*ttl), *sample, *axfr, replicas, stdout) //nolint:gosec // a TTL
		})
		if errors.Is(err, errDiffer) {
			return 1, err
		}
	default:
		return 2, fmt.Errorf("unknown subcommand %q\n%s", cmd, usage)
	}
	if err != nil {
		return 2, err
	}
	return 0, nil
}

// parse parses flags and wants n positional arguments (-1: any number).
func parse(fs *flag.FlagSet, args []string, n int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if n >= 0 && fs.NArg() != n {
		return fmt.Errorf("%s takes %d argument(s), got %d", fs.Name(), n, fs.NArg())
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && a != "-" {
			return fmt.Errorf("%s: flags go before the arguments, got %q after them", fs.Name(), a)
		}
	}
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// withDB connects with the DSN from dsnFile or $DBRECORDS_DSN and runs fn.
// No error it returns repeats the DSN.
func withDB(ctx context.Context, dsnFile string, fn func(*sql.DB, string) error) error {
	dsn := os.Getenv("DBRECORDS_DSN")
	from := "$DBRECORDS_DSN"
	if dsnFile != "" {
		b, err := os.ReadFile(dsnFile)
		if err != nil {
			return fmt.Errorf("--dsn-file: %w", err)
		}
		dsn, from = strings.TrimSpace(string(b)), "--dsn-file "+dsnFile
	}
	if dsn == "" {
		return errors.New("no DSN: set $DBRECORDS_DSN or give --dsn-file")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.DBName == "" {
		return fmt.Errorf("the DSN in %s does not parse or names no database (want USER:PASS@tcp(HOST:PORT)/DB)", from)
	}
	cfg.MultiStatements = false
	cfg.ParseTime = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("the DSN in %s: %v", from, scrub(err, cfg.Passwd))
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to %s as %s: %v", cfg.Addr, cfg.User, scrub(err, cfg.Passwd))
	}
	return scrub(fn(db, cfg.DBName), cfg.Passwd)
}

// scrub removes the password from err's text, should a driver ever say it.
func scrub(err error, passwd string) error {
	if err == nil || passwd == "" || errors.Is(err, errDiffer) || !strings.Contains(err.Error(), passwd) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), passwd, "xxxxx"))
}
