package weburl

import (
	"net/url"
	"strings"
)

// Mask is what stands for a secret wherever spiderrun renders one: the
// password (or lone user name) of a URL in logs and error messages, and the
// value of a credential header.
const Mask = "***"

// Redact returns raw for a log line or an error message, with the
// credentials of its userinfo replaced by Mask:
//
//	http://user:secret@host/x   → http://user:***@host/x
//	redis://:secret@host:6379/0 → redis://:***@host:6379/0
//	socks5://token@host:1080    → socks5://***@host:1080 (a lone user name is often a token)
//	user:secret@proxy:8080      → user:***@proxy:8080
//
// A URL without credentials comes back unchanged, byte for byte. One that
// does not parse has everything between "://" (or its start) and its last
// '@' masked: its password may hold the '/', '?' or '#' that broke it.
func Redact(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw // no userinfo: the common case, without parsing
	}
	u, err := url.Parse(raw)
	if err != nil {
		start := 0
		if i := strings.Index(raw, "://"); i >= 0 {
			start = i + 3
		}
		at := strings.LastIndexByte(raw, '@')
		if at < start {
			return raw
		}
		return raw[:start] + Mask + raw[at:]
	}
	if u.User == nil && !strings.Contains(u.Opaque, "@") {
		return raw
	}
	return RedactURL(u)
}

// RedactURL renders u like u.String() with the credentials of its userinfo
// replaced by Mask (see Redact). A nil u renders as "".
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.User == nil {
		// "user:secret@proxy:8080" parses as scheme "user" with the opaque
		// part "secret@proxy:8080".
		if at := strings.LastIndexByte(u.Opaque, '@'); at >= 0 {
			c := *u
			c.Opaque = Mask + u.Opaque[at:]
			return c.String()
		}
		return u.String()
	}
	userinfo := Mask
	if _, has := u.User.Password(); has {
		userinfo = url.User(u.User.Username()).String() + ":" + Mask
	}
	// Rendered with a placeholder user, which String escapes like any
	// other, then swapped: the first "//" of a rendered URL starts its
	// authority (a scheme holds no '/').
	c := *u
	c.User = url.User("x")
	return strings.Replace(c.String(), "//x@", "//"+userinfo+"@", 1)
}

// RedactSecrets replaces in msg the credentials of the given URLs with
// Mask: their passwords (as written and query-escaped) and user names of
// eight characters or more (more likely a token than a name). It is for
// messages written by code that does not know a secret is in them, such as
// a transport's or a proxy's error text.
func RedactSecrets(msg string, urls ...string) string {
	for _, raw := range urls {
		if !strings.Contains(raw, "@") {
			continue
		}
		var user, pass string
		var hasPass bool
		u, err := url.Parse(raw)
		switch {
		case err == nil && u.User != nil:
			user = u.User.Username()
			pass, hasPass = u.User.Password()
		case err == nil:
			at := strings.LastIndexByte(u.Opaque, '@')
			if at < 0 {
				continue
			}
			// "user:secret@proxy:8080": scheme "user", opaque "secret@...".
			user, pass, hasPass = u.Scheme, u.Opaque[:at], true
		default:
			// Unparsable: the userinfo is what lies between "://" (or the
			// start) and the last '@', split at its first ':'.
			start := 0
			if i := strings.Index(raw, "://"); i >= 0 {
				start = i + 3
			}
			at := strings.LastIndexByte(raw, '@')
			if at < start {
				continue
			}
			user, pass, hasPass = strings.Cut(raw[start:at], ":")
		}
		if hasPass && pass != "" {
			msg = strings.ReplaceAll(msg, pass, Mask)
			msg = strings.ReplaceAll(msg, url.QueryEscape(pass), Mask)
		}
		if len(user) >= 8 {
			msg = strings.ReplaceAll(msg, user, Mask)
		}
	}
	return msg
}
