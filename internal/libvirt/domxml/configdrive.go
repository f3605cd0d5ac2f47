package domxml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/kdomanski/iso9660"
)

// ConfigDriveLabel is the volume label cloud-init and cloudbase-init look for.
const ConfigDriveLabel = "config-2"

// MetaDataPath is where the metadata lives on the config drive.
const MetaDataPath = "openstack/latest/meta_data.json"

// MetaDataJSON renders meta_data.json the way Nova's config drive does (the fields a rescue
// needs: uuid, name, hostname, launch_index, availability_zone, meta, public_keys, keys and
// admin_pass when a password is given).
func MetaDataJSON(meta Metadata) ([]byte, error) {
	if meta.UUID == "" {
		return nil, errors.New("config drive: the instance UUID is required")
	}
	host := meta.Hostname
	if host == "" {
		host = meta.Name
	}
	m := map[string]any{
		"uuid":         meta.UUID,
		"name":         meta.Name,
		"hostname":     host,
		"launch_index": 0,
		"meta":         orEmpty(meta.Meta),
	}
	if meta.AvailabilityZone != "" {
		m["availability_zone"] = meta.AvailabilityZone
	} else {
		m["availability_zone"] = nil
	}
	if len(meta.PublicKeys) > 0 {
		m["public_keys"] = meta.PublicKeys
		names := make([]string, 0, len(meta.PublicKeys))
		for n := range meta.PublicKeys {
			names = append(names, n)
		}
		sort.Strings(names)
		var keys []map[string]string
		for _, n := range names {
			keys = append(keys, map[string]string{"name": n, "type": "ssh", "data": meta.PublicKeys[n]})
		}
		m["keys"] = keys
	}
	if meta.AdminPass != "" {
		m["admin_pass"] = meta.AdminPass
	}
	return json.Marshal(m) // map keys are sorted: stable output
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ConfigDrive builds a config drive like Nova's: an ISO 9660 image with the volume label
// config-2 holding openstack/latest/meta_data.json (see MetaDataJSON). The image holds the
// password in clear, as Nova's does: the backend uploads it to the host, attaches it read-only
// and removes it at unrescue.
//
// ISO names: github.com/kdomanski/iso9660 writes neither Joliet nor Rock Ridge; it writes the
// primary names in lower case with long names and a ";1" version
// ("openstack/latest/meta_data.json;1"). These are the primary names genisoimage writes for
// Nova too (-allow-lowercase -allow-multidot -l); Linux's isofs (map=normal, the default)
// shows them as meta_data.json, and isoinfo, xorriso and blkid read them. Guests that only
// read Joliet names would not see the files; Nova adds Joliet and Rock Ridge (-J -r).
func ConfigDrive(meta Metadata) ([]byte, error) {
	data, err := MetaDataJSON(meta)
	if err != nil {
		return nil, err
	}
	w, err := iso9660.NewWriter()
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	defer func() { _ = w.Cleanup() }()
	if err := w.AddFile(bytes.NewReader(data), MetaDataPath); err != nil {
		return nil, fmt.Errorf("config drive: add %s: %w", MetaDataPath, err)
	}
	var buf bytes.Buffer
	if err := w.WriteTo(&buf, ConfigDriveLabel); err != nil {
		return nil, fmt.Errorf("config drive: write ISO: %w", err)
	}
	return buf.Bytes(), nil
}
