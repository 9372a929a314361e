package tokenrefresh

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "token.json")
	s := NewFileStore(path)
	tok := persistTestToken(t, 16<<10)

	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	require.NoError(t, s.Save(t.Context(), tok))
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, tok, got, "id_token", "scope")

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		di, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	}
	// The file is the keyring payload's versioned JSON, uncompressed.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	fromCodec, err := decodeToken(data)
	require.NoError(t, err)
	requireSameToken(t, tok, fromCodec, "id_token", "scope")
}

func TestFileStoreReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	s := NewFileStore(path)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				assert.NoError(t, s.Save(t.Context(), persistTestToken(t, 4<<10)))
				_, err := s.Load(t.Context())
				assert.NoError(t, err, "a reader never sees a torn file")
			}
		})
	}
	wg.Wait()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files are left behind")
	assert.Equal(t, "token.json", entries[0].Name())
}

func TestFileStoreRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows files have ACLs, not mode bits")
	}
	path := filepath.Join(t.TempDir(), "token.json")
	s := NewFileStore(path)
	tok := persistTestToken(t, 100)
	require.NoError(t, s.Save(t.Context(), tok))
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o602} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := s.Load(t.Context())
		require.ErrorIs(t, err, ErrTokenFileInsecure, "mode %04o", mode)
		assert.Contains(t, err.Error(), "chmod 600 "+path)
		requireNoTokenIn(t, err.Error(), tok)
	}
	require.NoError(t, os.Chmod(path, 0o600))
	_, err := s.Load(t.Context())
	require.NoError(t, err)
}

func TestFileStoreErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	s := NewFileStore(path)

	require.NoError(t, os.WriteFile(path, []byte(`{"v":1,"access_token":""}`), 0o600))
	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrTokenCorrupt)
	assert.Contains(t, err.Error(), path)

	require.NoError(t, s.Delete(t.Context()))
	assert.NoFileExists(t, path)
	require.NoError(t, s.Delete(t.Context()), "deleting an empty store is not an error")

	require.NoError(t, os.Mkdir(path, 0o700))
	_, err = s.Load(t.Context())
	require.Error(t, err, "a directory is not a token file")

	ctx, cancel := contextCanceled(t)
	defer cancel()
	_, err = NewFileStore(filepath.Join(dir, "other")).Load(ctx)
	require.Error(t, err)
}
