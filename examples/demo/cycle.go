package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
)

// demo holds the parts of one run: the server, the client and the tables.
type demo struct {
	opts    options
	clock   *fakeclock.Clock // simulated time shared by server and client, so "an hour passes" is instant
	server  *demoserver.Server
	url     string
	rec     *recorder
	src     *tokenrefresh.Source
	plain   *http.Client // login and refresh, no tokenrefresh
	api     *http.Client // through tokenrefresh.Transport
	reauths atomic.Int32

	steps   table
	tracker [][]string // columns of the token tracker
	step    int
}

func run(ctx context.Context, o options, out io.Writer) error {
	return newDemo(o).run(ctx, out)
}

func newDemo(o options) *demo {
	return &demo{opts: o, clock: fakeclock.New(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)), rec: &recorder{}}
}

func (d *demo) run(ctx context.Context, out io.Writer) error {
	o := d.opts
	d.server = demoserver.New(demoserver.Config{
		AccessTTL: o.accessTTL, RefreshTTL: o.refreshTTL,
		Rotate: o.rotate, DetectReuse: o.rotate, Now: d.clock.Now,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.server, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		<-served
	}()
	d.url = "http://" + ln.Addr().String()

	base := &http.Transport{MaxIdleConnsPerHost: o.goroutines}
	defer base.CloseIdleConnections()
	d.rec.base = base
	d.plain = &http.Client{Transport: d.rec}
	d.src = tokenrefresh.NewSource(
		tokenrefresh.JSONRefresher(d.url+"/refresh", d.plain),
		tokenrefresh.WithClock(d.clock.Now),
		tokenrefresh.OnReauth(func(error) { d.reauths.Add(1) }),
	)
	d.api = &http.Client{Transport: &tokenrefresh.Transport{Source: d.src, Base: d.rec}}
	d.steps = table{header: []string{"Step", "Action", "Sent", "Server answer", "Client state"}, color: o.color}
	d.tracker = [][]string{{"Variable", "access_token", "refresh_token", "token_validity"}, {"Start", "None", "None", "N/A"}}

	fmt.Fprintf(out, "tokenrefresh demo: server %s, access token %s, refresh token %s, rotation %t\n",
		d.url, o.accessTTL, o.refreshTTL, o.rotate)
	fmt.Fprintf(out, "Simulated time: the clock jumps instead of waiting. Tokens are masked.\n\n")

	storm, err := d.play(ctx)
	if err != nil {
		return err
	}
	d.steps.render(out)
	fmt.Fprintf(out, "\nToken tracker (after each phase)\n")
	d.renderTracker(out)
	fmt.Fprintf(out, "\nConcurrent case: %d requests at once on a revoked token: %d × 401, %d refresh, %d succeeded.\n",
		storm.requests, storm.rejected, storm.refreshes, storm.succeeded)
	st := d.server.Stats()
	fmt.Fprintf(out, "Server totals: %d logins, %d refreshes, %d rejected refreshes, %d reused refresh tokens, %d API 401s.\n",
		st.Logins, st.Refreshes, st.RefreshRejected, st.ReuseDetected, st.API401)
	if storm.refreshes != 1 || storm.succeeded != storm.requests || st.ReuseDetected != 0 {
		return fmt.Errorf("expected 1 refresh and %d successes in the concurrent case, got %d and %d",
			storm.requests, storm.refreshes, storm.succeeded)
	}
	return nil
}

// play runs the phases of the token cycle.
func (d *demo) play(ctx context.Context) (stormResult, error) {
	if err := d.login(ctx, "Log in"); err != nil {
		return stormResult{}, err
	}
	d.track("After login")
	if err := d.call(ctx, "Call API", "/api/profile"); err != nil {
		return stormResult{}, err
	}

	d.server.RevokeAccessTokens()
	d.note("Access token revoked by the server")
	if err := d.call(ctx, "Call API", "/api/profile"); err != nil {
		return stormResult{}, err
	}
	d.track("After 401")

	d.clock.Advance(d.opts.accessTTL)
	d.note(fmt.Sprintf("%s pass (access token lifetime)", d.opts.accessTTL))
	if err := d.call(ctx, "Call API", "/api/orders"); err != nil {
		return stormResult{}, err
	}
	d.track("After expiry")

	d.server.RevokeAccessTokens()
	storm, err := d.storm(ctx)
	if err != nil {
		return storm, err
	}
	d.track("After storm")

	d.clock.Advance(d.opts.refreshTTL)
	d.note(fmt.Sprintf("%s pass: refresh token expires", d.opts.refreshTTL))
	err = d.call(ctx, "Call API", "/api/profile")
	if !errors.Is(err, tokenrefresh.ErrReauthRequired) {
		return storm, fmt.Errorf("expected ErrReauthRequired after the refresh token expired, got %v", err)
	}
	d.step++
	d.steps.add(fmt.Sprint(d.step), "Request fails", "-", "-",
		fmt.Sprintf("ErrReauthRequired; OnReauth called %d×", d.reauths.Load()))
	d.track("After rejection")

	if err := d.login(ctx, "Log in again"); err != nil {
		return storm, err
	}
	if err := d.call(ctx, "Call API", "/api/profile"); err != nil {
		return storm, err
	}
	d.track("After re-login")
	return storm, nil
}

// login posts the credentials and starts a session with the answer.
func (d *demo) login(ctx context.Context, action string) error {
	body, _ := json.Marshal(map[string]string{"username": "demo", "password": "demo"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/login", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.plain.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tok oauth2.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("login failed: %s", resp.Status)
	}
	d.record(action)
	return d.src.SetToken(ctx, &tok)
}

// call sends one API request through tokenrefresh and records what went
// over the wire to serve it.
func (d *demo) call(ctx context.Context, action, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.api.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", path, resp.Status)
		}
	}
	d.record(action)
	return err
}

