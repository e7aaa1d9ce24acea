// Command image writes a container image of ./coredns as a tarball that
// `docker load` accepts, without pulling a base image or needing a Docker
// engine: one layer with the static binaries (/coredns and the admin command
// /dbrecords), /etc/passwd and /etc/group with a
// nonroot user (65532), the host's CA certificates, and /tmp.
//
// Usage (from the repository root): go run ./build/image [-binary coredns]
// [-admin dbrecords] [-arch GOARCH] [-out dbrecords-image.tar] [-tag dbrecords:dev]
// [-version V] [-revision COMMIT]. `make image` passes them.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const uid = 65532

// caBundle is the image's CA certificates (for tls to MySQL with a public
// CA), in PEM: Mozilla's NSS roots as the pinned module
// golang.org/x/crypto/x509roots/fallback holds them, so the image does not
// depend on the build machine's trust store. Roots with a constraint PEM
// cannot carry (a distrust-after date) are left out.
func caBundle() []byte {
	var out []byte
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})...)
	}
	return out
}

// exposed are the container ports: DNS (the Service maps 53 to 1053, so no
// capability is needed), metrics, health and readiness.
var exposed = []string{"1053/udp", "1053/tcp", "9153/tcp", "8080/tcp", "8181/tcp"}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "coredns", "static coredns binary")
	flag.StringVar(&o.admin, "admin", "dbrecords", "static dbrecords admin binary")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "the binaries' architecture (GOARCH)")
	flag.StringVar(&o.out, "out", "dbrecords-image.tar", "tarball to write")
	flag.StringVar(&o.tag, "tag", "dbrecords:dev", "image reference recorded in the tarball")
	flag.StringVar(&o.version, "version", "dev", "version, for the OCI labels")
	flag.StringVar(&o.revision, "revision", "", "source revision (git commit), for the OCI labels")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	binary, admin, arch, out, tag, version, revision string
}

// machines maps GOARCH to the ELF machine its binaries have.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM, "386": elf.EM_386,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}

// readBinary reads a Linux binary built for arch, refusing any other.
func readBinary(path, arch string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	machine := f.Machine
	f.Close()
	if want, ok := machines[arch]; !ok || machine != want {
		return nil, fmt.Errorf("%s is built for %s, not for %s (build it with GOARCH=%s)", path, machine, arch, arch)
	}
	return os.ReadFile(path)
}

func run(o options) error {
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return err
	}
	bin, err := readBinary(o.binary, o.arch)
	if err != nil {
		return err
	}
	admin, err := readBinary(o.admin, o.arch)
	if err != nil {
		return err
	}
	layerTar, err := rootfs(bin, admin)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "dbrecords",
		"org.opencontainers.image.description": "CoreDNS with the dbrecords plugin: authoritative A/AAAA from a MySQL table",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.source":      "https://github.com/dbrecords/dbrecords",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	cf.Config.Entrypoint = []string{"/coredns"}
	cf.Config.Cmd = []string{"-conf", "/etc/coredns/Corefile"}
	cf.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range exposed {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return tarball.WriteToFile(o.out, ref, img)
}

// rootfs returns the layer: the binaries and the few files a static Go program needs.
func rootfs(bin, admin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	dir := func(path string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path, Mode: mode, Uid: owner, Gid: owner, ModTime: mtime})
	}
	file := func(path string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc/", 0o755, 0) },
		func() error { return dir("etc/coredns/", 0o755, 0) },
		func() error { return dir("etc/ssl/", 0o755, 0) },
		func() error { return dir("etc/ssl/certs/", 0o755, 0) },
		func() error { return dir("home/", 0o755, 0) },
		func() error { return dir("home/nonroot/", 0o700, uid) },
		func() error { return dir("tmp/", 0o1777, 0) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", uid)) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, caBundle()) },
		func() error { return file("coredns", 0o755, bin) },
		func() error { return file("dbrecords", 0o755, admin) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
