package demoserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
)

// maxBodyBytes bounds request bodies; real credentials are far smaller.
const maxBodyBytes = 64 << 10

// A requestError is a request the server refuses to interpret. desc never
// quotes the request body, so it is safe to log as well as to return.
type requestError struct {
	status int
	code   string
	desc   string
}

func (e *requestError) Error() string { return e.desc }

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf(format, args...)}
}

// params holds the parameters of a POST body, from exactly one of JSON or
// form encoding.
type params struct {
	json map[string]any
	form url.Values
}

// readParams checks the method and content type and decodes the body.
// JSON is accepted only when allowJSON is set: RFC 6749 token endpoints
// take form encoding alone.
func readParams(w http.ResponseWriter, r *http.Request, allowJSON bool) (params, *requestError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return params{}, &requestError{status: http.StatusMethodNotAllowed, code: "invalid_request",
			desc: "method " + r.Method + " not allowed, use POST"}
	}
	want := "application/x-www-form-urlencoded"
	if allowJSON {
		want = "application/json or " + want
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return params{}, badRequest("missing Content-Type, use %s", want)
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return params{}, badRequest("malformed Content-Type, use %s", want)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		return readForm(r)
	case mediaType == "application/json" && allowJSON:
		return readJSON(r)
	}
	return params{}, badRequest("unsupported Content-Type %q, use %s", mediaType, want)
}

func readForm(r *http.Request) (params, *requestError) {
	if err := r.ParseForm(); err != nil {
		if tooLarge(err) {
			return params{}, bodyTooLarge()
		}
		return params{}, badRequest("malformed form body")
	}
	// PostForm, not Form: credentials in the URL would end up in access
	// logs and browser history.
	return params{form: r.PostForm}, nil
}

func readJSON(r *http.Request) (params, *requestError) {
	var m map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&m); err != nil {
		if tooLarge(err) {
			return params{}, bodyTooLarge()
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return params{}, badRequest("body must be a JSON object")
		}
		return params{}, badRequest("malformed JSON body")
	}
	if m == nil {
		return params{}, badRequest("body must be a JSON object")
	}
	if dec.More() {
		return params{}, badRequest("unexpected data after the JSON object")
	}
	return params{json: m}, nil
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func bodyTooLarge() *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, code: "invalid_request",
		desc: fmt.Sprintf("request body larger than %d bytes", maxBodyBytes)}
}

// optional returns parameter name, or "" if it is absent. A repeated form
// parameter or a non-string JSON value is an error (RFC 6749 section 3.2
// forbids repeating parameters).
func (p params) optional(name string) (string, *requestError) {
	if p.json != nil {
		v, ok := p.json[name]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", badRequest("field %s must be a string", name)
		}
		return s, nil
	}
	vs := p.form[name]
	if len(vs) > 1 {
		return "", badRequest("parameter %s given more than once", name)
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}

// required is optional but rejects a missing or empty parameter.
func (p params) required(name string) (string, *requestError) {
	v, err := p.optional(name)
	if err == nil && v == "" {
		err = badRequest("missing %s", name)
	}
	return v, err
}

// requiredAll reads several required parameters, reporting the first
// problem.
func (p params) requiredAll(names ...string) ([]string, *requestError) {
	out := make([]string, len(names))
	for i, name := range names {
		v, err := p.required(name)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
