package redisstore

import (
	"errors"
	"fmt"
)

// ErrDecrypt reports a stored token that this Store cannot read: it was
// sealed under another encryption key, it is sealed and the Store has no
// key, the Store has a key and the value is not sealed, or it is corrupt.
// Save refuses to overwrite such a value, so a replica with the wrong key
// cannot destroy the fleet's session.
var ErrDecrypt = errors.New("redisstore: cannot decrypt stored token")

// errorf is fmt.Errorf with the package prefix. Callers must never format a
// token value into it.
func errorf(format string, args ...any) error {
	return fmt.Errorf("redisstore: "+format, args...)
}
