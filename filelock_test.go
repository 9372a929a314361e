package tokenrefresh

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewFileLockerPath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache) // os.UserCacheDir on Linux and BSD
	t.Setenv("HOME", cache)           // on macOS: $HOME/Library/Caches
	if runtime.GOOS == "windows" {
		t.Setenv("LocalAppData", cache)
	}
	l, err := NewFileLocker("svc", "alice")
	require.NoError(t, err)
	want, err := os.UserCacheDir()
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("svc\x00alice"))
	assert.Equal(t, filepath.Join(want, "tokenrefresh", hex.EncodeToString(sum[:])[:16]+".lock"), l.Path())

	other, err := NewFileLocker("svc", "bob")
	require.NoError(t, err)
	assert.NotEqual(t, l.Path(), other.Path())

	unlock, err := l.Lock(t.Context())
	require.NoError(t, err)
	require.NoError(t, unlock())
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Dir(l.Path()))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	}
}

func TestFileLockerExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, b := NewFileLockerAt(path), NewFileLockerAt(path)

	unlock, err := a.Lock(t.Context())
	require.NoError(t, err)

	for name, l := range map[string]*FileLocker{"same locker": a, "other locker, same file": b} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err := l.Lock(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.Contains(t, err.Error(), path)
	}

	require.NoError(t, unlock())
	require.NoError(t, unlock(), "a second unlock is harmless")
	unlock, err = b.Lock(t.Context())
	require.NoError(t, err, "the lock is free once released")
	require.NoError(t, unlock())
}

func TestFileLockerWaiterGetsLockOnRelease(t *testing.T) {
	l := NewFileLockerAt(filepath.Join(t.TempDir(), "x.lock"))
	unlock, err := l.Lock(t.Context())
	require.NoError(t, err)

	got := make(chan error, 1)
	go func() {
		u, err := NewFileLockerAt(l.Path()).Lock(t.Context())
		if err == nil {
			err = u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned while the lock was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, unlock())
	require.NoError(t, <-got)
}

const lockHelperEnv = "TOKENREFRESH_LOCK_HELPER"

// TestFileLockHelperProcess is the other process of
// TestFileLockerAcrossProcesses: it tries the lock once with a short
// deadline, reports, waits for a line on stdin, then takes the lock.
func TestFileLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process for TestFileLockerAcrossProcesses")
	}
	l := NewFileLockerAt(path)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := l.Lock(ctx)
	cancel()
	fmt.Println("first:", err != nil)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := l.Lock(ctx)
	if err == nil {
		err = unlock()
	}
	fmt.Println("second:", err)
	os.Exit(0) // before TestMain's leak check, which is the parent's job
}

func TestFileLockerAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := NewFileLockerAt(path).Lock(t.Context())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	out := bufio.NewReader(stdout)

	line, err := out.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first: true\n", line, "the other process must not get a held lock")

	require.NoError(t, unlock())
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	line, err = out.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "second: <nil>\n", line, "the other process gets the released lock")
	require.NoError(t, cmd.Wait())
}
