package tokenrefresh

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A keyring token is one manifest item under the account name, and for
// tokens too big for one item, chunk items named after the account and a
// per-save generation. Chunks are written before the manifest that points at
// them, so an interrupted save leaves the previous manifest and its chunks
// intact.

// manifestVersion is bumped on any incompatible change to manifest.
const manifestVersion = 1

// itemBudget bounds len(service)+len(user)+len(value) of every keyring item.
// Windows' CredWrite takes at most 2,560 bytes of secret; macOS' security -i
// takes a 4,095-byte command line, into which go-keyring writes service, user
// and the base64 of the secret (go-keyring documents ~3,000 raw bytes). 2,400
// leaves room for quoting and prefixes on both.
const itemBudget = 2400

// maxChunks bounds how many items one token may use: about 140 KB of
// compressed payload, far above real tokens, and a cap on what a corrupt
// manifest can make Load fetch.
const maxChunks = 64

// minChunk is the smallest useful chunk; below it, the service and account
// names are too long for chunking to help.
const minChunk = 256

// genLen is the length of a generation: 8 random bytes in hex.
const genLen = 16

// manifest says where a token's payload is and how to verify it.
type manifest struct {
	Version int    `json:"v"`
	Gen     string `json:"gen,omitempty"`    // chunk generation; empty when inline
	Chunks  int    `json:"chunks,omitempty"` // number of chunks; 0 when inline
	Size    int    `json:"size"`             // payload length in bytes
	SHA256  string `json:"sha256"`           // hex SHA-256 of the payload
	Data    string `json:"data,omitempty"`   // the payload itself, when small
}

// validate checks m's invariants; both codec directions call it, so nothing
// invalid is ever written or accepted.
func (m *manifest) validate() error {
	switch {
	case m.Version != manifestVersion:
		return fmt.Errorf("manifest version %d, this build reads version %d", m.Version, manifestVersion)
	case !isLowerHex(m.SHA256, 64):
		return fmt.Errorf("manifest checksum is not a hex SHA-256")
	case m.Size < 1 || m.Size > maxChunks*itemBudget:
		return fmt.Errorf("manifest payload size %d out of range", m.Size)
	case m.Data != "":
		if m.Gen != "" || m.Chunks != 0 {
			return fmt.Errorf("manifest has both inline data and chunks")
		}
		if len(m.Data) != m.Size {
			return fmt.Errorf("inline payload is %d bytes, manifest says %d", len(m.Data), m.Size)
		}
		if checksum(m.Data) != m.SHA256 {
			return fmt.Errorf("inline payload checksum mismatch")
		}
	default:
		if !isLowerHex(m.Gen, genLen) {
			return fmt.Errorf("manifest generation is not %d hex digits", genLen)
		}
		if m.Chunks < 1 || m.Chunks > maxChunks || m.Chunks > m.Size {
			return fmt.Errorf("manifest chunk count %d out of range", m.Chunks)
		}
	}
	return nil
}

// encodeManifest returns the stored form of m.
func encodeManifest(m manifest) (string, error) {
	if err := m.validate(); err != nil {
		return "", errorf("encode manifest: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", errorf("encode manifest: %w", err)
	}
	return string(b), nil
}

// decodeManifest parses and validates a stored manifest.
func decodeManifest(s string) (manifest, error) {
	var m manifest
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return manifest{}, fmt.Errorf("%w: manifest (%d bytes) is not JSON: %w", ErrTokenCorrupt, len(s), err)
	}
	if err := m.validate(); err != nil {
		return manifest{}, fmt.Errorf("%w: %w", ErrTokenCorrupt, err)
	}
	return m, nil
}

// chunkUser names chunk i of a generation. The "#" keeps chunk names apart
// from plain account names in keyring listings.
func chunkUser(account, gen string, i int) string {
	return account + "#" + gen + "." + strconv.Itoa(i)
}

// layout is a payload laid out as keyring items.
type layout struct {
	manifest string   // value stored under the account
	chunks   []string // values stored under chunkUser(account, gen, i)
}

// layoutPayload splits payload into items that each fit itemBudget,
// inlining it in the manifest when it fits there.
func layoutPayload(service, account, payload, gen string) (layout, error) {
	m := manifest{Version: manifestVersion, Size: len(payload), SHA256: checksum(payload), Data: payload}
	if inline, err := encodeManifest(m); err == nil && fits(service, account, inline) {
		return layout{manifest: inline}, nil
	}
	names := len(service) + len(chunkUser(account, gen, maxChunks-1))
	room := itemBudget - names
	if room < minChunk {
		return layout{}, fmt.Errorf("%w: service and account names take %d of the %d bytes a keyring item may hold",
			ErrTokenTooLarge, names, itemBudget)
	}
	n := (len(payload) + room - 1) / room
	if n > maxChunks {
		return layout{}, fmt.Errorf("%w: compressed token is %d bytes, over the %d-byte limit of %d chunks",
			ErrTokenTooLarge, len(payload), maxChunks*room, maxChunks)
	}
	chunks := make([]string, 0, n)
	for rest := payload; rest != ""; {
		k := min(room, len(rest))
		chunks = append(chunks, rest[:k])
		rest = rest[k:]
	}
	m = manifest{Version: manifestVersion, Gen: gen, Chunks: n, Size: len(payload), SHA256: checksum(payload)}
	head, err := encodeManifest(m)
	if err != nil {
		return layout{}, err
	}
	if !fits(service, account, head) {
		return layout{}, fmt.Errorf("%w: service and account names leave no room for the %d-byte manifest",
			ErrTokenTooLarge, len(head))
	}
	return layout{manifest: head, chunks: chunks}, nil
}

// joinChunks reassembles and verifies a chunked payload.
func joinChunks(m manifest, chunks []string) (string, error) {
	if len(chunks) != m.Chunks {
		return "", fmt.Errorf("%w: got %d chunks, manifest says %d", ErrTokenCorrupt, len(chunks), m.Chunks)
	}
	payload := strings.Join(chunks, "")
	if len(payload) != m.Size {
		return "", fmt.Errorf("%w: chunks hold %d bytes, manifest says %d", ErrTokenCorrupt, len(payload), m.Size)
	}
	if checksum(payload) != m.SHA256 {
		return "", fmt.Errorf("%w: payload checksum mismatch (generation %s)", ErrTokenCorrupt, m.Gen)
	}
	return payload, nil
}

func fits(service, user, value string) bool {
	return len(service)+len(user)+len(value) <= itemBudget
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
