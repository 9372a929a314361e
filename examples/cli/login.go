package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/term"
)

// credentials asks for what -u did not give. On a terminal the password is
// read without echo; otherwise stdin holds the password on its first line,
// so that `echo "$PW" | cli login -u demo` works in scripts.
func (a *app) credentials(user string) (string, string, error) {
	f, _ := a.stdin.(*os.File)
	tty := f != nil && term.IsTerminal(int(f.Fd()))
	if !tty {
		if user == "" {
			return "", "", usageErrorf("login: -u USER is required when stdin is not a terminal")
		}
		pw, err := readLine(a.stdin)
		if err != nil {
			return "", "", fmt.Errorf("read password from stdin: %w", err)
		}
		return user, pw, nil
	}
	in := bufio.NewReader(f)
	if user == "" {
		fmt.Fprint(a.stderr, "Username: ")
		u, err := in.ReadString('\n')
		if err != nil && u == "" {
			return "", "", fmt.Errorf("read username: %w", err)
		}
		if user = strings.TrimSpace(u); user == "" {
			return "", "", errors.New("no username given")
		}
	}
	fmt.Fprint(a.stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", "", fmt.Errorf("read password: %w", err)
	}
	return user, string(pw), nil
}

// readLine reads one line, without its line ending. Only the line ending is
// trimmed: spaces may be part of a password.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

// loginResponse is the demo server's token answer.
type loginResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// postLogin exchanges a username and password for a token at /login. The
// username is kept in the token as an extra field, for status.
func (a *app) postLogin(ctx context.Context, user, password string) (*oauth2.Token, error) {
	body, err := json.Marshal(map[string]string{"username": user, "password": password})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.server+"/login", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("login: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login failed: %s%s", resp.Status, serverMessage(data))
	}
	var lr loginResponse
	if err := json.Unmarshal(data, &lr); err != nil || lr.AccessToken == "" {
		// The body holds tokens: describe it, never quote it.
		return nil, errors.New("login: the server's answer is not a token response")
	}
	tok := &oauth2.Token{
		AccessToken:  lr.AccessToken,
		TokenType:    lr.TokenType,
		RefreshToken: lr.RefreshToken,
		ExpiresIn:    lr.ExpiresIn,
	}
	if lr.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(lr.ExpiresIn) * time.Second)
	}
	return tok.WithExtra(map[string]any{userField: user}), nil
}
