package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/fakekeyring"
	"golang.org/x/oauth2"
)

// countingStore counts the Store calls a Source makes.
type countingStore struct {
	tokenrefresh.Store
	loads, saves atomic.Int64
}

func (s *countingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx)
}

func (s *countingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.saves.Add(1)
	return s.Store.Save(ctx, tok)
}

// stormBurst is the number of concurrent requests that meet each forced
// refresh in the keyring scenario.
const stormBurst = 32

// runKeyring measures the Store and keyring traffic of a Source over a
// KeyringStore on the fake keyring, without and with a Locker.
func runKeyring(cfg Config) ([]Row, error) {
	var rows []Row
	for _, locked := range []bool{false, true} {
		r, err := runKeyringOnce(cfg, locked)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// keyringCounts is a snapshot of every counter of the scenario.
type keyringCounts struct {
	loads, saves, keyring, refreshes int
}

func runKeyringOnce(cfg Config, locked bool) ([]Row, error) {
	e := newEnv(demoserver.Config{AccessTTL: time.Hour, RefreshDelay: cfg.Latency, AccessTokenSize: cfg.TokenBytes, Rotate: true}, cfg.MaxConns)
	defer e.close()
	tok, err := e.login()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	ring := fakekeyring.New()
	ks := tokenrefresh.NewKeyringStore("tokenrefresh-bench", "demo", tokenrefresh.WithKeyring(ring))
	if err := ks.Save(ctx, tok); err != nil {
		return nil, fmt.Errorf("seed keyring: %w", err)
	}
	store := &countingStore{Store: ks}
	opts := []tokenrefresh.Option{tokenrefresh.WithStore(store)}
	client := clientTokenrefresh
	if locked {
		dir, err := os.MkdirTemp("", "tokenrefresh-bench-lock-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		opts = append(opts, tokenrefresh.WithLocker(tokenrefresh.NewFileLockerAt(filepath.Join(dir, "refresh.lock"))))
		client += "+locker"
	}
	src := tokenrefresh.NewSource(tokenrefresh.JSONRefresher(e.srv.URL+"/refresh", e.httpClient()), opts...)
	hc := &http.Client{Transport: &tokenrefresh.Transport{Source: src, Base: e.pool}}
	url := e.apiURL("keyring")

	counts := func() keyringCounts {
		return keyringCounts{
			loads: int(store.loads.Load()), saves: int(store.saves.Load()),
			keyring:   ring.Calls(fakekeyring.Get) + ring.Calls(fakekeyring.Set) + ring.Calls(fakekeyring.Delete),
			refreshes: refreshCalls(e.demo.Stats()),
		}
	}
	row := func(phase string, requests, failed int, from, to keyringCounts) Row {
		return Row{Scenario: "keyring", Client: client, N: requests, Requests: requests, Failed: failed,
			RefreshCalls: to.refreshes - from.refreshes, StoreLoads: intp(to.loads - from.loads),
			StoreSaves: intp(to.saves - from.saves), KeyringCalls: intp(to.keyring - from.keyring), Note: phase}
	}
	var rows []Row

	// Start: the first request reads the stored token.
	c0 := counts()
	failed := burst(hc, url, 1)
	c1 := counts()
	rows = append(rows, row("start: first request", 1, failed, c0, c1))

	// Steady state: a valid token, many requests.
	failed = spread(hc, url, cfg.KeyringRequests, 8)
	c2 := counts()
	r := row("valid token", cfg.KeyringRequests, failed, c1, c2)
	ops := (*r.StoreLoads + *r.StoreSaves) * 1000 / max(cfg.KeyringRequests, 1)
	r.Note = fmt.Sprintf("valid token: %d store ops per 1,000 requests", ops)
	rows = append(rows, r)

	// Refreshes: each forced by revocation under a burst of requests.
	failed = 0
	for range cfg.KeyringRefreshes {
		e.demo.RevokeAccessTokens()
		failed += burst(hc, url, stormBurst)
	}
	c3 := counts()
	r = row("", cfg.KeyringRefreshes*stormBurst, failed, c2, c3)
	per := func(n int) float64 { return float64(n) / float64(max(r.RefreshCalls, 1)) }
	r.Note = fmt.Sprintf("per refresh: %.1f loads, %.1f saves, %.1f keyring calls",
		per(*r.StoreLoads), per(*r.StoreSaves), per(*r.KeyringCalls))
	rows = append(rows, r)
	return rows, nil
}

// burst sends n concurrent requests and returns how many failed.
func burst(hc *http.Client, url string, n int) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if !get(ctx, hc, url).ok {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// spread sends n requests from g goroutines and returns how many failed.
func spread(hc *http.Client, url string, n, g int) int {
	var failed, next atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if !get(ctx, hc, url).ok {
					failed.Add(1)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}
