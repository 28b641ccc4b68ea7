package extract

import (
	"strings"
	"testing"
)

const formsPage = `<html><head><base href="http://www.example.com/this/"></head><body>
<form name="login" id="f1" action="post.php" method="POST">
  <input type="hidden" name="test" value="val1">
  <input type="hidden" name="test" value="val2">
  <input type="hidden" name="test2" value="xxx">
  <input type="text" name="user">
  <input type="reset" name="reset" value="Reset">
  <input type="submit" name="button1" value="submit1">
  <input type="submit" name="button2" value="submit2">
</form>
<form id="search" action="get.php?old=1#frag" method="get">
  <input type="hidden" name="q" value="shoes">
  <input type="checkbox" name="c" value="x" checked>
  <input type="checkbox" name="d" value="y">
  <input type="radio" name="r" checked>
  <select name="s"><option value="a">A</option><option value="b" selected>B</option></select>
  <select name="t"><option> first </option><option>2</option></select>
  <select name="m" multiple><option selected>1</option><option>2</option><option selected>3</option></select>
  <textarea name="ta">hello
world</textarea>
  <div><button name="go" value="Go">Go</button></div>
</form>
<form class="third" method="PUT"><p><span id="inner">x</span></p><input name="only" value="1"></form>
</body></html>`

func TestFormRequest(t *testing.T) {
	t.Parallel()
	resp := htmlResponse("http://www.example.com/this/list.html", formsPage)
	cases := []struct {
		name              string
		opts              FormOptions
		method, url, body string
	}{
		{"first form, hidden inputs, first submit clicked, formdata appended", FormOptions{
			FormData: []FormField{{Name: "one", Value: "two"}, {Name: "test2", Value: "other"}}},
			"POST", "http://www.example.com/this/post.php", "test=val1&test=val2&user=&button1=submit1&one=two&test2=other"},
		{"dont_click", FormOptions{DontClick: true},
			"POST", "http://www.example.com/this/post.php", "test=val1&test=val2&test2=xxx&user="},
		{"clickdata by name", FormOptions{ClickData: map[string]any{"name": "button2"}},
			"POST", "http://www.example.com/this/post.php", "test=val1&test=val2&test2=xxx&user=&button2=submit2"},
		{"clickdata by nr", FormOptions{ClickData: map[string]any{"nr": 6}},
			"POST", "http://www.example.com/this/post.php", "test=val1&test=val2&test2=xxx&user=&button2=submit2"},
		{"null formdata removes a field", FormOptions{FormData: []FormField{{Name: "test", Null: true}}},
			"POST", "http://www.example.com/this/post.php", "test2=xxx&user=&button1=submit1"},
		{"GET form by id: query replaced, checked boxes, selects, textarea, button", FormOptions{FormID: "search"},
			"GET", "http://www.example.com/this/get.php?q=shoes&c=x&r=on&s=b&t=first&m=1&m=3&ta=hello%0Aworld&go=Go#frag", ""},
		{"formcss walks up to the form", FormOptions{FormCSS: "#inner"},
			"GET", "http://www.example.com/this/?only=1", ""},
		{"formxpath", FormOptions{FormXPath: `//input[@name="q"]`, DontClick: true, FormData: []FormField{{Name: "q", Value: "boots & socks"}}},
			"GET", "http://www.example.com/this/get.php?c=x&r=on&s=b&t=first&m=1&m=3&ta=hello%0Aworld&q=boots+%26+socks#frag", ""},
		{"formnumber", FormOptions{FormNumber: 2},
			"GET", "http://www.example.com/this/?only=1", ""},
		{"formname wins", FormOptions{FormName: "login", FormNumber: 2, DontClick: true},
			"POST", "http://www.example.com/this/post.php", "test=val1&test=val2&test2=xxx&user="},
		{"method and url overrides", FormOptions{FormNumber: 2, Method: "post", URL: "/other"},
			"POST", "http://www.example.com/other", "only=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := FormRequest(resp, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != tc.method || req.URL != tc.url || string(req.Body) != tc.body {
				t.Errorf("got %s %s body=%q\nwant %s %s body=%q", req.Method, req.URL, req.Body, tc.method, tc.url, tc.body)
			}
			if tc.method == "POST" && req.Headers.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("content type: %q", req.Headers.Get("Content-Type"))
			}
		})
	}
}

func TestFormRequestEncodingAndErrors(t *testing.T) {
	t.Parallel()
	page := "<form action='/s' method='post'><input name='q' value='caf\xe9'></form>"
	req, err := FormRequest(htmlResponse("http://shop.test/", page, "text/html; charset=windows-1252"), FormOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Body) != "q=caf%E9" {
		t.Errorf("windows-1252 body: %q", req.Body)
	}
	resp := htmlResponse("http://www.example.com/this/list.html", formsPage)
	for _, tc := range []struct {
		opts FormOptions
		want string
	}{
		{FormOptions{FormNumber: 5}, "form number 5 not found"},
		{FormOptions{FormXPath: "//nothing"}, "no <form> element found with formxpath"},
		{FormOptions{ClickData: map[string]any{"type": "submit"}}, "multiple elements"},
		{FormOptions{ClickData: map[string]any{"name": "nope"}}, "no clickable element"},
	} {
		_, err := FormRequest(resp, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.want)
		}
	}
	if _, err := FormRequest(htmlResponse("http://x.test/", "<p>no form</p>"), FormOptions{}); err == nil ||
		!strings.Contains(err.Error(), "http://x.test/: no <form>") {
		t.Errorf("no form: %v", err)
	}
	if got := EncodeFormData([]FormField{{Name: "a b", Value: "ü/1"}, {Name: "x", Null: true}}); got != "a+b=%C3%BC%2F1" {
		t.Errorf("EncodeFormData: %q", got)
	}
}

// TestFormRequestTableFormEdgeCases: forms the HTML5 parser closes at once
// (in a table, in a row of a template) neither panic nor pick up controls
// of another form.
func TestFormRequestTableFormEdgeCases(t *testing.T) {
	t.Parallel()
	// A form inside a <template> is no form of the page.
	if _, err := FormRequest(htmlResponse("http://x.test/", `<template><tr><form action="/t"><td><input name="a"></td></form></tr></template>`),
		FormOptions{}); err == nil || !strings.Contains(err.Error(), "no <form>") {
		t.Errorf("form in a template: %v", err)
	}
	for _, tc := range []struct{ page, body string }{
		{`<table><form action="/t" method="post"><tr><td><input name="a" value="1"></td></tr></form></table><form><input name="b" value="2"></form>`, "a=1"},
		{`<table><form action="/t" method="post"><select name="s"><option>x</option><select name="s2"></form></table>`, ""},
	} {
		req, err := FormRequest(htmlResponse("http://x.test/", tc.page), FormOptions{})
		if err != nil {
			t.Errorf("%s: %v", tc.page, err)
			continue
		}
		if string(req.Body) != tc.body {
			t.Errorf("%s: body %q, want %q", tc.page, req.Body, tc.body)
		}
	}
}
