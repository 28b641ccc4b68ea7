package jobserver

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits of an uploaded bundle once unpacked: a zip bomb stops here.
const (
	maxBundleFiles = 1000
	maxBundleBytes = 64 << 20
)

// uploadsDir holds the spiders uploaded with addversion.json, one directory
// per spider, named after it.
func (s *Server) uploadsDir() string { return filepath.Join(s.opts.Data, "uploads") }

// addVersion is Scrapyd's addversion.json with a spider bundle instead of
// an egg: a zip (in the "egg" field, as Scrapyd clients send it) holding
// one spider — its spec (*.yaml at the zip's top) and the files the spec
// names. The spec is validated as `spiderrun validate` does before the
// bundle replaces the spider's previous upload.
func (s *Server) addVersion(w http.ResponseWriter, r *http.Request) {
	if err := formProject(r, true); err != nil {
		s.failFor(w, err)
		return
	}
	version, err := required(r, "version")
	if err != nil {
		s.failFor(w, err)
		return
	}
	f, _, err := r.FormFile("egg")
	if err != nil {
		s.failFor(w, &inputError{errors.New("missing required file: egg (a zip of the spider's spec and scripts)")})
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		s.failFor(w, err)
		return
	}
	name, err := s.install(data, version)
	if err != nil {
		s.failFor(w, err)
		return
	}
	s.log.Info("spider uploaded", "spider", name, "version", version)
	s.reply(w, map[string]any{"project": DefaultProject, "version": version, "spiders": 1, "spider": name})
}

// install unpacks a bundle into a new directory, validates its spec and
// moves it in place of the spider's previous upload.
func (s *Server) install(data []byte, version string) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", &inputError{fmt.Errorf("egg: not a zip archive: %w", err)}
	}
	if err := os.MkdirAll(s.uploadsDir(), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.uploadsDir(), ".upload-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := unzip(zr, tmp); err != nil {
		return "", &inputError{fmt.Errorf("egg: %w", err)}
	}
	specs, _ := filepath.Glob(filepath.Join(tmp, "*.yaml"))
	yml, _ := filepath.Glob(filepath.Join(tmp, "*.yml"))
	specs = append(specs, yml...)
	if len(specs) != 1 {
		return "", &inputError{fmt.Errorf("egg: want one spider spec (*.yaml) at the top of the zip, found %d", len(specs))}
	}
	name, err := s.opts.Inspect(specs[0])
	if err != nil {
		return "", &inputError{fmt.Errorf("egg: %s: %w", filepath.Base(specs[0]), err)}
	}
	if !validID.MatchString(name) {
		return "", &inputError{fmt.Errorf("egg: spider name %q cannot name a directory", name)}
	}
	if err := s.opts.Validate(specs[0], nil, nil); err != nil {
		// The messages name the temporary path; say which file it was.
		msg := strings.ReplaceAll(err.Error(), tmp+string(filepath.Separator), "")
		return "", &inputError{fmt.Errorf("egg: spider %s is invalid: %s", name, msg)}
	}
	cat, err := s.catalog()
	if err != nil {
		return "", err
	}
	for _, e := range cat {
		if e.Name == name && !strings.HasPrefix(e.Path, s.uploadsDir()+string(filepath.Separator)) {
			return "", &inputError{fmt.Errorf("spider %s is defined in --specs (%s); an upload cannot replace it", name, e.Path)}
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".version"), []byte(version), 0o644); err != nil {
		return "", err
	}
	dst := filepath.Join(s.uploadsDir(), name)
	old := dst + ".old"
	os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Rename(old, dst)
		return "", err
	}
	os.RemoveAll(old)
	return name, nil
}

// unzip extracts regular files and directories only, refusing paths that
// leave dir (zip slip), links, and more than the bundle limits.
func unzip(zr *zip.Reader, dir string) error {
	if len(zr.File) > maxBundleFiles {
		return fmt.Errorf("%d files: more than %d", len(zr.File), maxBundleFiles)
	}
	var total int64
	for _, f := range zr.File {
		name := path.Clean(strings.ReplaceAll(f.Name, `\`, "/"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%s: a path outside the bundle", f.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		case !mode.IsRegular():
			return fmt.Errorf("%s: not a regular file (%s)", f.Name, mode.Type())
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			rc.Close()
			return err
		}
		n, err := io.Copy(out, io.LimitReader(rc, maxBundleBytes-total+1))
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if total += n; total > maxBundleBytes {
			return fmt.Errorf("more than %d bytes unpacked", maxBundleBytes)
		}
	}
	return nil
}

// uploadedVersion is the version an uploaded spider was sent with.
func (s *Server) uploadedVersion(spec string) string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(spec), ".version"))
	if err != nil {
		return ""
	}
	return string(b)
}
