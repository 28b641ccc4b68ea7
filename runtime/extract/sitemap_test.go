package extract

import (
	"bytes"
	"compress/gzip"
	"errors"
	"reflect"
	"testing"
)

func TestParseSitemap(t *testing.T) {
	t.Parallel()
	urlset := `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <url>
    <loc> http://www.example.com/ </loc>
    <lastmod>2009-08-16</lastmod>
    <changefreq>daily</changefreq>
    <priority>1</priority>
    <xhtml:link rel="alternate" hreflang="de" href="http://www.example.com/de"/>
  </url>
  <!-- a comment -->
  <url><loc>http://www.example.com/Special-Offers.html</loc><priority>0.8</priority></url>
  <url><lastmod>no loc, skipped</lastmod></url>
</urlset>`
	sm, err := ParseSitemap([]byte(urlset))
	if err != nil {
		t.Fatal(err)
	}
	want := &Sitemap{Type: "urlset", Entries: []SitemapEntry{
		{Loc: "http://www.example.com/", Fields: map[string]string{"lastmod": "2009-08-16", "changefreq": "daily", "priority": "1"},
			Alternate: []string{"http://www.example.com/de"}},
		{Loc: "http://www.example.com/Special-Offers.html", Fields: map[string]string{"priority": "0.8"}},
	}}
	if !reflect.DeepEqual(sm, want) {
		t.Errorf("got %+v\nwant %+v", sm, want)
	}
	idx, err := ParseSitemap([]byte(`<sitemapindex xmlns="http://www.google.com/schemas/sitemap/0.84">
<sitemap><loc>http://www.example.com/sitemap1.xml.gz</loc><lastmod>2004-10-01T18:23:17+00:00</lastmod></sitemap>
<sitemap><loc>http://www.example.com/sitemap2.xml.gz</loc></sitemap>
</sitemapindex>`))
	if err != nil {
		t.Fatal(err)
	}
	if idx.Type != "sitemapindex" || len(idx.Entries) != 2 || idx.Entries[1].Loc != "http://www.example.com/sitemap2.xml.gz" {
		t.Errorf("index: %+v", idx)
	}
	// a truncated document keeps what was read
	broken, err := ParseSitemap([]byte(`<urlset><url><loc>http://a.test/1</loc></url><url><loc>http://a.test/2</lo`))
	if err != nil || len(broken.Entries) < 1 || broken.Entries[0].Loc != "http://a.test/1" {
		t.Errorf("broken: %+v %v", broken, err)
	}
	if _, err := ParseSitemap([]byte("not xml at all")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestGunzipBounded(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte("<url><loc>x</loc></url>"), 100000)) // 2.3 MB
	zw.Close()
	if !IsGzip(buf.Bytes()) {
		t.Fatal("magic not detected")
	}
	if _, err := Gunzip(buf.Bytes(), 1<<20); !errors.Is(err, ErrSitemapTooLarge) {
		t.Fatalf("want ErrSitemapTooLarge, got %v", err)
	}
	out, err := Gunzip(buf.Bytes(), 4<<20)
	if err != nil || len(out) != 2300000 {
		t.Fatalf("gunzip: %d %v", len(out), err)
	}
	if _, err := Gunzip([]byte("\x1f\x8bnot gzip"), 0); err == nil {
		t.Error("corrupt gzip accepted")
	}
}

func TestSitemapURLsFromRobots(t *testing.T) {
	t.Parallel()
	robots := "User-agent: *\nDisallow: /private\n  Sitemap: /sitemap.xml\nsitemap: http://other.test/s.xml.gz\nSITEMAP:\n"
	got := SitemapURLsFromRobots(robots, "http://www.example.com/robots.txt")
	// An empty "SITEMAP:" resolves to the robots.txt URL itself, as in Scrapy.
	want := []string{"http://www.example.com/sitemap.xml", "http://other.test/s.xml.gz", "http://www.example.com/robots.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}
