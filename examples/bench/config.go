package main

import (
	"flag"
	"slices"
	"time"
)

// Config holds the knobs of a run. The defaults give the published numbers
// in about a minute; Quick shrinks every scenario to a few seconds.
type Config struct {
	Out   string `json:"-"`
	Quick bool   `json:"quick"`

	// Latency is the token endpoint's artificial latency.
	Latency time.Duration `json:"token_endpoint_latency"`
	// TokenBytes is the size of each access token, JWT-like.
	TokenBytes int `json:"token_bytes"`

	// StormMax limits the storm sizes to those ≤ StormMax.
	StormMax int `json:"storm_max"`
	// Timeout bounds each storm request, as an API client would.
	Timeout time.Duration `json:"request_timeout"`
	// MaxConns bounds the client's connections to the server.
	MaxConns int `json:"max_conns"`

	// Goroutines send requests for Duration, each one every Interval, for
	// each client of the expiry scenario; the clients run side by side.
	Goroutines int           `json:"goroutines"`
	Duration   time.Duration `json:"duration"`
	Interval   time.Duration `json:"interval"`
	// TTL is the access-token lifetime in the expiry scenario.
	TTL time.Duration `json:"access_ttl"`
	// Leeway and Early configure this library's Source; Leeway is also
	// x/oauth2's early expiry, so both stop using a token at the same time.
	Leeway time.Duration `json:"leeway"`
	Early  time.Duration `json:"early_refresh"`

	// KeyringRequests are sent with a valid token; KeyringRefreshes are
	// forced by revocation.
	KeyringRequests  int `json:"keyring_requests"`
	KeyringRefreshes int `json:"keyring_refreshes"`
}

// allStormSizes are the storm sizes of a full run.
var allStormSizes = []int{10, 100, 1000, 10000}

func defaultConfig() Config {
	return Config{
		Out:              "bench-results",
		Latency:          100 * time.Millisecond,
		TokenBytes:       800,
		StormMax:         10000,
		Timeout:          5 * time.Second,
		MaxConns:         256,
		Goroutines:       16,
		Duration:         10 * time.Second,
		Interval:         10 * time.Millisecond,
		TTL:              time.Second,
		Leeway:           200 * time.Millisecond,
		Early:            300 * time.Millisecond,
		KeyringRequests:  10000,
		KeyringRefreshes: 10,
	}
}

// register defines the flags that set c.
func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Out, "out", c.Out, "directory for results.json, results.md and expiry.svg")
	fs.BoolVar(&c.Quick, "quick", c.Quick, "a few-second run: storms up to 100, expiry 1.5s per client, fewer keyring requests")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "token endpoint latency")
	fs.IntVar(&c.TokenBytes, "token-bytes", c.TokenBytes, "access token size")
	fs.IntVar(&c.StormMax, "storm-max", c.StormMax, "largest storm size to run (sizes are 10, 100, 1000, 10000)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per-request timeout in the storm")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "client connections to the server")
	fs.IntVar(&c.Goroutines, "goroutines", c.Goroutines, "goroutines of steady load in the expiry scenario")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the expiry scenario (its clients run side by side)")
	fs.DurationVar(&c.Interval, "interval", c.Interval, "time between requests of each expiry goroutine")
	fs.DurationVar(&c.TTL, "ttl", c.TTL, "access token lifetime in the expiry scenario (whole seconds: the server rounds expires_in up)")
	fs.DurationVar(&c.Leeway, "leeway", c.Leeway, "WithLeeway, and x/oauth2's early expiry")
	fs.DurationVar(&c.Early, "early", c.Early, "WithEarlyRefresh")
	fs.IntVar(&c.KeyringRequests, "keyring-requests", c.KeyringRequests, "requests with a valid token in the keyring scenario")
	fs.IntVar(&c.KeyringRefreshes, "keyring-refreshes", c.KeyringRefreshes, "refreshes in the keyring scenario")
}

// resolved applies Quick.
func (c Config) resolved() Config {
	if c.Quick {
		c.StormMax = min(c.StormMax, 100)
		c.Timeout = min(c.Timeout, time.Second)
		c.Duration = min(c.Duration, 1500*time.Millisecond)
		c.KeyringRequests = min(c.KeyringRequests, 1000)
		c.KeyringRefreshes = min(c.KeyringRefreshes, 3)
	}
	return c
}

// stormSizes returns the storm sizes to run.
func (c Config) stormSizes() []int {
	return slices.DeleteFunc(slices.Clone(allStormSizes), func(n int) bool { return n > c.StormMax })
}
