package execjs_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/execjs"
)

// FuzzStructuredCopy sends JSON documents through a JS identity function
// and checks that the value comes back equal (numbers compared as float64,
// objects without regard to key order, which JS changes for integer-like
// keys).
//
//	go test -run '^$' -fuzz FuzzStructuredCopy -fuzztime 30s ./jsbridge/execjs/
func FuzzStructuredCopy(f *testing.F) {
	for _, seed := range []string{
		`null`, `true`, `0`, `-0`, `1e308`, `9007199254740993`, `-1.5`, `"签名\u0000"`,
		`[]`, `{}`, `[1,[2,[3,{"a":null}]]]`, `{"b":1,"a":2,"10":3,"9":4}`,
		`{"__proto__":{"isAdmin":true},"x":1}`, `{"constructor":"c","toString":1}`,
	} {
		f.Add(seed)
	}
	dir := writeFiles(f, map[string]string{"id.js": "function id(x) { return x; }"})
	c := mustLoad(f, []string{dir}, execjs.Options{})
	f.Fuzz(func(t *testing.T, doc string) {
		var in any
		if err := json.Unmarshal([]byte(doc), &in); err != nil {
			return
		}
		got, err := c.Call("id", "id", []any{in})
		if err != nil {
			t.Fatalf("id(%s): %v", doc, err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal %#v: %v", got, err)
		}
		var back any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, in) {
			t.Errorf("id(%s) = %s", doc, b)
		}
	})
}
