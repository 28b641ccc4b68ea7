package session

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// RegisterProfiles registers a group with one member per entry of a
// captured browser profile set (SESSION_PROFILES when src is nil) and
// returns its session_id. src is a directory (a string, relative to
// BaseDir) or a map of member name → {impersonate, headers, cookies,
// cookies_file, proxy}. Every member is checked as a whole: its
// User-Agent and Client Hints must agree with its profile, or the set is
// refused with the entry named.
func (r *Registry) RegisterProfiles(src any) (string, error) {
	if src == nil {
		src = r.ProfileSet
	}
	var specs map[string]Spec
	var err error
	switch t := src.(type) {
	case nil:
		return "", errors.New("register_profiles: no profile set: give a directory or {name: {impersonate, headers, cookies_file, proxy}}, or set SESSION_PROFILES")
	case string:
		if t == "" {
			return "", errors.New("register_profiles: no profile set: give a directory or {name: {impersonate, headers, cookies_file, proxy}}, or set SESSION_PROFILES")
		}
		specs, err = r.profileDir(resolveDir(r.BaseDir, t))
	case map[string]any:
		specs, err = r.profileList(t)
	case *crawl.Item:
		return r.RegisterProfiles(crawl.Plain(t))
	default:
		return "", fmt.Errorf("register_profiles: want a directory or an object of profiles, not %T", src)
	}
	if err != nil {
		return "", fmt.Errorf("register_profiles: %w", err)
	}
	return r.Register(specs)
}

func resolveDir(base, p string) string {
	if base == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// profileDir reads a directory of captured profiles: each NAME.yaml,
// NAME.yml or NAME.json (`spiderrun fingerprint capture` output) is the
// member NAME, with the cookies of NAME.cookies.txt (Netscape format, as
// browsers' export extensions and curl write it) or NAME.cookies.json,
// and the extra headers of NAME.headers.txt ("Name: value" lines).
func (r *Registry) profileDir(dir string) (map[string]Spec, error) { return ReadProfileDir(dir) }

// ReadProfileDir reads a captured profile set directory as
// register_profiles does (profileDir), so that `spiderrun validate` and
// the start of `spiderrun run` refuse a SESSION_PROFILES that
// register_profiles would refuse later, mid-start.
func ReadProfileDir(dir string) (map[string]Spec, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("profile set: %w", err)
	}
	specs := map[string]Spec{}
	for _, e := range entries {
		fn := e.Name()
		if e.IsDir() || strings.Contains(fn, ".cookies.") || strings.Contains(fn, ".headers.") {
			continue
		}
		ext := strings.ToLower(filepath.Ext(fn))
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			continue
		}
		name := strings.TrimSuffix(fn, filepath.Ext(fn))
		spec := Spec{Impersonate: filepath.Join(dir, fn)}
		for _, cf := range []string{name + ".cookies.txt", name + ".cookies.json"} {
			p := filepath.Join(dir, cf)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			cs, err := ReadCookieFile(p)
			if err != nil {
				return nil, err
			}
			spec.Cookies = append(spec.Cookies, cs...)
		}
		if b, err := os.ReadFile(filepath.Join(dir, name+".headers.txt")); err == nil {
			for i, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				k, v, ok := strings.Cut(line, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return nil, fmt.Errorf("%s:%d: want \"Name: value\"", filepath.Join(dir, name+".headers.txt"), i+1)
				}
				spec.Headers = append(spec.Headers, crawl.Header{Name: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
			}
		}
		if err := checkConsistent(spec); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, fn), err)
		}
		specs[name] = spec
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("profile set %s: no profile files (NAME.yaml, NAME.yml or NAME.json)", dir)
	}
	return specs, nil
}

// profileList reads {name: {impersonate, headers, cookies, cookies_file,
// proxy}}.
func (r *Registry) profileList(m map[string]any) (map[string]Spec, error) {
	specs := map[string]Spec{}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := m[n]
		if it, ok := v.(*crawl.Item); ok {
			v = crawl.Plain(it)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: want {impersonate, headers, cookies, cookies_file, proxy}, not %T", n, v)
		}
		var cookieFile string
		rest := map[string]any{}
		for k, x := range obj {
			if k == "cookies_file" {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%s: cookies_file: want a path, not %T", n, x)
				}
				cookieFile = s
				continue
			}
			rest[k] = x
		}
		imp, _ := rest["impersonate"].(string)
		if imp == "" {
			return nil, fmt.Errorf("%s: a captured profile needs impersonate (a profile name or a captured profile file)", n)
		}
		rest["impersonate"] = resolvePath(r.BaseDir, imp)
		spec, err := parseIdentity(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if cookieFile != "" {
			cs, err := ReadCookieFile(resolvePath(r.BaseDir, cookieFile))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n, err)
			}
			spec.Cookies = append(spec.Cookies, cs...)
		}
		if err := checkConsistent(spec); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		specs[n] = spec
	}
	if len(specs) == 0 {
		return nil, errors.New("the profile set is empty")
	}
	return specs, nil
}

// ReadCookieFile reads cookies a browser exported: the Netscape format
// (cookies.txt: domain, include-subdomains flag, path, secure, expiry,
// name, value, tab-separated; "#HttpOnly_" prefixes a domain) or JSON (an
// array of {name, value, domain, path}, or {cookies: [...]} as Playwright's
// storage state). A cookie keeps its domain, so the member's jar sends it
// to that site only.
func ReadCookieFile(path string) ([]crawl.Cookie, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cookie file: %w", err)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '{') {
		return jsonCookies(path, trimmed)
	}
	var out []crawl.Cookie
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		text = strings.TrimPrefix(text, "#HttpOnly_")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("%s:%d: want 7 tab-separated fields (domain, subdomains, path, secure, expiry, name, value), got %d", path, line, len(f))
		}
		out = append(out, crawl.Cookie{Name: f[5], Value: f[6], Domain: strings.TrimPrefix(f[0], "."), Path: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func jsonCookies(path string, b []byte) ([]crawl.Cookie, error) {
	type jc struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Domain string `json:"domain"`
		Path   string `json:"path"`
	}
	var list []jc
	if b[0] == '{' {
		var st struct {
			Cookies []jc `json:"cookies"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		list = st.Cookies
	} else if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]crawl.Cookie, 0, len(list))
	for i, c := range list {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: cookie %d has no name", path, i)
		}
		out = append(out, crawl.Cookie{Name: c.Name, Value: c.Value, Domain: strings.TrimPrefix(c.Domain, "."), Path: c.Path})
	}
	return out, nil
}
