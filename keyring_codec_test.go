package tokenrefresh

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestTokenCodecRoundTrip(t *testing.T) {
	for name, tok := range map[string]*oauth2.Token{
		"full":      persistTestToken(t, 2000),
		"minimal":   {AccessToken: "a"},
		"no expiry": {AccessToken: "a", RefreshToken: "r", TokenType: "DPoP"},
		"zone":      {AccessToken: "a", Expiry: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := encodeToken(tok, defaultExtraFields())
			require.NoError(t, err)
			assert.Contains(t, string(data), `"v":1`)
			got, err := decodeToken(data)
			require.NoError(t, err)
			requireSameToken(t, tok, got, defaultExtraFields()...)

			payload, err := encodePayload(data)
			require.NoError(t, err)
			plain, err := decodePayload(payload)
			require.NoError(t, err)
			assert.Equal(t, data, plain)
		})
	}
}

func TestEncodeTokenRejectsUnusableTokens(t *testing.T) {
	_, err := encodeToken(nil, nil)
	require.Error(t, err)
	_, err = encodeToken(&oauth2.Token{RefreshToken: "r"}, nil)
	require.Error(t, err)
}

func TestDecodeTokenRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":               ``,
		"not json":            `{"v":1,`,
		"no version":          `{"access_token":"a"}`,
		"future version":      `{"v":2,"access_token":"a"}`,
		"empty access token":  `{"v":1,"access_token":""}`,
		"no access token":     `{"v":1,"refresh_token":"r"}`,
		"wrong type":          `{"v":1,"access_token":7}`,
		"bad expiry":          `{"v":1,"access_token":"a","expiry":"tomorrow"}`,
		"json null":           `null`,
		"array":               `[1]`,
		"extra is not object": `{"v":1,"access_token":"a","extra":[1]}`,
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := decodeToken([]byte(in))
			require.ErrorIs(t, err, ErrTokenCorrupt)
			assert.Nil(t, tok)
		})
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	var bomb bytes.Buffer
	w, _ := flate.NewWriter(&bomb, flate.BestCompression)
	_, _ = w.Write(bytes.Repeat([]byte{'a'}, maxTokenJSON+10))
	require.NoError(t, w.Close())

	for name, in := range map[string]string{
		"not base64":       "!!!",
		"not deflate":      base64.StdEncoding.EncodeToString([]byte("plain text, not deflate")),
		"truncated":        base64.StdEncoding.EncodeToString(bomb.Bytes()[:20]),
		"decompresses big": base64.StdEncoding.EncodeToString(bomb.Bytes()),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodePayload(in)
			require.ErrorIs(t, err, ErrTokenCorrupt)
		})
	}
}

func TestManifestCodec(t *testing.T) {
	payload := strings.Repeat("QUJD", 1000)
	gen := strings.Repeat("ab", genLen/2)

	lay, err := layoutPayload(testService, testAccount, payload, gen)
	require.NoError(t, err)
	require.Len(t, lay.chunks, 2)
	m, err := decodeManifest(lay.manifest)
	require.NoError(t, err)
	assert.Equal(t, manifest{Version: 1, Gen: gen, Chunks: 2, Size: len(payload), SHA256: checksum(payload)}, m)
	joined, err := joinChunks(m, lay.chunks)
	require.NoError(t, err)
	assert.Equal(t, payload, joined)
	for i, c := range lay.chunks {
		assert.LessOrEqual(t, len(testService)+len(chunkUser(testAccount, gen, i))+len(c), itemBudget)
	}

	_, err = joinChunks(m, []string{lay.chunks[1], lay.chunks[0]})
	require.ErrorIs(t, err, ErrTokenCorrupt, "chunks out of order fail the checksum")
	_, err = joinChunks(m, lay.chunks[:1])
	require.ErrorIs(t, err, ErrTokenCorrupt)

	small, err := layoutPayload(testService, testAccount, "QUJD", gen)
	require.NoError(t, err)
	assert.Empty(t, small.chunks)
	m, err = decodeManifest(small.manifest)
	require.NoError(t, err)
	assert.Equal(t, "QUJD", m.Data)
}

func TestDecodeManifestRejects(t *testing.T) {
	sum := checksum("QUJD")
	gen := strings.Repeat("0", genLen)
	for name, in := range map[string]string{
		"not json":               `{`,
		"future version":         `{"v":2,"size":4,"sha256":"` + sum + `","data":"QUJD"}`,
		"bad checksum":           `{"v":1,"size":4,"sha256":"` + checksum("x") + `","data":"QUJD"}`,
		"short checksum":         `{"v":1,"size":4,"sha256":"abc","data":"QUJD"}`,
		"wrong size":             `{"v":1,"size":5,"sha256":"` + sum + `","data":"QUJD"}`,
		"data and chunks":        `{"v":1,"size":4,"sha256":"` + sum + `","data":"QUJD","gen":"` + gen + `","chunks":1}`,
		"no gen":                 `{"v":1,"size":4,"sha256":"` + sum + `","chunks":1}`,
		"upper-case gen":         `{"v":1,"size":4,"sha256":"` + sum + `","gen":"` + strings.Repeat("A", genLen) + `","chunks":1}`,
		"zero chunks":            `{"v":1,"size":4,"sha256":"` + sum + `","gen":"` + gen + `","chunks":0}`,
		"too many chunks":        `{"v":1,"size":99999,"sha256":"` + sum + `","gen":"` + gen + `","chunks":65}`,
		"more chunks than bytes": `{"v":1,"size":2,"sha256":"` + sum + `","gen":"` + gen + `","chunks":3}`,
		"zero size":              `{"v":1,"size":0,"sha256":"` + sum + `","gen":"` + gen + `","chunks":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeManifest(in)
			require.ErrorIs(t, err, ErrTokenCorrupt)
		})
	}
}

// The decoders face whatever another program or version left in the
// keyring or file; these properties must hold for any input.

func FuzzDecodeToken(f *testing.F) {
	f.Add([]byte(`{"v":1,"access_token":"a","expiry":"2030-01-02T03:04:05Z","extra":{"scope":"x"}}`))
	f.Add([]byte(`{"v":1,"access_token":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := decodeToken(data)
		if err != nil {
			return
		}
		require.NotEmpty(t, tok.AccessToken)
		again, err := encodeToken(tok, []string{"id_token", "scope"})
		if err != nil {
			return // an expiry outside years 0-9999 decodes but cannot encode
		}
		tok2, err := decodeToken(again)
		require.NoError(t, err)
		requireSameToken(t, tok, tok2, "id_token", "scope")
	})
}

func FuzzDecodeManifest(f *testing.F) {
	lay, _ := layoutPayload(testService, testAccount, strings.Repeat("QUJD", 1000), strings.Repeat("ab", genLen/2))
	f.Add(lay.manifest)
	small, _ := layoutPayload(testService, testAccount, "QUJD", strings.Repeat("ab", genLen/2))
	f.Add(small.manifest)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeManifest(s)
		if err != nil {
			return
		}
		again, err := encodeManifest(m)
		require.NoError(t, err)
		m2, err := decodeManifest(again)
		require.NoError(t, err)
		require.Equal(t, m, m2)
	})
}

func FuzzDecodePayload(f *testing.F) {
	p, _ := encodePayload([]byte(`{"v":1,"access_token":"a"}`))
	f.Add(p)
	f.Fuzz(func(t *testing.T, s string) {
		plain, err := decodePayload(s)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(plain), maxTokenJSON)
		if tok, err := decodeToken(plain); err == nil {
			require.NotEmpty(t, tok.AccessToken)
		}
	})
}
