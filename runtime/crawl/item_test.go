package crawl

import "testing"

func TestPlain(t *testing.T) {
	inner := NewItem("b", int64(2))
	v := Plain(NewItem("a", []any{inner, "x"}, "m", map[string]any{"k": NewItem("z", true)}))
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("Plain(item) = %T", v)
	}
	list := m["a"].([]any)
	if got := list[0].(map[string]any)["b"]; got != int64(2) || list[1] != "x" {
		t.Errorf("nested list: %v", list)
	}
	if got := m["m"].(map[string]any)["k"].(map[string]any)["z"]; got != true {
		t.Errorf("nested map: %v", m["m"])
	}
	if Plain("s") != "s" {
		t.Error("scalars pass through")
	}
}
