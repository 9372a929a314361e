package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"golang.org/x/oauth2"
)

// env is one loopback demo server and the client connection pool that
// talks to it. Every scenario run gets its own, so counters start at zero
// and no client's connections outlive its run.
type env struct {
	demo *demoserver.Server
	srv  *httptest.Server
	// pool is the client side: the base RoundTripper of every client under
	// test, and the transport of their refresh requests.
	pool *http.Transport
}

// newEnv starts a demo server configured by dc.
func newEnv(dc demoserver.Config, maxConns int) *env {
	demo := demoserver.New(dc)
	srv := httptest.NewServer(demo)
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxConnsPerHost = maxConns
	pool.MaxIdleConns = maxConns
	pool.MaxIdleConnsPerHost = maxConns
	return &env{demo: demo, srv: srv, pool: pool}
}

// close stops the server and drops the client's connections.
func (e *env) close() {
	e.pool.CloseIdleConnections()
	e.srv.Close()
	e.pool.CloseIdleConnections()
}

func (e *env) apiURL(path string) string { return e.srv.URL + "/api/" + path }

// httpClient is a plain client on the env's connection pool.
func (e *env) httpClient() *http.Client { return &http.Client{Transport: e.pool} }

// login starts a session as the demo user and returns its token as a
// client would decode it: the expiry counted from now.
func (e *env) login() (*oauth2.Token, error) {
	tr, err := e.demo.Login("demo", "demo")
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{
		AccessToken:  tr.AccessToken,
		TokenType:    tr.TokenType,
		RefreshToken: tr.RefreshToken,
		ExpiresIn:    tr.ExpiresIn,
		Expiry:       time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second),
	}, nil
}

// refreshCalls counts the requests that reached the token endpoint to
// refresh, whatever their outcome.
func refreshCalls(s demoserver.Stats) int {
	return s.Refreshes + s.RefreshRejected + s.RefreshCanceled
}

// outcome is what a caller got from one request.
type outcome struct {
	ok     bool
	status int // 0 for a transport error
	err    error
}

// get sends one GET through client and reads the whole answer.
func get(ctx context.Context, client *http.Client, url string) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return outcome{status: resp.StatusCode, err: err}
	}
	return outcome{ok: resp.StatusCode == http.StatusOK, status: resp.StatusCode}
}

// warmUp sends n concurrent requests, so that the connection pool is open
// before anything is measured, and fails unless all succeed.
func warmUp(client *http.Client, url string, n int) error {
	errs := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			o := get(ctx, client, url)
			if !o.ok {
				errs <- fmt.Errorf("warm-up request: status %d, %v", o.status, o.err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
