package redisstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// sealedMagic starts every encrypted value. A plain value is a JSON object
// and starts with '{', so the two can never be confused.
const sealedMagic = "\x00trgcm1"

// record is the stored form of a token. The expiry is absolute, so a token
// read back carries no expires_in that a Source would count from now.
type record struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// codec turns tokens into stored values and back.
type codec struct {
	aead  cipher.AEAD // nil without encryption
	aad   []byte      // the Redis key: a value copied to another key won't open
	fpKey []byte      // HMAC key for change-notification fingerprints
}

func newCodec(redisKey string, encKey []byte) (*codec, error) {
	c := &codec{aad: []byte(redisKey)}
	seed := []byte("redisstore fingerprint\x00" + redisKey)
	if encKey != nil {
		if len(encKey) != 32 {
			return nil, errorf("encryption key is %d bytes, want 32 (AES-256)", len(encKey))
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, errorf("encryption key: %w", err)
		}
		if c.aead, err = cipher.NewGCM(block); err != nil {
			return nil, errorf("encryption key: %w", err)
		}
		seed = append(seed, encKey...)
	}
	sum := sha256.Sum256(seed)
	c.fpKey = sum[:]
	return c, nil
}

// encode returns the stored value for tok.
func (c *codec) encode(tok *oauth2.Token) ([]byte, error) {
	data, err := json.Marshal(record{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	})
	if err != nil {
		return nil, errorf("encode token: %w", err)
	}
	if c.aead == nil {
		return data, nil
	}
	out := make([]byte, len(sealedMagic)+c.aead.NonceSize(), len(sealedMagic)+c.aead.NonceSize()+len(data)+c.aead.Overhead())
	copy(out, sealedMagic)
	nonce := out[len(sealedMagic):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, errorf("encrypt token: %w", err)
	}
	return c.aead.Seal(out, nonce, data, c.aad), nil
}

// decode reads a stored value. It fails with ErrDecrypt when the value is
// sealed under another key, sealed while c has no key, or plain while c has
// one. Its errors never contain the value.
func (c *codec) decode(v []byte) (*oauth2.Token, error) {
	data, err := c.open(v)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.AccessToken == "" {
		return nil, fmt.Errorf("stored token is not a valid token record: %w", ErrDecrypt)
	}
	return &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken, Expiry: r.Expiry}, nil
}

// readable reports whether c can decode v. Save uses it to refuse to
// overwrite a value sealed under another key.
func (c *codec) readable(v []byte) bool {
	_, err := c.decode(v)
	return err == nil
}

func (c *codec) open(v []byte) ([]byte, error) {
	sealed := bytes.HasPrefix(v, []byte(sealedMagic))
	switch {
	case c.aead == nil && sealed:
		return nil, fmt.Errorf("stored token is encrypted and this store has no key: %w", ErrDecrypt)
	case c.aead == nil:
		return v, nil
	case !sealed:
		return nil, fmt.Errorf("stored token is not encrypted but this store has a key: %w", ErrDecrypt)
	}
	rest := v[len(sealedMagic):]
	if len(rest) < c.aead.NonceSize()+c.aead.Overhead() {
		return nil, fmt.Errorf("stored token is truncated: %w", ErrDecrypt)
	}
	nonce, ct := rest[:c.aead.NonceSize()], rest[c.aead.NonceSize():]
	data, err := c.aead.Open(nil, nonce, ct, c.aad)
	if err != nil {
		return nil, fmt.Errorf("stored token does not open with this key: %w", ErrDecrypt)
	}
	return data, nil
}

// fingerprint identifies an access token in change notifications without
// revealing it: a keyed hash, truncated to 64 bits.
func (c *codec) fingerprint(accessToken string) string {
	m := hmac.New(sha256.New, c.fpKey)
	m.Write([]byte(accessToken))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
