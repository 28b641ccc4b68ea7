package weburl

import (
	"math/rand/v2"
	"testing"
)

// plainCanonical must give exactly what the full canonicalization gives,
// whenever it answers at all.
func TestPlainCanonicalSameAsFull(t *testing.T) {
	cases := []string{
		"http://example.com", "https://example.com/", "http://example.com/a/b.html",
		"http://example.com:8080/x", "http://example.com:/x", "http://EXAMPLE.com/x",
		"http://example.com/a/../b", "http://example.com/./a", "http://example.com/a/.hidden",
		"http://example.com/a//b", "http://example.com/~user/", "http://example.com/a%20b",
		"http://example.com/a b", "http://example.com/?", "http://example.com/p?b=2&a=1",
		"http://example.com/p#frag", "http://user@example.com/", "http://exa_mple.com/",
		"http://example..com/", "http://.example.com/", "http://-x.com/", "http://127.0.0.1:80/",
		"http://[::1]/", "ftp://example.com/", "http://example.com:80", "http://example.com/é",
		"https://example.com/a-b_c~d/E.F", "http://example.com:x/", "http://example.com/a:b",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Mostly the characters of plain URLs, sometimes one that is not.
	const hostChars, pathChars, noise = "abz09-.", "aZ09-._~/", "X:%?#&=@ é"
	pick := func(plain string) byte {
		if rng.IntN(20) == 0 {
			return noise[rng.IntN(len(noise))]
		}
		return plain[rng.IntN(len(plain))]
	}
	for range 20000 {
		b := []byte("http://")
		if rng.IntN(2) == 0 {
			b = []byte("https://")
		}
		for range 1 + rng.IntN(8) {
			b = append(b, pick(hostChars))
		}
		if rng.IntN(4) == 0 {
			b = append(b, ':', '8', '0')
		}
		if rng.IntN(8) != 0 {
			b = append(b, '/')
		}
		for range rng.IntN(12) {
			b = append(b, pick(pathChars))
		}
		cases = append(cases, string(b))
	}
	fast := 0
	for _, in := range cases {
		if alreadyCanonical(in) && canonicalizeFull(in, true) != in {
			t.Fatalf("alreadyCanonical(%q), but full canonicalization gives %q", in, canonicalizeFull(in, true))
		}
		got, ok := plainCanonical(in)
		if !ok {
			continue
		}
		fast++
		for _, keep := range []bool{false, true} {
			if want := canonicalizeFull(in, keep); got != want {
				t.Fatalf("plainCanonical(%q) = %q, full canonicalization (keepFragments=%v) = %q", in, got, keep, want)
			}
		}
	}
	t.Logf("%d of %d cases took the fast path", fast, len(cases))
	if fast < 1000 {
		t.Fatalf("only %d of %d cases took the fast path: the test checks too little", fast, len(cases))
	}
}

// TestCanonicalizeReference (canonical_reference_test.go) compares
// Canonicalize with w3lib itself.

func TestQuotePlus(t *testing.T) {
	t.Parallel()
	if got, want := QuotePlus("a b&c=d/é~_.-"), "a+b%26c%3Dd%2F%C3%A9~_.-"; got != want {
		t.Errorf("QuotePlus = %q, want %q", got, want)
	}
}

// alreadyCanonical only vouches for URLs that canonicalize_url leaves as
// they are (the link extractor dedupes links by their canonical form).
func TestAlreadyCanonical(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]bool{
		"http://shop.test/product/1.html":          true,
		"https://shop.test/lamps/?page=2":          true,
		"http://shop.test/cart?add=1&b=2#top":      true,
		"http://shop.test:8080/a/b-c_d.~e!$&'()*+": true,
		"http://shop.test/a?a=1&a=2&b=":            true,
		"http://shop.test":                         false, // canonical adds "/"
		"http://shop.test/a?b=1&a=2":               false, // sorted
		"http://shop.test/a?a=2&a=1":               false,
		"http://shop.test/a?k":                     false, // becomes k=
		"http://shop.test/a?":                      false,
		"http://shop.test/%7Ea":                    false,
		"http://shop.test/a;p":                     false,
		"http://shop.test/a?q=a+b":                 false,
		"http://shop.test/a?q=a/b":                 false,
		"http://shop.test/a#":                      false,
		"http://Shop.test/a":                       false,
		"ftp://shop.test/a":                        false,
		"http://shop.test:080/a":                   false,
	} {
		if got := alreadyCanonical(u); got != want {
			t.Errorf("alreadyCanonical(%q) = %v, want %v", u, got, want)
		}
		if want && canonicalizeFull(u, true) != u {
			t.Errorf("alreadyCanonical(%q) but canonicalize_url gives %q", u, canonicalizeFull(u, true))
		}
	}
}
