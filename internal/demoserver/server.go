package demoserver

import (
	"log/slog"
	"net/http"
)

// Realm is the realm of the API's WWW-Authenticate challenges.
const Realm = "tokenrefresh-demo"

// Server is the demo token server. It implements http.Handler; create it
// with New. All methods are safe for concurrent use. It starts no
// goroutines, so there is nothing to close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store
	mux   *http.ServeMux
}

// New returns a Server configured by cfg, with defaults for zero fields.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, store: newStore(cfg), mux: http.NewServeMux()}
	// Methods are checked by the handlers rather than by mux patterns so
	// that a wrong method gets a JSON error like every other failure.
	s.mux.HandleFunc("/login", s.handleLogin)
	s.mux.HandleFunc("/refresh", s.handleRefresh)
	s.mux.HandleFunc("/oauth2/token", s.handleOAuth2Token)
	s.mux.HandleFunc("/api/", s.handleAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no endpoint at "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}
