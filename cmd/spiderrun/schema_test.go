package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/spiderrun/spiderrun/schema"
)

func TestSchemaCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t, "schema")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	if !bytes.Equal([]byte(stdout), schema.JSON()) {
		t.Fatal("schema output differs from schema/spider.schema.json")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", doc["$schema"])
	}
}
