package extract

import (
	"errors"
	"reflect"
	"testing"
)

func TestJSONAndJMESPath(t *testing.T) {
	t.Parallel()
	resp := htmlResponse("http://api.test/x", `{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"next":null}`, "application/json")
	v, err := JSON(resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want any
	}{
		{"items[].name", []any{"a", "b"}},
		{"items[?id > `1`].name | [0]", "b"},
		{"length(items)", 2.0},
		{"next", nil},
	} {
		got, err := JMESPath(v, tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v want %#v", tc.expr, got, tc.want)
		}
	}
	if _, err := JMESPath(v, "items[?"); err == nil {
		t.Error("bad jmespath accepted")
	}
	if err := CompileJMESPath("a.b"); err != nil {
		t.Error(err)
	}
	if _, err := JSON(htmlResponse("http://api.test/bad", "<html>")); err == nil {
		t.Error("non-JSON body accepted")
	}
}

func TestExtractJSON(t *testing.T) {
	t.Parallel()
	page := `<html><head>
<script type="application/ld+json">{"@type": "Product", "name": "Lamp", "offers": {"price": "12.50"}}</script>
<script>window.__STATE__ = {"cart": [1, 2], "user": {"id": "u1"}}; var other = [3];</script>
<script id="__NEXT_DATA__" type="application/json">{"props": {"page": 3}}</script>
</head><body><p>price [not json</p></body></html>`
	resp := htmlResponse("http://shop.test/p", page)
	cases := []struct {
		q    string
		want any
	}{
		{`script[type="application/ld+json"]`, map[string]any{"@type": "Product", "name": "Lamp", "offers": map[string]any{"price": "12.50"}}},
		{"css:script#__NEXT_DATA__", map[string]any{"props": map[string]any{"page": 3.0}}},
		{`re:__STATE__\s*=\s*(\{.*?\});`, map[string]any{"cart": []any{1.0, 2.0}, "user": map[string]any{"id": "u1"}}},
		{`__STATE__ = (.*)`, map[string]any{"cart": []any{1.0, 2.0}, "user": map[string]any{"id": "u1"}}},
		{`var other = (\[\d\])`, []any{3.0}},
	}
	for _, tc := range cases {
		got, err := ExtractJSON(resp, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v want %#v", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"p", "re:nothing here", "css:table"} {
		if _, err := ExtractJSON(resp, q); !errors.Is(err, ErrNoJSON) {
			t.Errorf("%s: want ErrNoJSON, got %v", q, err)
		}
	}
}
