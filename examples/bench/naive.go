package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// naiveTransport is token refresh as blog posts write it: on every 401,
// take a mutex, refresh, and retry. It never checks whether another
// request refreshed while it waited for the mutex, so a storm of N 401s
// makes N refreshes, one after the other.
type naiveTransport struct {
	base       http.RoundTripper
	refreshURL string
	client     *http.Client
	// attempts counts refresh attempts, including those that fail before
	// reaching the server.
	attempts atomic.Int64

	mu  sync.Mutex
	tok *oauth2.Token
}

func (t *naiveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	tok := t.tok
	t.mu.Unlock()
	resp, err := t.send(req, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	t.mu.Lock()
	fresh, err := t.refresh(req.Context(), t.tok.RefreshToken)
	if err == nil {
		t.tok = fresh
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return t.send(req, fresh)
}

func (t *naiveTransport) send(req *http.Request, tok *oauth2.Token) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return t.base.RoundTrip(r)
}

// refresh calls the JSON refresh endpoint.
func (t *naiveTransport) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	t.attempts.Add(1)
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.refreshURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refresh: %s", resp.Status)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return nil, err
	}
	if tr.RefreshToken == "" {
		tr.RefreshToken = refreshToken
	}
	return &oauth2.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer"}, nil
}
