package impersonate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// uaTokens name a browser family and its major version in a User-Agent,
// most specific first: Edge's UA also says Chrome and Safari, Chrome's says
// Safari.
var uaTokens = []struct {
	family string
	re     *regexp.Regexp
}{
	{"edge", regexp.MustCompile(`\bEdg(?:e|A|iOS)?/(\d+)`)},
	{"firefox", regexp.MustCompile(`\b(?:Firefox|FxiOS)/(\d+)`)},
	{"chrome", regexp.MustCompile(`\b(?:Chrome|Chromium|CriOS)/(\d+)`)},
	{"safari", regexp.MustCompile(`\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/`)},
}

// UAFamily returns the browser family and major version a User-Agent
// names, or "" when it names none of those we know.
func UAFamily(ua string) (family, major string) {
	for _, t := range uaTokens {
		if m := t.re.FindStringSubmatch(ua); m != nil {
			return t.family, m[1]
		}
	}
	return "", ""
}

// chVersion finds a brand's major version in a sec-ch-ua list
// (`"Chromium";v="148", "Not/A)Brand";v="24"`).
var chVersion = regexp.MustCompile(`"(Chromium|Google Chrome|Microsoft Edge)";\s*v="(\d+)"`)

// CheckHeaders reports headers that contradict the profile: a User-Agent
// of another browser family or major version, or Client Hints
// (sec-ch-ua) naming another version or sent by a browser that has none.
// Anti-bot systems compare exactly these with the TLS fingerprint, so an
// identity that mixes them is refused rather than sent. A profile of the
// plain Go client ("go") takes any headers.
func (p *Profile) CheckHeaders(h crawl.Headers) error {
	if p.Browser == "" || p.Browser == "go" {
		return nil
	}
	if ua := h.Get("User-Agent"); ua != "" {
		fam, major := UAFamily(ua)
		if fam != p.Browser || (p.Version != "" && major != p.Version) {
			got := "an unknown browser"
			if fam != "" {
				got = fmt.Sprintf("%s %s", fam, major)
			}
			return fmt.Errorf("User-Agent %q names %s, but profile %s is %s %s: drop the User-Agent (the profile sends its own) or pick a %s profile",
				ua, got, p.Name, p.Browser, p.Version, orAny(fam))
		}
	}
	if ch := h.Get("sec-ch-ua"); ch != "" {
		if p.Browser == "firefox" || p.Browser == "safari" {
			return fmt.Errorf("sec-ch-ua %q: profile %s is %s, which sends no Client Hints", ch, p.Name, p.Browser)
		}
		for _, m := range chVersion.FindAllStringSubmatch(ch, -1) {
			if p.Version != "" && m[2] != p.Version {
				return fmt.Errorf("sec-ch-ua %q names %s %s, but profile %s is %s %s", ch, m[1], m[2], p.Name, p.Browser, p.Version)
			}
		}
	}
	return nil
}

func orAny(family string) string {
	if family == "" {
		return "matching"
	}
	return strings.ToLower(family)
}

// CheckHeaders implements downloader.HeaderChecker: a request whose
// User-Agent or Client Hints contradict its profile is refused before it
// is sent.
func (t *Transport) CheckHeaders(out *downloader.Outgoing) error {
	p, err := t.Profile(out.Impersonate, out.PoolKey)
	if err != nil {
		return nil // RoundTrip reports an unknown profile
	}
	return p.CheckHeaders(out.Headers)
}
