package test

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the OCI tarball of `make image` from the binary under test
// and inspects it: entrypoint, user, ports, and that the binary inside is the
// one `make build` made.
func TestImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.tar")
	build := func(args ...string) ([]byte, error) {
		return exec.Command("go", append([]string{"run", "../build/image", "-binary", binary, "-admin", admin, "-out", path, "-tag", "dbrecords:test",
			"-version", "1.15.0-dbrecords.1", "-revision", "abc123"}, args...)...).CombinedOutput()
	}
	// A binary of another architecture is refused, not packed.
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if out, err := build("-arch", other); err == nil || !strings.Contains(string(out), "not for "+other) {
		t.Errorf("Expected an image for %s from %s binaries refused, got %v:\n%s", other, runtime.GOARCH, err, out)
	}
	if out, err := build(); err != nil {
		t.Fatalf("Expected the image to build, got %v:\n%s", err, out)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("Expected a docker-loadable tarball, got %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != runtime.GOARCH || cf.Config.Labels["org.opencontainers.image.version"] != "1.15.0-dbrecords.1" || cf.Config.Labels["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("Expected architecture %s and OCI version and revision labels, got %s, %v", runtime.GOARCH, cf.Architecture, cf.Config.Labels)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/coredns"}) || cf.Config.User != "65532:65532" || cf.OS != "linux" {
		t.Errorf("Expected entrypoint /coredns as user 65532 on linux, got %v as %q on %q", cf.Config.Entrypoint, cf.Config.User, cf.OS)
	}
	for _, p := range []string{"1053/udp", "1053/tcp", "9153/tcp", "8080/tcp", "8181/tcp"} {
		if _, ok := cf.Config.ExposedPorts[p]; !ok {
			t.Errorf("Expected port %s exposed, got %v", p, cf.Config.ExposedPorts)
		}
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("Expected one layer, got %d (%v)", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	want, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["coredns"], want) {
		t.Fatalf("Expected /coredns in the image to be the built binary (%d bytes), got %d bytes", len(want), len(files["coredns"]))
	}
	// The CA certificates come from the pinned x509roots module, not from the
	// build machine: every block is a certificate, and there are the NSS roots.
	roots, rest := 0, files["etc/ssl/certs/ca-certificates.crt"]
	for {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			t.Fatalf("Expected only certificates in the CA bundle, got %v", err)
		}
		roots++
	}
	if roots < 100 || len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("Expected the NSS roots in /etc/ssl/certs/ca-certificates.crt, got %d certificates and %d bytes of something else", roots, len(rest))
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532") {
		t.Errorf("Expected /etc/passwd with the nonroot user, got %q", files["etc/passwd"])
	}
	if !bytes.Equal(files["dbrecords"], mustRead(t, admin)) {
		t.Errorf("Expected /dbrecords in the image to be the admin command")
	}
	inside := filepath.Join(t.TempDir(), "coredns")
	if err := os.WriteFile(inside, files["coredns"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(inside, "-plugins").Output()
	if err != nil || !contains(strings.Fields(string(out)), "dbrecords") {
		t.Errorf("Expected the image's coredns to list dbrecords, got %v: %s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
