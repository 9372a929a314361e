package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
	"golang.org/x/oauth2"
)

// replica is one member of the fleet: its own Redis client, Store, Locker,
// Source and Watch, as on a separate machine.
type replica struct {
	id        int
	src       *tokenrefresh.Source
	store     *redisstore.Store
	client    redis.UniversalClient
	api       *http.Client
	requests  atomic.Int64
	failed    atomic.Int64
	refreshes atomic.Int64
	watched   atomic.Int64
	mu        sync.Mutex
	tokens    map[string]bool // fingerprints of the access tokens used
	base      http.RoundTripper
}

// RoundTrip records which token each request carries.
func (r *replica) RoundTrip(req *http.Request) (*http.Response, error) {
	sum := sha256.Sum256([]byte(req.Header.Get("Authorization")))
	r.mu.Lock()
	r.tokens[hex.EncodeToString(sum[:4])] = true
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func runFleet(ctx context.Context, o options, redisAddr string, out io.Writer) error {
	srv := demoserver.New(demoserver.Config{AccessTTL: o.accessTTL, Rotate: true, DetectReuse: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	httpT := &http.Transport{MaxIdleConnsPerHost: 100}
	defer httpT.CloseIdleConnections()

	// One login for the whole fleet, stored in Redis under a fresh key.
	key := "tokenrefresh:fleet-demo:" + rand.Text()[:8]
	first, err := newReplica(0, redisAddr, key, base, httpT)
	if err != nil {
		return err
	}
	tr, err := srv.Login("demo", "demo")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, RefreshToken: tr.RefreshToken, Expiry: tr.Expiry}
	if err := first.store.Save(ctx, tok); err != nil {
		return fmt.Errorf("store the login: %w", err)
	}
	defer first.store.Delete(context.WithoutCancel(ctx))
	replicas := []*replica{first}
	for i := 1; i < o.replicas; i++ {
		r, err := newReplica(i, redisAddr, key, base, httpT)
		if err != nil {
			return err
		}
		replicas = append(replicas, r)
	}
	defer func() {
		for _, r := range replicas {
			_ = r.client.Close()
		}
	}()

	fmt.Fprintf(out, "%d replicas x %d goroutines for %v; access tokens live %v, rotate, reuse detection on\n",
		o.replicas, o.goroutines, o.duration, o.accessTTL)
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() { r.run(runCtx, o.goroutines, base) })
	}
	// Half-way, revoke every access token: a refresh storm across the fleet.
	revoke := time.AfterFunc(o.duration/2, func() {
		fmt.Fprintln(out, "server revokes every access token")
		srv.RevokeAccessTokens()
	})
	wg.Wait()
	revoke.Stop()
	report(ctx, out, replicas, srv.Stats())
	return nil
}

func newReplica(id int, redisAddr, key, base string, httpT *http.Transport) (*replica, error) {
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	store, err := redisstore.NewStore(client, key)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	r := &replica{id: id, store: store, client: client, tokens: map[string]bool{}, base: httpT}
	refresher := tokenrefresh.JSONRefresher(base+"/refresh", &http.Client{Transport: httpT})
	r.src = tokenrefresh.NewSource(
		tokenrefresh.RefresherFunc(func(ctx context.Context, t *oauth2.Token) (*oauth2.Token, error) {
			r.refreshes.Add(1)
			return refresher.Refresh(ctx, t)
		}),
		tokenrefresh.WithStore(store),
		tokenrefresh.WithLocker(redisstore.NewLocker(client, key+":lock")),
	)
	r.api = &http.Client{Transport: &tokenrefresh.Transport{Source: r.src, Base: r}}
	return r, nil
}

// run keeps goroutines sending requests until ctx is done, while Watch
// keeps the replica's Source in step with the others.
func (r *replica) run(ctx context.Context, goroutines int, base string) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = r.store.Watch(ctx, r.src, redisstore.OnAdopt(func() { r.watched.Add(1) }))
	})
	for g := range goroutines {
		wg.Go(func() {
			url := fmt.Sprintf("%s/api/replica/%d/worker/%d", base, r.id, g)
			for ctx.Err() == nil {
				r.requests.Add(1)
				if !r.get(ctx, url) && ctx.Err() == nil {
					r.failed.Add(1)
				}
				// Pace the workers, like an application doing other work.
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
}

func (r *replica) get(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := r.api.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func report(ctx context.Context, out io.Writer, replicas []*replica, st demoserver.Stats) {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "replica\trequests\tfailed\trefreshes\tadopted by watch\ttokens used\tfinal token\t")
	var total, failed, refreshes int64
	finals := map[string]bool{}
	for _, r := range replicas {
		final := "(none)"
		if tok, err := r.src.TokenContext(ctx); err == nil {
			sum := sha256.Sum256([]byte(tok.AccessToken))
			final = hex.EncodeToString(sum[:4])
		}
		finals[final] = true
		r.mu.Lock()
		used := len(r.tokens)
		r.mu.Unlock()
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
			r.id, r.requests.Load(), r.failed.Load(), r.refreshes.Load(), r.watched.Load(), used, final)
		total += r.requests.Load()
		failed += r.failed.Load()
		refreshes += r.refreshes.Load()
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "\n%d requests (%d failed); %d refreshes by the fleet (server counted %d, rejected %d, reuse detections %d); replicas on %d distinct final token(s)\n",
		total, failed, refreshes, st.Refreshes, st.RefreshRejected, st.ReuseDetected, len(finals))
}
