// Command dbtool prepares the database for `make demo` and checks that a
// server answers for test/mysql.sh. The server is MYSQL_DSN (default
// root@tcp(127.0.0.1:3306)/).
//
//	dbtool ping           exit 0 when the server answers
//	dbtool demo NAME      create database NAME with schema.sql and sample rows, print its DSN
//	dbtool wait URL       wait up to 15 s for URL to answer 200 (the ready plugin)
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"
)

// sample is what `make demo` serves under example.org.
var sample = [][4]any{
	{"www.example.org", "A", "192.0.2.10", nil},
	{"www.example.org", "AAAA", "2001:db8::10", nil},
	{"app-1.example.org", "A", "192.0.2.21", 300},
	{"app-2.example.org", "A", "192.0.2.22", 300},
	{"app-2.example.org", "A", "192.0.2.23", 300},
	{"*.apps.example.org", "A", "192.0.2.30", nil},
	{"ns1.example.org", "A", "192.0.2.53", nil},
	{"ns2.example.org", "A", "192.0.2.54", nil},
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "dbtool: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := dbsetup.ServerDSN()
	switch {
	case len(args) == 1 && args[0] == "ping":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return dbsetup.Ping(ctx, server)
	case len(args) == 2 && args[0] == "demo":
		db, dsn, err := dbsetup.Create(ctx, server, args[1])
		if err != nil {
			return err
		}
		defer db.Close()
		for _, r := range sample {
			if _, err := db.ExecContext(ctx, "INSERT INTO dns_records (name, type, content, ttl) VALUES (?, ?, ?, ?)", r[:]...); err != nil {
				return err
			}
		}
		fmt.Println(dsn)
		return nil
	case len(args) == 2 && args[0] == "wait":
		for range 75 {
			if resp, err := http.Get(args[1]); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("%s did not answer 200 within 15s", args[1])
	}
	return fmt.Errorf("usage: dbtool ping | dbtool demo NAME | dbtool wait URL")
}
