package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewTemplatesValidate: every template writes a spider that passes
// validate (structure, settings, script compilation, exported callbacks).
func TestNewTemplatesValidate(t *testing.T) {
	for _, tmpl := range []string{"basic", "crawl", "redis"} {
		t.Run(tmpl, func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := runCLI(t, "new", "my_spider", "https://books.example.com/", "--template", tmpl, "--dir", dir)
			if code != exitOK {
				t.Fatalf("new: exit %d: %s", code, stderr)
			}
			spec := filepath.Join(dir, "my_spider", "spider.yaml")
			if !strings.Contains(stdout, spec) {
				t.Errorf("stdout %q does not name %s", stdout, spec)
			}
			data, err := os.ReadFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=") || !strings.Contains(string(data), "books.example.com") {
				t.Errorf("spec:\n%s", data)
			}
			if _, err := os.Stat(filepath.Join(dir, "my_spider", "my_spider.js")); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = runCLI(t, "validate", spec)
			if code != exitOK || stdout != "ok: "+spec+" (my_spider)\n" {
				t.Fatalf("validate: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			// A second run must not overwrite the user's work.
			code, _, stderr = runCLI(t, "new", "my_spider", "books.example.com", "--template", tmpl, "--dir", dir)
			if code != exitFailed || !strings.Contains(stderr, "already exists") {
				t.Fatalf("second new: exit %d stderr %q", code, stderr)
			}
		})
	}
}

func TestNewBadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"new", "bad name", "example.com"},
		{"new", "ok", "example.com/path"},
		{"new", "ok", "example.com", "--template", "fancy"},
		{"new", "only-name"},
	} {
		code, _, stderr := runCLI(t, append(args, "--dir", dir)...)
		if code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d stderr %q, want 2 with a message", args, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad arguments created files: %v", entries)
	}
}
