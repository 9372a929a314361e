package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Millis is a duration written as milliseconds.
type Millis time.Duration

// MarshalJSON writes m as a number of milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(m)/float64(time.Millisecond), 'f', 3, 64)), nil
}

// String formats m for the table: two decimals below 10ms, whole
// milliseconds below a second, seconds above.
func (m Millis) String() string {
	d := time.Duration(m)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// ms returns a pointer to d as Millis, for optional fields.
func ms(d time.Duration) *Millis { m := Millis(d); return &m }

// intp returns a pointer to n, for optional fields.
func intp(n int) *int { return &n }

// Row is one line of the results table. Fields a scenario does not measure
// are nil and print as "-".
type Row struct {
	Scenario string `json:"scenario"`
	Client   string `json:"client"`
	// N is the number of concurrent requests (storm), goroutines (expiry),
	// or the phase's requests (keyring).
	N        int `json:"n"`
	Requests int `json:"requests"`
	Failed   int `json:"failed"`
	// RefreshCalls counts refresh requests that reached the token endpoint.
	RefreshCalls int `json:"refresh_calls"`
	// LastSuccess is the wall time from the storm's start to its last
	// successful request.
	LastSuccess *Millis `json:"last_success_ms,omitempty"`
	P50         *Millis `json:"p50_ms,omitempty"`
	P99         *Millis `json:"p99_ms,omitempty"`
	Max         *Millis `json:"max_ms,omitempty"`
	StoreLoads  *int    `json:"store_loads,omitempty"`
	StoreSaves  *int    `json:"store_saves,omitempty"`
	// KeyringCalls counts the fake keyring's Get and Set calls.
	KeyringCalls *int   `json:"keyring_calls,omitempty"`
	Note         string `json:"note,omitempty"`
}

// Report is everything a run writes to results.json.
type Report struct {
	Machine Machine  `json:"machine"`
	Config  Config   `json:"config"`
	Elapsed Millis   `json:"elapsed_ms"`
	Rows    []Row    `json:"rows"`
	Series  []Series `json:"expiry_latency_series"`
}

var tableHeader = []string{"scenario", "client", "N", "requests", "failed", "refresh calls",
	"last ok", "p50", "p99", "max", "store loads", "store saves", "keyring calls", "note"}

// cells formats r for the table.
func (r Row) cells() []string {
	opt := func(m *Millis) string {
		if m == nil {
			return "-"
		}
		return m.String()
	}
	n := func(p *int) string {
		if p == nil {
			return "-"
		}
		return strconv.Itoa(*p)
	}
	return []string{r.Scenario, r.Client, strconv.Itoa(r.N), strconv.Itoa(r.Requests), strconv.Itoa(r.Failed),
		strconv.Itoa(r.RefreshCalls), opt(r.LastSuccess), opt(r.P50), opt(r.P99), opt(r.Max),
		n(r.StoreLoads), n(r.StoreSaves), n(r.KeyringCalls), r.Note}
}

// printTable writes rows as one aligned table.
func printTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	_ = tw.Flush()
}

// markdown writes rows as a markdown table.
func markdown(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(tableHeader, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(tableHeader)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r.cells(), " | "))
	}
}

// write saves the report as JSON, markdown and the expiry chart in dir.
func (rep *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Machine: %s\n\n", rep.Machine)
	markdown(&md, rep.Rows)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	return writeChart(filepath.Join(dir, "expiry.svg"), rep.Series, rep.Config)
}
