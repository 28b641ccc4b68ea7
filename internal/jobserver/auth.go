package jobserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Auth holds the server's credentials. With neither set, requests are not
// authenticated (allowed only on a loopback address, or with --no-auth).
type Auth struct {
	User, Password string // HTTP basic
	Token          string // Authorization: Bearer TOKEN
}

// Enabled reports whether any credential is configured.
func (a Auth) Enabled() bool { return a.User != "" || a.Token != "" }

// equal compares secrets in constant time: hashing first makes the time
// independent of the lengths too.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// check reports whether r carries a valid credential.
func (a Auth) check(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && a.Token != "":
		return equal(strings.TrimSpace(cred), a.Token)
	case strings.EqualFold(scheme, "Basic") && a.User != "":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return false
		}
		u, p, ok := strings.Cut(string(b), ":")
		// Both compares run, so a wrong user takes as long as a wrong
		// password.
		uok, pok := equal(u, a.User), equal(p, a.Password)
		return ok && uok && pok
	}
	return false
}

// guard wraps the handler with the body limit, authentication and the
// cross-site check of state-changing requests.
func (s *Server) guard(next http.Handler) http.Handler {
	return protect(next, s.opts.Auth, s.log, func(r *http.Request) int64 {
		if r.URL.Path == "/addversion.json" {
			return s.opts.MaxUpload
		}
		return s.opts.MaxBody
	}, s.fail)
}

// protect is the guard of the job server and of a single crawl's
// dashboard (CrawlUI): the body limit, the credentials (never logged) and
// the cross-site check of state-changing requests.
func protect(next http.Handler, auth Auth, log *slog.Logger, limit func(*http.Request) int64, fail func(http.ResponseWriter, int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit(r))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		if auth.Enabled() && !auth.check(r) {
			// Never log the header: it may be a near-miss of the secret.
			log.Warn("request refused: no valid credentials", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			if auth.User != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="spiderrun", charset="UTF-8"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="spiderrun"`)
			}
			fail(w, http.StatusUnauthorized, errors.New("authentication required: HTTP basic or a bearer token"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := sameOrigin(r); err != nil {
				log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
				fail(w, http.StatusForbidden, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a state-changing request a browser sent from another
// site (CSRF): browsers send Sec-Fetch-Site and Origin on cross-origin
// POSTs, and credentials a browser remembers (basic auth) would otherwise
// go with them. Clients that are not browsers send neither.
func sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", r.Header.Get("Sec-Fetch-Site"))
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("cross-origin request refused (Origin %s, Host %s)", o, r.Host)
		}
	}
	return nil
}

// csrfToken is the dashboard forms' token: an HMAC of the action under a
// key made at start, so a page of another site cannot forge a form even if
// the headers above were missing.
func (s *Server) csrfToken(action string) string { return csrfToken(s.csrfKey, action) }

func (s *Server) checkCSRF(r *http.Request, action string) error {
	return checkCSRF(s.csrfKey, r, action)
}

func csrfToken(key []byte, action string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(action))
	return hex.EncodeToString(m.Sum(nil))
}

func checkCSRF(key []byte, r *http.Request, action string) error {
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(csrfToken(key, action))) {
		return errors.New("missing or stale form token: reload the page")
	}
	return nil
}
