package tokenrefresh

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"golang.org/x/oauth2"
)

// This file holds the pure, I/O-free encoding shared by KeyringStore and
// FileStore, kept separate so that it can be fuzzed on its own.

// tokenFormatVersion is bumped on any incompatible change to storedToken, so
// that an old binary refuses a newer token instead of misreading it.
const tokenFormatVersion = 1

// maxTokenJSON bounds a decoded token, so that a corrupt or hostile store
// (a deflate bomb) cannot make Load allocate without limit.
const maxTokenJSON = 1 << 20

// storedToken is the versioned JSON form of a token, the file format of
// FileStore and, compressed, the payload of KeyringStore.
type storedToken struct {
	Version      int            `json:"v"`
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type,omitempty"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	Expiry       time.Time      `json:"expiry,omitzero"`
	Extra        map[string]any `json:"extra,omitempty"`
}

// defaultExtraFields are the token response fields kept by default: an
// OpenID Connect ID token and the granted scope are what clients most often
// need after a restart.
func defaultExtraFields() []string { return []string{"id_token", "scope"} }

// encodeToken returns the versioned JSON form of tok. oauth2.Token cannot
// list its extra fields, so only those named in extraNames are kept.
func encodeToken(tok *oauth2.Token, extraNames []string) ([]byte, error) {
	if tok == nil {
		return nil, errorf("cannot store a nil token")
	}
	if tok.AccessToken == "" {
		return nil, errorf("cannot store a token without an access token")
	}
	st := storedToken{
		Version:      tokenFormatVersion,
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}
	for _, name := range extraNames {
		v := tok.Extra(name)
		if v == nil {
			continue
		}
		if st.Extra == nil {
			st.Extra = make(map[string]any, len(extraNames))
		}
		st.Extra[name] = v
	}
	b, err := json.Marshal(st)
	if err != nil {
		// json's errors name types and positions, never string contents.
		return nil, errorf("encode token: %w", err)
	}
	return b, nil
}

// decodeToken parses the output of encodeToken. It never returns a token
// with an empty access token without an error.
func decodeToken(data []byte) (*oauth2.Token, error) {
	var st storedToken
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: token JSON (%d bytes): %w", ErrTokenCorrupt, len(data), err)
	}
	if st.Version != tokenFormatVersion {
		return nil, fmt.Errorf("%w: token format version %d, this build reads version %d",
			ErrTokenCorrupt, st.Version, tokenFormatVersion)
	}
	if st.AccessToken == "" {
		return nil, fmt.Errorf("%w: token has no access token", ErrTokenCorrupt)
	}
	tok := &oauth2.Token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		Expiry:       st.Expiry,
	}
	if len(st.Extra) > 0 {
		tok = tok.WithExtra(st.Extra)
	}
	return tok, nil
}

// encodePayload compresses token JSON and encodes it as base64 text, which
// every keyring backend stores unchanged. Tokens are mostly base64url JWTs,
// which deflate shrinks by about a quarter, undoing most of the base64 cost.
func encodePayload(plain []byte) (string, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", errorf("compress token: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return "", errorf("compress token: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", errorf("compress token: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// decodePayload reverses encodePayload, refusing output over maxTokenJSON.
func decodePayload(payload string) ([]byte, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64: %w", ErrTokenCorrupt, err)
	}
	r := flate.NewReader(bytes.NewReader(raw))
	defer r.Close()
	plain, err := io.ReadAll(io.LimitReader(r, maxTokenJSON+1))
	if err != nil {
		return nil, fmt.Errorf("%w: payload does not decompress: %w", ErrTokenCorrupt, err)
	}
	if len(plain) > maxTokenJSON {
		return nil, fmt.Errorf("%w: payload decompresses to more than %d bytes", ErrTokenCorrupt, maxTokenJSON)
	}
	return plain, nil
}

// checksum is the manifest's integrity check over the stored payload text.
func checksum(payload string) string {
	sum := sha256.Sum256([]byte(payload))
	return hex.EncodeToString(sum[:])
}
