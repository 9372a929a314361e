// Command bench runs scenario benchmarks of tokenrefresh against
// golang.org/x/oauth2 and a naive hand-written refresh wrapper, over a
// loopback demo token server:
//
//   - storm: the server revokes the access token under N concurrent
//     requests;
//   - expiry: steady load across many short access-token lifetimes;
//   - keyring: how often a KeyringStore is touched per request and per
//     refresh.
//
// It prints one table and writes results.json, results.md and the chart
// expiry.svg to -out. Run it with
//
//	go run ./examples/bench            # about a minute
//	go run ./examples/bench -quick     # a few seconds
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	cfg := defaultConfig()
	cfg.register(flag.CommandLine)
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs every scenario, prints the table to w and writes the results to
// cfg.Out.
func run(cfg Config, w io.Writer) error {
	cfg = cfg.resolved()
	start := time.Now()
	rep := Report{Machine: describeMachine(), Config: cfg}

	fmt.Fprintf(w, "storm: N in %v, token endpoint latency %v, request timeout %v\n", cfg.stormSizes(), cfg.Latency, cfg.Timeout)
	for _, n := range cfg.stormSizes() {
		for _, c := range stormClients {
			row, err := runStorm(cfg, c, n)
			if err != nil {
				return fmt.Errorf("storm %s N=%d: %w", c, n, err)
			}
			rep.Rows = append(rep.Rows, row)
		}
	}

	fmt.Fprintf(w, "expiry: %d goroutines for %v, access token lifetime %v, leeway %v, early refresh %v\n",
		cfg.Goroutines, cfg.Duration, cfg.TTL, cfg.Leeway, cfg.Early)
	rows, series, err := runExpiryAll(cfg)
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, rows...)
	rep.Series = series

	fmt.Fprintf(w, "keyring: %d requests, %d refreshes, over fakekeyring\n", cfg.KeyringRequests, cfg.KeyringRefreshes)
	rows, err = runKeyring(cfg)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	rep.Rows = append(rep.Rows, rows...)

	rep.Elapsed = Millis(time.Since(start))
	rep.Machine.LoadAvgEnd = loadAvg()
	fmt.Fprintln(w)
	printTable(w, rep.Rows)
	fmt.Fprintf(w, "\nmachine: %s\n", rep.Machine)
	if err := rep.write(cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s/{results.json,results.md,expiry.svg} in %v\n", cfg.Out, time.Since(start).Round(100*time.Millisecond))
	lastReport = &rep
	return nil
}

// lastReport is the report of the latest run, for tests.
var lastReport *Report
