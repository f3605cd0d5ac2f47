package domxml

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kdomanski/iso9660"
)

var testMeta = Metadata{
	UUID:       "8c1e2f5a-3b7d-4c1e-9f00-0a1b2c3d4e5f",
	Name:       "web-1",
	AdminPass:  "Res<cue>&\"pass\"",
	PublicKeys: map[string]string{"ops": "ssh-ed25519 AAAAC3 ops@example"},
	Meta:       map[string]string{"role": "web"},
}

func TestMetaDataJSON(t *testing.T) {
	b, err := MetaDataJSON(testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"uuid": testMeta.UUID, "name": "web-1", "hostname": "web-1", "launch_index": float64(0),
		"availability_zone": nil, "meta": map[string]any{"role": "web"},
		"public_keys": map[string]any{"ops": "ssh-ed25519 AAAAC3 ops@example"},
		"keys":        []any{map[string]any{"name": "ops", "type": "ssh", "data": "ssh-ed25519 AAAAC3 ops@example"}},
		"admin_pass":  testMeta.AdminPass,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	b, _ = MetaDataJSON(Metadata{UUID: "u", Name: "n", Hostname: "h"})
	if strings.Contains(string(b), "admin_pass") || !strings.Contains(string(b), `"hostname":"h"`) {
		t.Errorf("without a password: %s", b)
	}
	if _, err := MetaDataJSON(Metadata{Name: "n"}); err == nil {
		t.Error("no error without a UUID")
	}
}

func TestConfigDriveGoReader(t *testing.T) {
	img, err := ConfigDrive(testMeta)
	if err != nil {
		t.Fatal(err)
	}
	im, err := iso9660.OpenImage(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if label, err := im.Label(); err != nil || label != ConfigDriveLabel {
		t.Errorf("label %q %v, want %q", label, err, ConfigDriveLabel)
	}
	f, err := im.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"openstack", "latest", "meta_data.json"} {
		kids, err := f.GetChildren()
		if err != nil {
			t.Fatal(err)
		}
		var next *iso9660.File
		var names []string
		for _, k := range kids {
			names = append(names, k.Name())
			if k.Name() == name {
				next = k
			}
		}
		if next == nil {
			t.Fatalf("%s not found among %v", name, names)
		}
		f = next
	}
	data, _ := io.ReadAll(f.Reader())
	want, _ := MetaDataJSON(testMeta)
	if !bytes.Equal(data, want) {
		t.Errorf("meta_data.json = %s, want %s", data, want)
	}
}

// needTool fails (not skips) with the install command when a Debian tool is missing.
func needTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: install it with `apt-get install -y --no-install-recommends %s` (or scripts/install-deps.sh)", tool, pkg)
	}
	return p
}

// TestConfigDriveIsoinfo reads the image with genisoimage's isoinfo and util-linux's blkid,
// the way a guest finds (LABEL=config-2) and reads the drive.
func TestConfigDriveIsoinfo(t *testing.T) {
	isoinfo := needTool(t, "isoinfo", "genisoimage")
	blkid := needTool(t, "blkid", "util-linux")
	img, err := ConfigDrive(testMeta)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.iso")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(isoinfo, "-d", "-i", path).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -d: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Volume id: config-2\n") {
		t.Errorf("isoinfo -d does not show the label config-2:\n%s", out)
	}
	// No Joliet, no Rock Ridge (see ConfigDrive): the files are found by their primary names.
	out, err = exec.Command(isoinfo, "-f", "-i", path).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -f: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "/openstack/latest/meta_data.json;1") {
		t.Errorf("isoinfo -f does not list meta_data.json:\n%s", out)
	}
	got, err := exec.Command(isoinfo, "-i", path, "-x", "/openstack/latest/meta_data.json;1").Output()
	if err != nil {
		t.Fatalf("isoinfo -x: %v", err)
	}
	want, _ := MetaDataJSON(testMeta)
	if !bytes.Equal(got, want) {
		t.Errorf("isoinfo -x read %q, want %q", got, want)
	}
	out, err = exec.Command(blkid, "-p", "-o", "export", path).CombinedOutput()
	if err != nil {
		t.Fatalf("blkid: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "LABEL=config-2\n") || !strings.Contains(string(out), "TYPE=iso9660\n") {
		t.Errorf("blkid does not see LABEL=config-2 TYPE=iso9660:\n%s", out)
	}
}
