package redisstore_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisServer is a redis-server process of the test's own, on a free
// loopback port, without persistence.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// needRedis returns the path of redis-server, or skips the test when it is
// missing, unless TOKENREFRESH_REDIS_TESTS=1 demands the Redis tests run.
func needRedis(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TOKENREFRESH_REDIS_TESTS") == "1" {
			t.Fatalf("redis-server not found on PATH and TOKENREFRESH_REDIS_TESTS=1: %v", err)
		}
		t.Skip("redis-server not on PATH (apt-get install redis-server); set TOKENREFRESH_REDIS_TESTS=1 to make this a failure")
	}
	return path
}

// startRedis starts a redis-server and stops it when the test ends.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	needRedis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &redisServer{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// Addr is the server's address.
func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs redis-server and waits until it says it accepts connections.
func (r *redisServer) start() {
	r.t.Helper()
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		// An append-only file synced on every write, as a session store
		// needs: a killed server comes back with its data.
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	require.NoError(r.t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(r.t, cmd.Start())
	ready := make(chan struct{})
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		var log []string
		for sc.Scan() {
			log = append(log, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		if !signalled {
			r.t.Logf("redis-server exited before it was ready:\n%s", strings.Join(log, "\n"))
			close(ready)
		}
	}(r.done)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		r.stop()
		r.t.Fatal("redis-server did not start within 10s")
	}
	select {
	case <-r.done:
		r.t.Fatal("redis-server exited at start")
	default:
	}
}

// stop kills redis-server, as a crash would, and waits for it to exit.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// restart starts redis-server again on the same port, with its data.
func (r *redisServer) restart() {
	r.t.Helper()
	r.stop()
	r.start()
}

// client returns a go-redis client for the server, closed when the test ends.
func (r *redisServer) client(t testing.TB) redis.UniversalClient {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{r.Addr()}})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}
