package tokenrefresh

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// Micro-benchmarks of the per-request path, side by side with
// golang.org/x/oauth2. Sub-benchmark names are key=value so that
//
//	go test -run='^$' -bench=HotPath -benchmem -count=6 . > hot.txt
//	benchstat -col /impl hot.txt
//
// prints base, oauth2 and tokenrefresh in adjacent columns with ratios.
// Besides wall-clock ns/op, each reports cpu-ns/op on Linux: the process's
// CPU time per operation, which time stolen by other work on a busy
// machine does not inflate.
// "conc" is the number of goroutines sending requests: "serial" is one
// goroutine in a plain loop, a number is the total of b.RunParallel's
// goroutines (SetParallelism times GOMAXPROCS, so the smallest parallel
// case is GOMAXPROCS goroutines, never 1).

// benchJWTSize is the length of the benchmark access token, typical of a
// JWT carrying a handful of claims and an RS256 signature.
const benchJWTSize = 800

// benchJWT returns a deterministic JWT-shaped access token of about
// benchJWTSize bytes: three base64url segments joined by dots.
func benchJWT() string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"bench-key-1"}`))
	claims := enc.EncodeToString([]byte(`{"iss":"https://auth.example.com/","sub":"user-1234567890",` +
		`"aud":"https://api.example.com","iat":1767323045,"exp":1767326645,` +
		`"scope":"read:items write:items read:profile","azp":"cli-client","jti":"` +
		strings.Repeat("b", 32) + `"}`))
	sig := make([]byte, 0, 384)
	for i := range cap(sig) {
		sig = append(sig, byte(i*131+7))
	}
	tok := header + "." + claims + "." + enc.EncodeToString(sig)
	if len(tok) > benchJWTSize {
		return tok[:benchJWTSize]
	}
	return tok + strings.Repeat("A", benchJWTSize-len(tok))
}

// benchToken returns a valid bearer token that expires in an hour.
func benchToken() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  benchJWT(),
		RefreshToken: "bench-refresh-token",
		TokenType:    "Bearer",
		Expiry:       time.Now().Add(time.Hour),
	}
}

// staticRoundTripper answers every request with the same response, without
// reading the request: the cost of the network is left out, so what remains
// is the cost of the RoundTripper under test.
type staticRoundTripper struct{ resp *http.Response }

func (s staticRoundTripper) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

// newStaticRoundTripper returns a staticRoundTripper with a 200 response
// whose body is http.NoBody.
func newStaticRoundTripper() staticRoundTripper {
	return staticRoundTripper{resp: &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: http.NoBody, ContentLength: 0,
	}}
}

// benchRequest returns a GET with the headers a typical API client sets.
func benchRequest(b *testing.B) *http.Request {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		"https://api.example.com/v1/items?page=2&limit=50", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tokenrefresh-bench/1.0")
	return req
}

// benchImpl is one RoundTripper under comparison.
type benchImpl struct {
	name string
	rt   func(b *testing.B, base http.RoundTripper) http.RoundTripper
}

func benchImpls() []benchImpl {
	return []benchImpl{
		{"base", func(_ *testing.B, base http.RoundTripper) http.RoundTripper { return base }},
		{"oauth2", func(_ *testing.B, base http.RoundTripper) http.RoundTripper {
			return &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(benchToken())), Base: base}
		}},
		{"tokenrefresh", func(b *testing.B, base http.RoundTripper) http.RoundTripper {
			return &Transport{Source: NewSource(benchNoRefresh(b), WithToken(benchToken())), Base: base}
		}},
	}
}

// benchNoRefresh is a Refresher that must not be called: the token stays
// valid for the whole benchmark.
func benchNoRefresh(b *testing.B) Refresher {
	return RefresherFunc(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		b.Error("refresh on the hot path")
		return nil, fmt.Errorf("no refresh in benchmarks")
	})
}

// benchConcurrency lists the goroutine counts wanted for RunParallel. Each
// runs with the SetParallelism that comes closest, and is named after the
// total it actually runs.
var benchConcurrency = []int{1, 8, 64}

// parallelism returns SetParallelism's argument for about want goroutines,
// and the total it gives.
func parallelism(want int) (p, total int) {
	procs := runtime.GOMAXPROCS(0)
	p = max(1, (want+procs/2)/procs)
	return p, p * procs
}

// BenchmarkHotPath measures one authorised request whose token is valid.
func BenchmarkHotPath(b *testing.B) {
	b.Run("conc=serial", func(b *testing.B) {
		for _, impl := range benchImpls() {
			b.Run("impl="+impl.name, func(b *testing.B) {
				rt := impl.rt(b, newStaticRoundTripper())
				req := benchRequest(b)
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					resp, err := rt.RoundTrip(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Fatal(resp, err)
					}
				}
			})
		}
	})
	seen := map[int]bool{}
	for _, want := range benchConcurrency {
		p, total := parallelism(want)
		if seen[total] {
			continue
		}
		seen[total] = true
		b.Run(fmt.Sprintf("conc=%d", total), func(b *testing.B) {
			for _, impl := range benchImpls() {
				b.Run("impl="+impl.name, func(b *testing.B) {
					rt := impl.rt(b, newStaticRoundTripper())
					b.ReportAllocs()
					b.SetParallelism(p)
					defer reportCPU(b)()
					b.RunParallel(func(pb *testing.PB) {
						req := benchRequest(b)
						for pb.Next() {
							resp, err := rt.RoundTrip(req)
							if err != nil || resp.StatusCode != http.StatusOK {
								b.Error(resp, err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// BenchmarkTokenContext measures reading a valid token, against
// x/oauth2's ReuseTokenSource.
func BenchmarkTokenContext(b *testing.B) {
	type source struct {
		name  string
		token func(context.Context) (*oauth2.Token, error)
	}
	sources := func(b *testing.B) []source {
		reuse := oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(benchToken()))
		ours := NewSource(benchNoRefresh(b), WithToken(benchToken()))
		return []source{
			{"oauth2", func(context.Context) (*oauth2.Token, error) { return reuse.Token() }},
			{"tokenrefresh", ours.TokenContext},
		}
	}
	b.Run("conc=serial", func(b *testing.B) {
		for _, src := range sources(b) {
			b.Run("impl="+src.name, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if tok, err := src.token(ctx); err != nil || tok == nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	p, total := parallelism(64)
	b.Run(fmt.Sprintf("conc=%d", total), func(b *testing.B) {
		for _, src := range sources(b) {
			b.Run("impl="+src.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(p)
				defer reportCPU(b)()
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if tok, err := src.token(ctx); err != nil || tok == nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})
}

// reportCPU starts measuring the process's CPU time; the function it
// returns reports it per operation as cpu-ns/op. It reports nothing where
// /proc/self/stat is missing, or for runs too short for its 10ms ticks to
// measure within 10%.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	if !ok {
		return func() {}
	}
	return func() {
		if end, ok := processCPU(); ok && b.N > 0 && end-start >= 100*time.Millisecond {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// processCPU returns the user and system CPU time of the process, all
// threads, from /proc/self/stat, in clock ticks of 10ms (USER_HZ 100).
func processCPU() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the parenthesised command name start with the
	// state, field 3; utime and stime are fields 14 and 15.
	// The command name may itself contain ") ", so cut at the last.
	i := strings.LastIndex(string(data), ") ")
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data)[i+2:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// TestBenchJWTShape keeps the benchmark token realistic.
func TestBenchJWTShape(t *testing.T) {
	tok := benchJWT()
	require.Len(t, tok, benchJWTSize)
	require.Equal(t, 2, strings.Count(tok, "."), "a JWT has three segments")
}
