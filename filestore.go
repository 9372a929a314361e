package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/oauth2"
)

// FileStore is a Store in a file, for machines without an OS keyring
// (servers, containers, CI). The token is readable by anyone who can read
// the file, so prefer KeyringStore, possibly with WithFileFallback.
//
// The file holds the same versioned JSON as a KeyringStore's payload. It is
// written atomically with mode 0600 (in a directory created 0700), and Load
// refuses a file that group or others may access. FileStore is safe for
// concurrent use; processes sharing the file should coordinate refreshes
// with a Locker.
type FileStore struct {
	path   string
	extras []string
}

type fileConfig struct {
	extras []string
}

// NewFileStore returns a Store that keeps the token in the file at path.
// The file and its directory are created on the first Save.
func NewFileStore(path string, opts ...FileStoreOption) *FileStore {
	c := fileConfig{extras: defaultExtraFields()}
	for _, o := range opts {
		o.applyFile(&c)
	}
	return &FileStore{path: path, extras: c.extras}
}

// Path returns the token file's path.
func (s *FileStore) Path() string { return s.path }

// Load implements Store.
func (s *FileStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fileError("load", err)
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s.fileError("load", ErrNoToken)
	}
	if err != nil {
		return nil, s.fileError("load", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, s.fileError("load", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, s.fileError("load", fmt.Errorf("not a regular file (%v)", fi.Mode().Type()))
	}
	// Windows has no mode bits to check; the file inherits the ACL of the
	// user's profile directory.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, s.fileError("load", fmt.Errorf("%w: mode %04o lets group or others access it; fix with: chmod 600 %s",
			ErrTokenFileInsecure, fi.Mode().Perm(), s.path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenJSON+1))
	if err != nil {
		return nil, s.fileError("load", err)
	}
	if len(data) > maxTokenJSON {
		return nil, s.fileError("load", fmt.Errorf("%w: file is over %d bytes", ErrTokenCorrupt, maxTokenJSON))
	}
	tok, err := decodeToken(data)
	if err != nil {
		return nil, s.fileError("load", err)
	}
	return tok, nil
}

// Save implements Store. It replaces the file atomically: a crash leaves
// either the old token or the new one, never a torn file.
func (s *FileStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if err := ctx.Err(); err != nil {
		return s.fileError("save", err)
	}
	data, err := encodeToken(tok, s.extras)
	if err != nil {
		return s.fileError("save", err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s.fileError("save", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*.tmp")
	if err != nil {
		return s.fileError("save", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := writeSynced(tmp, data); err != nil {
		return s.fileError("save", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return s.fileError("save", err)
	}
	return s.fileError("save", syncDir(dir))
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return s.fileError("delete", err)
	}
	err := os.Remove(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.fileError("delete", err)
	}
	return s.fileError("delete", syncDir(filepath.Dir(s.path)))
}

// fileError names the file in err; nil stays nil.
func (s *FileStore) fileError(op string, err error) error {
	if err == nil {
		return nil
	}
	return describe(err, "token file %s (%s)", s.path, op)
}

// writeSynced writes data to f with mode 0600, flushes it to disk and closes f.
func writeSynced(f *os.File, data []byte) error {
	// CreateTemp already uses 0600; Chmod makes it independent of that detail.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir flushes a directory entry change (rename, remove) to disk, so that
// a crash after Save returns cannot bring the old token back.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
