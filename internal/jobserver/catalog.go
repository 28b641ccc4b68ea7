package jobserver

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// spiderEntry is one spec found in --specs.
type spiderEntry struct {
	Name string
	Path string
	Err  error // the spec does not load; listed on the dashboard, not schedulable
}

// catalog reads --specs (every *.yaml / *.yml at its top and every
// */spider.yaml one level down) and the uploaded spiders. It is read again on every call, so a spec
// dropped into the directory is available at once, without a restart.
func (s *Server) catalog() ([]spiderEntry, error) {
	paths, err := specFiles(s.opts.Specs)
	if err != nil {
		return nil, fmt.Errorf("--specs %s: %w", s.opts.Specs, err)
	}
	// Uploaded spiders (addversion.json): one directory each, its spec at
	// the top.
	if ents, err := os.ReadDir(s.uploadsDir()); err == nil {
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".old") {
				up, _ := specFiles(filepath.Join(s.uploadsDir(), e.Name()))
				paths = append(paths, up...)
			}
		}
	}
	var out []spiderEntry
	for _, p := range paths {
		name, err := s.opts.Inspect(p)
		out = append(out, spiderEntry{Name: name, Path: p, Err: err})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// specFiles lists the specs of a directory: *.yaml / *.yml at its top and
// */spider.yaml one level down.
func specFiles(dir string) ([]string, error) {
	var paths []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			for _, n := range []string{"spider.yaml", "spider.yml"} {
				if fi, err := os.Stat(filepath.Join(p, n)); err == nil && !fi.IsDir() {
					paths = append(paths, filepath.Join(p, n))
					break
				}
			}
		case strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml"):
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// spider finds the spec of the spider called name.
func (s *Server) spider(name string) (spiderEntry, error) {
	cat, err := s.catalog()
	if err != nil {
		return spiderEntry{}, err
	}
	for _, e := range cat {
		if e.Err == nil && e.Name == name {
			return e, nil
		}
	}
	return spiderEntry{}, fmt.Errorf("spider %q not found in %s", name, s.opts.Specs)
}
