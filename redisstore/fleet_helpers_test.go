package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"golang.org/x/oauth2"
)

// login starts a session on srv and returns its token as a client sees it.
func login(t testing.TB, srv *demoserver.Server) *oauth2.Token {
	t.Helper()
	tr, err := srv.Login("demo", "demo")
	require.NoError(t, err)
	return &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, RefreshToken: tr.RefreshToken, Expiry: tr.Expiry}
}

// fp names a token in test output without printing it.
func fp(access string) string {
	sum := sha256.Sum256([]byte(access))
	return hex.EncodeToString(sum[:6])
}

// counting wraps r to count the refreshes it performs.
func counting(r tokenrefresh.Refresher, n *atomic.Int64) tokenrefresh.Refresher {
	return tokenrefresh.RefresherFunc(func(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
		n.Add(1)
		return r.Refresh(ctx, tok)
	})
}

// newHTTP returns a transport of the test's own, so its idle connections
// can be closed before goleak looks.
func newHTTP(t testing.TB) *http.Transport {
	tr := &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 200}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// tally is the outcome of a batch of API requests.
type tally struct {
	OK, Fail int64
	FirstErr string
}

// hammer sends goroutines*each GET requests to url through client and
// counts the 200s.
func hammer(ctx context.Context, client *http.Client, url string, goroutines, each int) tally {
	var ok, fail atomic.Int64
	var once sync.Once
	var first string
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				err := get(ctx, client, url)
				if err == nil {
					ok.Add(1)
					continue
				}
				fail.Add(1)
				once.Do(func() { first = err.Error() })
			}
		})
	}
	wg.Wait()
	return tally{OK: ok.Load(), Fail: fail.Load(), FirstErr: first}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// helper is a replica running in a child process: the test binary re-run
// with -test.run=TestHelperReplica.
type helper struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	result string
	done   chan struct{}
	err    error
}

// startHelper starts a replica process in mode with env. Its combined
// output is logged if the test fails. stdin, if not nil, is its input.
func startHelper(t *testing.T, mode string, env map[string]string, stdin *os.File) *helper {
	t.Helper()
	h := &helper{result: t.TempDir() + "/result.json", done: make(chan struct{})}
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperReplica$", "-test.count=1", "-test.timeout=80s")
	h.cmd.Env = append(os.Environ(), "RS_HELPER="+mode, "RS_RESULT="+h.result)
	for k, v := range env {
		h.cmd.Env = append(h.cmd.Env, k+"="+v)
	}
	h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
	if stdin != nil {
		h.cmd.Stdin = stdin
	}
	require.NoError(t, h.cmd.Start())
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("replica %s output:\n%s", mode, h.out.String())
		}
	})
	return h
}

// wait waits for the helper to exit and decodes its result into v.
func (h *helper) wait(t *testing.T, v any) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(80 * time.Second):
		t.Fatalf("replica did not finish; output:\n%s", h.out.String())
	}
	require.NoError(t, h.err, "replica failed; output:\n%s", h.out.String())
	data, err := os.ReadFile(h.result)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// waitSignal waits until a replica pushes to the Redis list, failing early
// if one of helpers exits first.
func waitSignal(t *testing.T, c redis.UniversalClient, list string, helpers ...*helper) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, err := c.BLPop(context.Background(), time.Second, list).Result()
		if err == nil {
			return
		}
		require.ErrorIs(t, err, redis.Nil)
		for _, h := range helpers {
			select {
			case <-h.done:
				t.Fatalf("replica exited before signalling %s: %v\n%s", list, h.err, h.out.String())
			default:
			}
		}
	}
	t.Fatalf("no signal on %s within 60s", list)
}

// writeResult is how a helper process reports back.
func writeResult(t *testing.T, v any) {
	data, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv("RS_RESULT"), data, 0o600))
}

// TestHelperReplica is not a test: it is the body of the replica processes
// that the fleet tests start.
func TestHelperReplica(t *testing.T) {
	switch os.Getenv("RS_HELPER") {
	case "":
		t.Skip("runs only as a replica process started by another test")
	case "storm":
		stormReplica(t)
	case "victim":
		victimReplica(t)
	default:
		t.Fatalf("unknown helper mode %q", os.Getenv("RS_HELPER"))
	}
}
