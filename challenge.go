package tokenrefresh

import "strings"

// A challenge is one entry of a WWW-Authenticate header (RFC 9110 section
// 11.6.1): a scheme with either a token68 or a list of parameters.
type challenge struct {
	scheme  string // lower case
	token68 string
	params  map[string]string // names in lower case
}

// parseChallenges parses WWW-Authenticate header values. It is lenient, as
// servers are not always strict: it skips what it cannot read and never
// fails, and what it returns is always well formed (schemes and parameter
// names are non-empty tokens).
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		p := &authParser{s: v}
		for {
			p.skip(" \t,")
			if p.done() {
				break
			}
			scheme := p.token()
			if scheme == "" {
				p.skipPast(',')
				continue
			}
			out = append(out, p.challenge(strings.ToLower(scheme)))
		}
	}
	return out
}

type authParser struct {
	s string
	i int
}

func (p *authParser) done() bool { return p.i >= len(p.s) }

func (p *authParser) skip(chars string) {
	for p.i < len(p.s) && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *authParser) skipPast(c byte) {
	if j := strings.IndexByte(p.s[p.i:], c); j >= 0 {
		p.i += j + 1
	} else {
		p.i = len(p.s)
	}
}

func (p *authParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

// token reads an RFC 9110 token.
func (p *authParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// challenge reads what follows a scheme, up to the next challenge.
func (p *authParser) challenge(scheme string) challenge {
	c := challenge{scheme: scheme}
	p.skip(" \t")
	if t, ok := p.token68(); ok {
		c.token68 = t
		return c
	}
	for {
		p.skip(" \t,")
		save := p.i
		name := p.token()
		p.skip(" \t")
		if name == "" || p.peek() != '=' {
			p.i = save
			if name == "" && !p.done() {
				// Junk where a parameter should be: skip to the next comma.
				p.skipPast(',')
				continue
			}
			// A token not followed by '=' starts the next challenge.
			return c
		}
		p.i++ // '='
		p.skip(" \t")
		var value string
		if p.peek() == '"' {
			value = p.quoted()
		} else {
			value = p.token()
		}
		if c.params == nil {
			c.params = make(map[string]string)
		}
		name = strings.ToLower(name)
		if _, dup := c.params[name]; !dup {
			c.params[name] = value
		}
	}
}

// token68 reads a token68 if one stands here (token68 characters, '='
// padding, then the end or a comma); otherwise it consumes nothing.
func (p *authParser) token68() (string, bool) {
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	end := j
	for end < len(p.s) && (p.s[end] == ' ' || p.s[end] == '\t') {
		end++
	}
	if end < len(p.s) && p.s[end] != ',' {
		return "", false
	}
	t := p.s[p.i:j]
	p.i = end
	return t, true
}

// quoted reads a quoted-string, unescaping quoted pairs. An unterminated
// string runs to the end of the header.
func (p *authParser) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-._~+/", c) >= 0
}
