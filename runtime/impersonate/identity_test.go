package impersonate

import (
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestUAFamily: the family and major version of real browsers'
// User-Agents, Edge before Chrome and Chrome before Safari.
func TestUAFamily(t *testing.T) {
	cases := []struct{ ua, fam, major string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36", "chrome", "148"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0", "edge", "156"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "firefox", "140"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15", "safari", "18"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Mobile/15E148 Safari/604.1", "safari", "18"},
		{"curl/8.5.0", "", ""},
	}
	for _, c := range cases {
		if fam, major := UAFamily(c.ua); fam != c.fam || major != c.major {
			t.Errorf("%s: %s %s, want %s %s", c.ua, fam, major, c.fam, c.major)
		}
	}
}

// TestCheckHeaders: a User-Agent or Client Hints of another browser or
// version than the profile's is refused with a message saying what to do;
// the profile's own values and the go profile pass.
func TestCheckHeaders(t *testing.T) {
	chrome, err := LoadProfile("chrome_156")
	if err != nil {
		t.Fatal(err)
	}
	firefox, err := LoadProfile("firefox")
	if err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) crawl.Headers {
		var out crawl.Headers
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		p    *Profile
		h    crawl.Headers
		want string // "" = accepted
	}{
		{chrome, chrome.DefaultHeaders(), ""},
		{firefox, firefox.DefaultHeaders(), ""},
		{chrome, nil, ""},
		{chrome, h("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
			`names firefox 140, but profile chrome_156 is chrome 156: drop the User-Agent (the profile sends its own) or pick a firefox profile`},
		{chrome, h("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
			`names chrome 120, but profile chrome_156 is chrome 156`},
		{chrome, h("User-Agent", "my-bot/1.0"), `names an unknown browser, but profile chrome_156`},
		{chrome, h("sec-ch-ua", `"Chromium";v="120", "Not_A Brand";v="24"`), `sec-ch-ua "\"Chromium\";v=\"120\", \"Not_A Brand\";v=\"24\"" names Chromium 120, but profile chrome_156 is chrome 156`},
		{firefox, h("sec-ch-ua", `"Chromium";v="140"`), `is firefox, which sends no Client Hints`},
	}
	for i, c := range cases {
		err := c.p.CheckHeaders(c.h)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: refused: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: %v, want %q", i, err, c.want)
		}
	}
	goProfile, err := LoadProfile("go")
	if err == nil {
		if err := goProfile.CheckHeaders(h("User-Agent", "my-bot/1.0")); err != nil {
			t.Errorf("go profile: %v", err)
		}
	}
}
