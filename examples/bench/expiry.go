package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// window is the width of the chart's time buckets.
const window = 100 * time.Millisecond

// sample is one request of the expiry scenario.
type sample struct {
	at, latency time.Duration
	ok          bool
}

// Series is the latency over time of one client: the worst latency in each
// window, for the chart.
type Series struct {
	Client string   `json:"client"`
	Window Millis   `json:"window_ms"`
	T      []Millis `json:"t_ms"`
	Max    []Millis `json:"max_ms"`
}

// runExpiryAll runs the expiry scenario for every client at once, each
// against its own server, so that all of them meet the same load from the
// rest of the machine: run one after another, a busy moment elsewhere
// would land on one client only and decide the comparison.
func runExpiryAll(cfg Config) ([]Row, []Series, error) {
	rows := make([]Row, len(expiryClients))
	series := make([]Series, len(expiryClients))
	errs := make([]error, len(expiryClients))
	var wg sync.WaitGroup
	for i, c := range expiryClients {
		wg.Go(func() {
			rows[i], series[i], errs[i] = runExpiry(cfg, c)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("expiry %s: %w", c, errs[i])
			}
		})
	}
	wg.Wait()
	return rows, series, errors.Join(errs...)
}

// runExpiry keeps cfg.Goroutines goroutines sending requests for
// cfg.Duration while access tokens live cfg.TTL. The baseline's token
// never expires.
func runExpiry(cfg Config, client string) (Row, Series, error) {
	ttl := cfg.TTL
	if client == clientBaseline {
		ttl = time.Hour
	}
	e := newEnv(demoserver.Config{
		AccessTTL:       ttl,
		RefreshDelay:    cfg.Latency,
		AccessTokenSize: cfg.TokenBytes,
		Rotate:          true,
		DetectReuse:     true,
	}, cfg.MaxConns)
	defer e.close()
	tok, err := e.login()
	if err != nil {
		return Row{}, Series{}, err
	}
	hc := &http.Client{Transport: newClient(client, e, tok, cfg)}
	url := e.apiURL("steady")
	if err := warmUp(hc, url, cfg.Goroutines); err != nil {
		return Row{}, Series{}, err
	}

	before := e.demo.Stats()
	perG := make([][]sample, cfg.Goroutines)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for g := range cfg.Goroutines {
		wg.Go(func() {
			// Stagger the goroutines across the interval, like independent
			// callers.
			next := start.Add(cfg.Interval * time.Duration(g) / time.Duration(cfg.Goroutines))
			for {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				o := get(ctx, hc, url)
				cancel()
				perG[g] = append(perG[g], sample{at: t0.Sub(start), latency: time.Since(t0), ok: o.ok})
				// A request that overran its slot is followed at once by
				// the next, with no backlog.
				next = next.Add(cfg.Interval)
				if now := time.Now(); next.Before(now) {
					next = now
				}
			}
		})
	}
	wg.Wait()
	after := e.demo.Stats()

	all := slices.Concat(perG...)
	row := Row{Scenario: "expiry", Client: client, N: cfg.Goroutines, Requests: len(all),
		RefreshCalls: refreshCalls(after) - refreshCalls(before)}
	lat := make([]time.Duration, 0, len(all))
	for _, s := range all {
		lat = append(lat, s.latency)
		if !s.ok {
			row.Failed++
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		row.P50, row.P99, row.Max = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
	}
	switch client {
	case clientBaseline:
		row.Note = "token never expires"
	case clientOAuth2:
		row.Note = fmt.Sprintf("early expiry %v", cfg.Leeway)
	case clientTokenrefresh:
		row.Note = fmt.Sprintf("leeway %v, early refresh %v", cfg.Leeway, cfg.Early)
	}
	return row, bucket(client, all), nil
}

// percentile returns the q-quantile of sorted, nearest-rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// bucket returns the worst latency of each window that saw a request.
func bucket(client string, samples []sample) Series {
	worst := map[int]time.Duration{}
	for _, s := range samples {
		w := int(s.at / window)
		worst[w] = max(worst[w], s.latency)
	}
	s := Series{Client: client, Window: Millis(window)}
	for _, w := range slices.Sorted(maps.Keys(worst)) {
		s.T = append(s.T, Millis(time.Duration(w)*window))
		s.Max = append(s.Max, Millis(worst[w]))
	}
	return s
}
