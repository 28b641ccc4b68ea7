package schema

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v4"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/internal/golden"
)

// TestSchemaUpToDate fails when spider.schema.json no longer matches the Go
// structs and settings table it is generated from.
func TestSchemaUpToDate(t *testing.T) {
	got, err := dsl.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if golden.Update() {
		golden.Write(t, "spider.schema.json", got)
		return
	}
	if !bytes.Equal(got, spiderSchema) {
		t.Fatal("spider.schema.json is stale: run go test ./schema -update")
	}
	for _, k := range dsl.Keys() {
		if k.Doc == "" {
			t.Errorf("key %s has no doc comment", k.Path)
		}
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSON()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(dsl.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(dsl.SchemaID)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// instance converts a YAML spec to a JSON instance (the YAML library
// resolves anchors and merge keys, within its own alias limits).
func instance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestSpecsMatchSchema validates every spec of the repository (examples/
// and every testdata/, except directories of invalid specs) against the
// schema with a real JSON Schema validator, and checks the loader agrees.
func TestSpecsMatchSchema(t *testing.T) {
	s := compile(t)
	var specs []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "invalid" || d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		inTree := strings.Contains(p, string(filepath.Separator)+"testdata"+string(filepath.Separator)) ||
			strings.HasPrefix(p, filepath.Join("..", "examples")+string(filepath.Separator))
		if inTree && (d.Name() == "spider.yaml" || strings.HasSuffix(d.Name(), ".spec.yaml")) {
			specs = append(specs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 3 {
		t.Fatalf("found only %d specs: %v", len(specs), specs)
	}
	for _, p := range specs {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(instance(t, data)); err != nil {
				t.Errorf("schema rejects %s: %v", p, err)
			}
		})
	}
}

// TestSchemaRejects shows the schema catches the same kinds of mistakes as
// the loader (editors flag them while typing).
func TestSchemaRejects(t *testing.T) {
	s := compile(t)
	for name, spec := range map[string]string{
		"unknown key":        "name: a\nscript: a.js\nstart_url: x\n",
		"missing script":     "name: a\n",
		"bad name":           "name: 'a b'\nscript: a.js\n",
		"string for int":     "name: a\nscript: a.js\nsettings: {CONCURRENT_REQUESTS: '16'}\n",
		"zero concurrency":   "name: a\nscript: a.js\nsettings: {CONCURRENT_REQUESTS: 0}\n",
		"unknown setting":    "name: a\nscript: a.js\nsettings: {concurent_requests: 1}\n",
		"bad duration":       "name: a\nscript: a.js\nsettings: {DOWNLOAD_DELAY: soon}\n",
		"bad enum":           "name: a\nscript: a.js\nsettings: {SCHEDULER: postgres}\n",
		"unknown signal":     "name: a\nscript: a.js\nhooks: {spider_open: f}\n",
		"rule typo":          "name: a\nscript: a.js\nrules: [{folow: true}]\n",
		"bad feed format":    "name: a\nscript: a.js\nfeeds: {a.txt: {format: yaml}}\n",
		"bad sitemap rule":   "name: a\nscript: a.js\nsitemap_rules: [[a]]\n",
		"robot scheme":       "name: a\nscript: a.js\nrobot_scheme: ftp\n",
		"negative feed size": "name: a\nscript: a.js\nfeeds: {a.json: {indent: -1}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(instance(t, []byte(spec))); err == nil {
				t.Errorf("schema accepts %q", spec)
			}
		})
	}
	for name, spec := range map[string]string{
		"durations": "name: a\nscript: a.js\nsettings: {DOWNLOAD_DELAY: 0.5, DOWNLOAD_TIMEOUT: 2s, JS_TIMEOUT: \"500ms\", TIMEOUT: 3}\n",
		"sizes":     "name: a\nscript: a.js\nsettings: {DOWNLOAD_MAXSIZE: 32MiB, DOWNLOAD_WARNSIZE: 1000, JS_MEMORY_LIMIT: 1.5GB}\n",
		"lists":     "name: a\nscript: a.js\nstart_urls: https://a.example/\nsettings: {PROXIES: http://p:1, RETRY_HTTP_CODES: 503}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(instance(t, []byte(spec))); err != nil {
				t.Errorf("schema rejects %q: %v", spec, err)
			}
		})
	}
}
