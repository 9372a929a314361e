package tokenrefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenResponse bounds what is read of a token endpoint's answer, as
// x/oauth2 does, so a broken server cannot exhaust memory.
const maxTokenResponse = 1 << 20

// JSONRefresher returns a Refresher for the plain JSON refresh APIs that many
// in-house servers have: it POSTs {"refresh_token":"..."} to endpoint and
// reads {"access_token":"...","refresh_token":"...","expires_in":N,
// "token_type":"..."}, of which only access_token is required.
//
// A 400 or 401 answer rejects the refresh token for good, unless its OAuth2
// error code blames the client's configuration (invalid_client,
// invalid_request and the like), which a new login would not cure, or says
// the failure is temporary (server_error, temporarily_unavailable), or it is
// an HTML page from a proxy. A 429 or 5xx
// answer, a timeout or a connection error is transient. Any other answer,
// or one that is not such JSON, is an error that keeps the refresh token.
// If client is nil, http.DefaultClient is used.
func JSONRefresher(endpoint string, client *http.Client) Refresher {
	if client == nil {
		client = http.DefaultClient
	}
	return RefresherFunc(func(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
		body, err := json.Marshal(struct {
			RefreshToken string `json:"refresh_token"`
		}{current.RefreshToken})
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, errorf("JSONRefresher: bad endpoint: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, transient(0, "", 0, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
		if err != nil {
			return nil, transient(resp.StatusCode, "", 0, fmt.Errorf("read token response: %w", err))
		}
		return jsonAnswer(resp, data, time.Now(), current.RefreshToken)
	})
}

// jsonAnswer interprets a JSON refresh endpoint's answer to a request that
// sent the refresh token sent.
func jsonAnswer(resp *http.Response, data []byte, now time.Time, sent string) (*oauth2.Token, error) {
	status := resp.StatusCode
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnauthorized:
		code, desc := errorFields(data, sent)
		cause := &endpointError{status: status, code: code, description: desc}
		if configurationError(code) || temporaryError(code) || fromProxy(resp, code) {
			return nil, transient(status, code, 0, cause)
		}
		return nil, permanent(status, code, cause)
	case status == http.StatusTooManyRequests || status >= 500:
		code, desc := errorFields(data, sent)
		retry := parseRetryAfter(resp.Header.Get("Retry-After"), now)
		return nil, transient(status, code, retry, &endpointError{status: status, code: code, description: desc})
	case status != http.StatusOK:
		code, desc := errorFields(data, sent)
		return nil, transient(status, code, 0, &endpointError{status: status, code: code, description: desc})
	}
	if len(data) > maxTokenResponse {
		return nil, transient(status, "", 0, fmt.Errorf("token response larger than %d bytes", maxTokenResponse))
	}
	tok, err := decodeJSONToken(data, now)
	if err != nil {
		// Servers that forget their Content-Type still send JSON, so the
		// type is only the explanation when the body is not JSON.
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			err = fmt.Errorf("token response is %s, not JSON", clip(mt, 60))
		}
		return nil, transient(status, "", 0, err)
	}
	return tok, nil
}

// fromProxy reports an error page, as proxies and firewalls send, rather
// than the token endpoint's own verdict on the refresh token.
func fromProxy(resp *http.Response, code string) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return code == "" && mt == "text/html"
}

// jsonToken is the wire form of a JSON refresh answer.
type jsonToken struct {
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    seconds `json:"expires_in"`
}

// seconds accepts expires_in as a number or a numeric string, as servers
// send both.
type seconds int64

const maxExpiresIn = float64(math.MaxInt64 / int64(time.Second))

func (s *seconds) UnmarshalJSON(b []byte) error {
	str := strings.Trim(string(b), `"`)
	if str == "" || str == "null" {
		*s = 0
		return nil
	}
	f, err := strconv.ParseFloat(str, 64)
	// Negated so that NaN fails too; the bound keeps expires_in*time.Second
	// within a time.Duration (292 years).
	if err != nil || !(f >= 0 && f <= maxExpiresIn) {
		return errors.New("expires_in is not a number of seconds")
	}
	*s = seconds(f)
	return nil
}

// decodeJSONToken decodes a JSON refresh answer. It never returns a token
// without an access token.
func decodeJSONToken(data []byte, now time.Time) (*oauth2.Token, error) {
	var jt jsonToken
	if err := json.Unmarshal(data, &jt); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("token response is not valid JSON (at byte %d)", se.Offset)
		}
		return nil, fmt.Errorf("token response: %w", err)
	}
	if jt.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	tok := &oauth2.Token{
		AccessToken:  jt.AccessToken,
		RefreshToken: jt.RefreshToken,
		TokenType:    jt.TokenType,
		ExpiresIn:    int64(jt.ExpiresIn),
	}
	if jt.ExpiresIn > 0 {
		tok.Expiry = now.Add(time.Duration(jt.ExpiresIn) * time.Second)
	}
	return tok, nil
}

// errorFields reads the OAuth2-style error and error_description of an
// error answer, if it has them. They are server text, clipped, never the
// whole body, which might echo what was sent; and should they echo the
// refresh token sent, it is masked.
func errorFields(data []byte, sent string) (code, description string) {
	var e struct {
		Error       any    `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &e) != nil {
		return "", ""
	}
	if s, ok := e.Error.(string); ok {
		code = clip(redact(s, sent), 64)
	}
	return code, clip(redact(e.Description, sent), 200)
}

// redact masks secrets in s.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
