package tokenrefresh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// An API client whose access token is refreshed through a plain JSON
// endpoint when the server rejects it.
func ExampleNewClient() {
	server := demoserver.New(demoserver.Config{Rotate: true})
	api := httptest.NewServer(server)
	defer api.Close()

	login, _ := server.Login("demo", "demo")
	src := tokenrefresh.NewSource(
		tokenrefresh.JSONRefresher(api.URL+"/refresh", nil),
		tokenrefresh.WithToken(&oauth2.Token{AccessToken: login.AccessToken, RefreshToken: login.RefreshToken}),
	)
	client := tokenrefresh.NewClient(src)

	server.RevokeAccessTokens() // the next request gets a 401
	resp, err := client.Get(api.URL + "/api/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, strings.TrimSpace(string(body)))
	fmt.Println("refreshes:", server.Stats().Refreshes)
	// Output:
	// 200 OK {"user":"demo","path":"/api/hello"}
	// refreshes: 1
}

// A standard OAuth2 token endpoint, through golang.org/x/oauth2.
func ExampleOAuth2Refresher() {
	server := demoserver.New(demoserver.Config{Rotate: true})
	api := httptest.NewServer(server)
	defer api.Close()

	cfg := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: api.URL + "/oauth2/token"}}
	ctx := context.Background()
	login, err := cfg.PasswordCredentialsToken(ctx, "demo", "demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	src := tokenrefresh.NewSource(tokenrefresh.OAuth2Refresher(cfg), tokenrefresh.WithToken(login))

	server.RevokeAccessTokens()
	resp, err := tokenrefresh.NewClient(src).Get(api.URL + "/api/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", server.Stats().Refreshes, "refresh")
	// Output: 200 OK after 1 refresh
}

// When the refresh token is rejected, requests fail with ErrReauthRequired
// and OnReauth is told once; a new login resumes the session.
func ExampleOnReauth() {
	server := demoserver.New(demoserver.Config{})
	api := httptest.NewServer(server)
	defer api.Close()

	login, _ := server.Login("demo", "demo")
	src := tokenrefresh.NewSource(
		tokenrefresh.JSONRefresher(api.URL+"/refresh", nil),
		tokenrefresh.WithToken(&oauth2.Token{AccessToken: login.AccessToken, RefreshToken: login.RefreshToken}),
		tokenrefresh.OnReauth(func(err error) { fmt.Println("session over, please log in again") }),
	)
	client := tokenrefresh.NewClient(src)

	server.RevokeSession("demo")
	_, err := client.Get(api.URL + "/api/profile")
	fmt.Println("reauth required:", errors.Is(err, tokenrefresh.ErrReauthRequired))

	again, _ := server.Login("demo", "demo")
	_ = src.SetToken(context.Background(), &oauth2.Token{AccessToken: again.AccessToken, RefreshToken: again.RefreshToken})
	resp, err := client.Get(api.URL + "/api/profile")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// session over, please log in again
	// reauth required: true
	// 200 OK
}

// A CLI keeps its session between runs in a store, and processes running at
// once share one refresh through a lock. NewKeyringStore is the store to
// use on a desktop; this example uses a file so that it runs anywhere.
func ExampleWithStore() {
	server := demoserver.New(demoserver.Config{Rotate: true, DetectReuse: true})
	api := httptest.NewServer(server)
	defer api.Close()
	dir, _ := os.MkdirTemp("", "tokenrefresh-example")
	defer os.RemoveAll(dir)

	// One run of the CLI: the login command stores the session.
	store := tokenrefresh.NewFileStore(filepath.Join(dir, "session.json"))
	login, _ := server.Login("demo", "demo")
	_ = store.Save(context.Background(), &oauth2.Token{AccessToken: login.AccessToken, RefreshToken: login.RefreshToken})

	// A later run picks the session up from the store.
	src := tokenrefresh.NewSource(
		tokenrefresh.JSONRefresher(api.URL+"/refresh", nil),
		tokenrefresh.WithStore(store),
		tokenrefresh.WithLocker(tokenrefresh.NewFileLockerAt(filepath.Join(dir, "session.lock"))),
	)
	server.RevokeAccessTokens()
	resp, err := tokenrefresh.NewClient(src).Get(api.URL + "/api/profile")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	saved, _ := store.Load(context.Background())
	fmt.Println(resp.Status)
	fmt.Println("rotated refresh token saved:", saved.RefreshToken != login.RefreshToken)
	// Output:
	// 200 OK
	// rotated refresh token saved: true
}