// record adds a row for each exchange since the last call.
func (d *demo) record(action string) {
	rejected := false
	for i, ex := range d.rec.take() {
		if i > 0 {
			action = followUp(ex, rejected)
		}
		rejected = rejected || ex.status == http.StatusUnauthorized
		d.step++
		d.steps.add(fmt.Sprint(d.step), action, ex.sent, ex.answer, ex.state)
	}
}

// followUp names an exchange that tokenrefresh made on its own, after a
// 401 or not.
func followUp(ex exchange, rejected bool) string {
	switch {
	case ex.kind == "refresh":
		return "  Send refresh token"
	case rejected:
		return "  Retry with new token"
	}
	return "  Send call with new token"
}

// note adds a row for something that happens without traffic.
func (d *demo) note(action string) {
	d.step++
	d.steps.add(fmt.Sprint(d.step), action, "-", "-", "Access token expired")
}

// stormResult counts what the concurrent phase did.
type stormResult struct {
	requests, rejected, refreshes, succeeded int
}

// storm sends many requests at the moment the access token stops working.
func (d *demo) storm(ctx context.Context) (stormResult, error) {
	n := d.opts.goroutines
	d.note("Access token revoked again")
	var wg sync.WaitGroup
	var ok atomic.Int32
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/api/report", nil)
			resp, err := d.api.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return stormResult{}, fmt.Errorf("concurrent request failed: %w", err)
	}

	res := stormResult{requests: n, succeeded: int(ok.Load())}
	type group struct {
		ex    exchange
		count int
	}
	// One row per kind of exchange and status, in order of first sight.
	var groups []*group
	index := map[string]*group{}
	for _, ex := range d.rec.take() {
		switch {
		case ex.kind == "refresh":
			res.refreshes++
		case ex.status == http.StatusUnauthorized:
			res.rejected++
		}
		key := fmt.Sprint(ex.kind, ex.status)
		if index[key] == nil {
			index[key] = &group{ex: ex}
			groups = append(groups, index[key])
		}
		index[key].count++
	}
	for i, g := range groups {
		action := fmt.Sprintf("%d goroutines call the API", n)
		if i > 0 {
			action = followUp(g.ex, res.rejected > 0)
		}
		d.step++
		d.steps.add(fmt.Sprint(d.step), action, fmt.Sprintf("%d × %s", g.count, g.ex.sent),
			fmt.Sprintf("%d × %s", g.count, g.ex.answer), g.ex.state)
	}
	return res, nil
}

// track adds a column to the token tracker.
func (d *demo) track(phase string) {
	tok, err := d.src.TokenContext(context.Background())
	col := []string{phase, "None", "None", "Must re-login"}
	if err == nil {
		col = []string{phase, mask(tok.AccessToken), mask(tok.RefreshToken), "Valid"}
	}
	d.tracker = append(d.tracker, col)
}

// renderTracker prints the tracker with variables as rows, phases as columns.
func (d *demo) renderTracker(out io.Writer) {
	t := table{header: make([]string, len(d.tracker)), color: d.opts.color}
	for i, col := range d.tracker {
		t.header[i] = col[0]
	}
	for row := 1; row < len(d.tracker[0]); row++ {
		cells := make([]string, len(d.tracker))
		for i, col := range d.tracker {
			cells[i] = col[row]
		}
		t.add(cells...)
	}
	t.render(out)
}
