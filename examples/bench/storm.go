package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// runStorm revokes the access token of a warmed-up client and then sends n
// concurrent requests through it.
func runStorm(cfg Config, client string, n int) (Row, error) {
	e := newEnv(demoserver.Config{
		AccessTTL:       time.Hour,
		RefreshDelay:    cfg.Latency,
		AccessTokenSize: cfg.TokenBytes,
		Rotate:          true,
		DetectReuse:     true,
	}, cfg.MaxConns)
	defer e.close()
	tok, err := e.login()
	if err != nil {
		return Row{}, err
	}
	rt := newClient(client, e, tok, cfg)
	hc := &http.Client{Transport: rt}
	url := e.apiURL("storm")
	if err := warmUp(hc, url, min(n, cfg.MaxConns)); err != nil {
		return Row{}, err
	}

	before := e.demo.Stats()
	e.demo.RevokeAccessTokens()
	outcomes := make([]outcome, n)
	doneAt := make([]time.Duration, n)
	// start is written before the gate opens, and so read safely after.
	var start time.Time
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			ready.Done()
			<-gate
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
			defer cancel()
			outcomes[i] = get(ctx, hc, url)
			doneAt[i] = time.Since(start)
		})
	}
	ready.Wait()
	start = time.Now()
	close(gate)
	wg.Wait()
	after := e.demo.Stats()

	row := Row{Scenario: "storm", Client: client, N: n, Requests: n,
		RefreshCalls: refreshCalls(after) - refreshCalls(before)}
	var last time.Duration
	var got401, timeouts, otherErr int
	for i, o := range outcomes {
		switch {
		case o.ok:
			last = max(last, doneAt[i])
		case o.status == http.StatusUnauthorized:
			got401++
		case errors.Is(o.err, context.DeadlineExceeded):
			timeouts++
		default:
			otherErr++
		}
	}
	row.Failed = got401 + timeouts + otherErr
	if row.Failed < n {
		row.LastSuccess = ms(last)
	}
	row.Note = describeFailures(got401, timeouts, otherErr)
	if nt, ok := rt.(*naiveTransport); ok {
		row.Note = joinNote(row.Note, fmt.Sprintf("%d refresh attempts", nt.attempts.Load()))
	}
	if d := after.ReuseDetected - before.ReuseDetected; d > 0 {
		row.Note = joinNote(row.Note, fmt.Sprintf("%d refresh token reuses detected", d))
	}
	return row, nil
}

func describeFailures(got401, timeouts, other int) string {
	var note string
	if got401 > 0 {
		note = joinNote(note, fmt.Sprintf("%d got 401", got401))
	}
	if timeouts > 0 {
		note = joinNote(note, fmt.Sprintf("%d timed out", timeouts))
	}
	if other > 0 {
		note = joinNote(note, fmt.Sprintf("%d other errors", other))
	}
	return note
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
