package dsl

import (
	"os"
	"testing"
)

func benchParse(b *testing.B, path string, wantErr bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, err := Parse(path, data)
		if (err != nil) != wantErr {
			b.Fatalf("err = %v", err)
		}
	}
}

// BenchmarkParseFull: the spec with every key (load cost at startup).
func BenchmarkParseFull(b *testing.B) { benchParse(b, "testdata/valid/full.spec.yaml", false) }

// BenchmarkAliasBomb: how fast a billion-laughs document is rejected (Y01).
func BenchmarkAliasBomb(b *testing.B) { benchParse(b, "testdata/invalid/alias_bomb.yaml", true) }
