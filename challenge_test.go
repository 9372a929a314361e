package tokenrefresh

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// chP builds a challenge with parameters, for the tables below.
func chP(scheme string, kv ...string) challenge {
	c := challenge{scheme: scheme}
	if len(kv) > 0 {
		c.params = make(map[string]string)
		for i := 0; i < len(kv); i += 2 {
			c.params[kv[i]] = kv[i+1]
		}
	}
	return c
}

// chT builds a challenge with a token68.
func chT(scheme, token68 string) challenge {
	return challenge{scheme: scheme, token68: token68}
}

func TestParseChallenges(t *testing.T) {
	const spnego = "YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCqKCAUAEggE8TlRMTVNTUAACAAAADAAMADgAAAAVgonifQ=="
	tests := []struct {
		name   string
		values []string
		want   []challenge
	}{
		// RFC 6750 section 3.
		{"rfc6750 realm", []string{`Bearer realm="example"`},
			[]challenge{chP("bearer", "realm", "example")}},
		{"rfc6750 expired", []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			[]challenge{chP("bearer", "realm", "example", "error", "invalid_token", "error_description", "The access token expired")}},
		{"rfc6750 scope", []string{`Bearer error="insufficient_scope", scope="read write"`},
			[]challenge{chP("bearer", "error", "insufficient_scope", "scope", "read write")}},
		{"bare scheme", []string{`Bearer`}, []challenge{chP("bearer")}},

		// Several challenges, in one value and across values.
		{"basic then bare bearer", []string{`Basic realm="x", Bearer`},
			[]challenge{chP("basic", "realm", "x"), chP("bearer")}},
		{"dpop then bearer", []string{`DPoP algs="ES256 PS256", Bearer realm="a"`},
			[]challenge{chP("dpop", "algs", "ES256 PS256"), chP("bearer", "realm", "a")}},
		{"across values", []string{`DPoP algs="ES256"`, `Bearer realm="a", error="invalid_token"`},
			[]challenge{chP("dpop", "algs", "ES256"), chP("bearer", "realm", "a", "error", "invalid_token")}},
		{"bare schemes", []string{`Negotiate, NTLM`}, []challenge{chP("negotiate"), chP("ntlm")}},
		{"rfc9110 example", []string{`Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\""`},
			[]challenge{chP("basic", "realm", "simple"), chP("newauth", "realm", "apps", "type", "1", "title", `Login to "apps"`)}},
		{"bearer error then basic", []string{`Bearer error="invalid_token", error_description="expired", Basic realm="api"`},
			[]challenge{chP("bearer", "error", "invalid_token", "error_description", "expired"), chP("basic", "realm", "api")}},
		{"parameterless then parameters", []string{`Negotiate, Basic realm="corp"`, `NTLM`},
			[]challenge{chP("negotiate"), chP("basic", "realm", "corp"), chP("ntlm")}},

		// token68 (RFC 9110 section 11.2).
		{"negotiate token68", []string{"Negotiate " + spnego}, []challenge{chT("negotiate", spnego)}},
		{"basic token68", []string{`Basic abc=`}, []challenge{chT("basic", "abc=")}},
		{"token68 all chars", []string{`X a-._~+/Z09==`}, []challenge{chT("x", "a-._~+/Z09==")}},
		{"token68 then challenge", []string{`Negotiate abc==, Basic realm="x"`},
			[]challenge{chT("negotiate", "abc=="), chP("basic", "realm", "x")}},
		{"token68 trailing space", []string{"Negotiate abc== \t, NTLM"},
			[]challenge{chT("negotiate", "abc=="), chP("ntlm")}},
		{"token68 without padding", []string{`Negotiate abc`}, []challenge{chT("negotiate", "abc")}},

		// Quoted strings (RFC 9110 section 5.6.4).
		{"quoted pairs", []string{`Bearer realm="a \"quoted\" realm", error_description="back\\slash \x"`},
			[]challenge{chP("bearer", "realm", `a "quoted" realm`, "error_description", `back\slash x`)}},
		{"comma and equals in quotes", []string{`Digest realm="a, b=c", qop="auth, auth-int"`},
			[]challenge{chP("digest", "realm", "a, b=c", "qop", "auth, auth-int")}},
		{"empty quoted", []string{`Bearer realm=""`}, []challenge{chP("bearer", "realm", "")}},
		{"unterminated quote", []string{`Bearer realm="example`}, []challenge{chP("bearer", "realm", "example")}},
		{"unterminated quote swallows the rest", []string{`Bearer realm="x, Basic realm=y`},
			[]challenge{chP("bearer", "realm", "x, Basic realm=y")}},
		{"trailing backslash", []string{`Bearer realm="x\`}, []challenge{chP("bearer", "realm", `x\`)}},

		// Case and spacing.
		{"case insensitive", []string{`BEARER Realm="Example", ERROR="invalid_token"`},
			[]challenge{chP("bearer", "realm", "Example", "error", "invalid_token")}},
		{"mixed case dpop", []string{`dPoP ALGS="ES256"`}, []challenge{chP("dpop", "algs", "ES256")}},
		{"unquoted values", []string{`Bearer realm=example, error=invalid_token`},
			[]challenge{chP("bearer", "realm", "example", "error", "invalid_token")}},
		{"spaces around equals", []string{"Bearer realm = \"x\" ,\terror\t=\tinvalid_token ,"},
			[]challenge{chP("bearer", "realm", "x", "error", "invalid_token")}},
		{"no space after comma", []string{`Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"`},
			[]challenge{chP("bearer", "realm", "https://ghcr.io/token", "service", "ghcr.io", "scope", "repository:user/image:pull")}},
		{"empty list elements", []string{` , Bearer realm="a" ,, error="invalid_token", , Basic`},
			[]challenge{chP("bearer", "realm", "a", "error", "invalid_token"), chP("basic")}},
		{"duplicate parameter keeps first", []string{`Bearer realm="a", REALM="b"`},
			[]challenge{chP("bearer", "realm", "a")}},

		// Nothing, and junk.
		{"nil", nil, nil},
		{"empty value", []string{""}, nil},
		{"blank value", []string{" \t "}, nil},
		{"commas", []string{",,,"}, nil},
		{"equals", []string{"="}, nil},
		{"quote", []string{`"`}, nil},
		{"quoted only", []string{`"Bearer realm=x"`}, nil},
		{"junk before scheme", []string{`"junk", Bearer realm="a"`}, []challenge{chP("bearer", "realm", "a")}},
		{"junk instead of parameter", []string{`Bearer "junk", realm="a"`}, []challenge{chP("bearer", "realm", "a")}},
		{"missing parameter name", []string{`Bearer ="x", error="invalid_token"`}, []challenge{chP("bearer", "error", "invalid_token")}},
		{"non-ascii value", []string{"Bearer realm=\"r\u00e9alm \u2603\", error=invalid_token"},
			[]challenge{chP("bearer", "realm", "r\u00e9alm \u2603", "error", "invalid_token")}},

		// Real servers.
		{"github", []string{`Bearer realm="GitHub"`}, []challenge{chP("bearer", "realm", "GitHub")}},
		{"azure arm", []string{`Bearer authorization_uri="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", error="invalid_token", error_description="The access token is invalid."`},
			[]challenge{chP("bearer", "authorization_uri", "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", "error", "invalid_token", "error_description", "The access token is invalid.")}},
		{"azure graph", []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`},
			[]challenge{chP("bearer", "realm", "", "authorization_uri", "https://login.microsoftonline.com/common/oauth2/authorize", "client_id", "00000003-0000-0000-c000-000000000000")}},
		{"google scope", []string{`Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/cloud-platform"`},
			[]challenge{chP("bearer", "realm", "https://accounts.google.com/", "error", "insufficient_scope", "scope", "https://www.googleapis.com/auth/cloud-platform")}},
		{"keycloak", []string{`Bearer realm="myrealm", error="invalid_token", error_description="Token verification failed"`},
			[]challenge{chP("bearer", "realm", "myrealm", "error", "invalid_token", "error_description", "Token verification failed")}},
		{"dpop nonce rfc9449", []string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			[]challenge{chP("dpop", "error", "use_dpop_nonce", "error_description", "Resource server requires nonce in DPoP proof")}},
		{"digest rfc7616", []string{`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Digest realm="http-auth@example.org", algorithm=MD5`},
			[]challenge{
				chP("digest", "realm", "http-auth@example.org", "qop", "auth, auth-int", "algorithm", "SHA-256",
					"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"),
				chP("digest", "realm", "http-auth@example.org", "algorithm", "MD5"),
			}},
		{"aws style basic", []string{`Basic realm="Restricted", charset="UTF-8"`},
			[]challenge{chP("basic", "realm", "Restricted", "charset", "UTF-8")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChallenges(tt.values)
			assert.Equal(t, tt.want, got)
			chRequireWellFormed(t, got)
		})
	}
}

// TestParseChallengesIsPerValue checks that parsing several header values
// is parsing each and concatenating: no state leaks from one to the next,
// not even an unterminated quoted string.
func TestParseChallengesIsPerValue(t *testing.T) {
	a, b := `Bearer realm="unterminated`, `Basic realm="x"`
	got := parseChallenges([]string{a, b})
	want := append(parseChallenges([]string{a}), parseChallenges([]string{b})...)
	assert.Equal(t, want, got)
	assert.Equal(t, []challenge{chP("bearer", "realm", "unterminated"), chP("basic", "realm", "x")}, got)
}

func TestRefreshMayHelp(t *testing.T) {
	tests := []struct {
		name      string
		tokenType string
		values    []string
		want      bool
	}{
		{"no header", "Bearer", nil, true},
		{"unreadable header", "Bearer", []string{",,,"}, true},
		{"bearer realm", "Bearer", []string{`Bearer realm="example"`}, true},
		{"bearer invalid_token", "Bearer", []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`}, true},
		{"bearer insufficient_scope", "Bearer", []string{`Bearer error="insufficient_scope", scope="read write"`}, false},
		{"insufficient_scope any case", "Bearer", []string{`bearer ERROR=insufficient_scope`}, false},
		{"empty token type is bearer", "", []string{`Bearer error="invalid_token"`}, true},
		{"lower-case token type", "bearer", []string{`BEARER error="invalid_token"`}, true},
		{"dpop only for a bearer token", "Bearer", []string{`DPoP algs="ES256 PS256"`}, false},
		{"basic only for a bearer token", "Bearer", []string{`Basic realm="x"`}, false},
		{"dpop and bearer", "Bearer", []string{`DPoP algs="ES256 PS256", Bearer realm="a"`}, true},
		{"dpop and bearer across values", "Bearer", []string{`DPoP algs="ES256 PS256"`, `Bearer realm="a"`}, true},
		{"dpop and bearer lacking scope", "Bearer", []string{`DPoP algs="ES256", Bearer error="insufficient_scope"`}, false},
		{"dpop token, dpop challenge", "DPoP", []string{`DPoP error="invalid_token"`}, true},
		{"dpop token, bearer challenge", "DPoP", []string{`Bearer realm="a"`}, false},
		{"other scheme's insufficient_scope", "Bearer", []string{`DPoP error="insufficient_scope", Bearer realm="a"`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusUnauthorized, Header: make(http.Header)}
			for _, v := range tt.values {
				resp.Header.Add("WWW-Authenticate", v)
			}
			st := &state{tok: &oauth2.Token{AccessToken: "at", TokenType: tt.tokenType}}
			assert.Equal(t, tt.want, refreshMayHelp(resp, st))
		})
	}
}

// chRequireWellFormed checks what parseChallenges promises of its result.
func chRequireWellFormed(t *testing.T, cs []challenge) {
	t.Helper()
	for _, c := range cs {
		require.True(t, chIsToken(c.scheme), "scheme %q is not a token", c.scheme)
		require.Equal(t, strings.ToLower(c.scheme), c.scheme, "scheme not lower case")
		if c.token68 != "" {
			require.Empty(t, c.params, "challenge %q has both token68 and parameters", c.scheme)
			body := strings.TrimRight(c.token68, "=")
			require.NotEmpty(t, body, "token68 %q is only padding", c.token68)
			for i := 0; i < len(body); i++ {
				require.True(t, isToken68Char(body[i]), "token68 %q has %q", c.token68, body[i])
			}
		}
		if c.params != nil {
			require.NotEmpty(t, c.params, "empty non-nil params")
		}
		for name := range c.params {
			require.True(t, chIsToken(name), "parameter name %q is not a token", name)
			require.Equal(t, strings.ToLower(name), name, "parameter name not lower case")
		}
	}
}

func chIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// chFormat writes challenges back as one header value, every parameter
// value quoted, so that parsing it gives the challenges again.
func chFormat(cs []challenge) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.scheme)
		if c.token68 != "" {
			b.WriteString(" " + c.token68)
			continue
		}
		names := make([]string, 0, len(c.params))
		for name := range c.params {
			names = append(names, name)
		}
		slices.Sort(names)
		for j, name := range names {
			if j == 0 {
				b.WriteString(" ")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(name + "=" + chQuote(c.params[name]))
		}
	}
	return b.String()
}

func chQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func TestChallengeFormatRoundTrip(t *testing.T) {
	cs := []challenge{
		chP("bearer", "realm", `a "b" \c`, "error", "invalid_token"),
		chP("basic"),
		chT("negotiate", "abc=="),
		chP("dpop", "algs", "ES256 PS256", "empty", ""),
	}
	s := chFormat(cs)
	assert.Equal(t, `bearer error="invalid_token", realm="a \"b\" \\c", basic, negotiate abc==, dpop algs="ES256 PS256", empty=""`, s)
	assert.Equal(t, cs, parseChallenges([]string{s}))
}
