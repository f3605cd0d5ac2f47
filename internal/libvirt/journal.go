package libvirt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"
)

// The journal: before anything changes, the original definition and what the rescue is about
// to create are stored in the domain's own <metadata>, in our namespace, in the persistent
// definition (AFFECT_CONFIG). It lives on the host (etc/libvirt/qemu/<name>.xml), so any
// process can unrescue after a crash of the provider or a restart of libvirtd.
//
// Domain metadata is readable by read-only connections (virsh -r dumpxml), but the original is
// fetched with VIR_DOMAIN_XML_SECURE and may hold secrets (graphics passwords). So the original
// is encrypted with AES-256-GCM under a random key kept in a libvirt secret object (private='no'
// so that read-write connections can read it back; read-only connections are refused
// virSecretGetValue). Each rescue makes its own secret with a random UUID that the journal
// names, and only that one is removed, so overlapping rescues never touch each other's key.
// Drivers without a secret driver (the test driver) get the original in
// plain text, and only when it has no secrets at all (the secure and the normal XML are equal);
// otherwise the rescue is refused before any change.
const (
	// MetadataNamespace is the XML namespace of the journal in the domain's <metadata>.
	MetadataNamespace = "https://rescue-labs.dev/terraform-provider-rescue/v1"
	metadataPrefix    = "rescue"
)

// Journal states.
const (
	// statePreparing: journal written, the rescue definition may or may not be defined yet and
	// the guest may still run its original definition.
	statePreparing = "preparing"
	// stateRescued: the rescue definition was started.
	stateRescued = "rescued"
	// stateRestoring: an unrescue defined the original definition again, with the journal in
	// it, and has yet to start it (if it should run), remove the volumes and the key, and
	// define the original without the journal.
	stateRestoring = "restoring"
)

// journal is the record in the domain's metadata.
type journal struct {
	XMLName xml.Name `xml:"rescue"`
	// Version of the record format.
	Version int `xml:"version,attr"`
	// ID is the random ID of the rescue that wrote the journal: a process goes on only while
	// the journal on the host is still its own (another one may have rolled it back).
	ID string `xml:"id,attr,omitempty"`
	// State is preparing or rescued.
	State string `xml:"state,attr"`
	// Started is when the rescue began (RFC 3339).
	Started string `xml:"started,attr,omitempty"`
	// Mode, Device, Bus are the rescue in effect.
	Mode   string `xml:"mode,attr"`
	Device string `xml:"device,attr,omitempty"`
	Bus    string `xml:"bus,attr,omitempty"`
	// Image is the rescue image as requested or resolved (path or pool/volume).
	Image string `xml:"image,attr,omitempty"`
	// ShutdownTimeout is the clean-shutdown time (Go duration) also used at unrescue.
	ShutdownTimeout string `xml:"shutdown-timeout,attr,omitempty"`
	// WasRunning says whether the domain ran when the rescue began.
	WasRunning bool `xml:"was-running,attr"`
	// RanRescue (state restoring) says whether the rescue guest had run, so that the domain is
	// started on its original definition.
	RanRescue bool `xml:"ran-rescue,attr,omitempty"`
	// Overlay is the copy-on-write overlay of the rescue image the rescue guest boots.
	Overlay *journalVolume `xml:"overlay,omitempty"`
	// ConfigDrive is the config drive volume, when a password was given.
	ConfigDrive *journalVolume `xml:"config-drive,omitempty"`
	// Owner is the run whose operation (rescue or unrescue) holds the journal and its lease;
	// nil once the operation ended (a started rescue is then handed to Terraform).
	Owner *journalOwner `xml:"owner,omitempty"`
	// Original is the original inactive, secure domain XML.
	Original journalOriginal `xml:"original"`
	// Pass is the admin_pass of the config drive, sealed with the original's key (only when
	// the original is sealed), so that a later run can tell whether the rescue is the one its
	// configuration asks for.
	Pass *journalOriginal `xml:"pass,omitempty"`
}

// journalVolume names a volume the rescue created.
type journalVolume struct {
	Pool string `xml:"pool,attr"`
	Name string `xml:"name,attr"`
	Path string `xml:"path,attr"`
	// PoolDir is the directory of a transient pool the backend made for it, if any.
	PoolDir string `xml:"pool-dir,attr,omitempty"`
}

// journalOriginal is the original definition, plain or sealed.
type journalOriginal struct {
	// Encoding is "plain" or "aes-256-gcm".
	Encoding string `xml:"encoding,attr"`
	// Secret is the UUID of the libvirt secret holding the key (aes-256-gcm).
	Secret string `xml:"secret,attr,omitempty"`
	// Nonce is the GCM nonce, base64.
	Nonce string `xml:"nonce,attr,omitempty"`
	// Data is the XML (plain) or the base64 ciphertext.
	Data string `xml:",chardata"`
}

func (j *journal) shutdownTimeout() time.Duration {
	if d, err := time.ParseDuration(j.ShutdownTimeout); err == nil && d > 0 {
		return d
	}
	return DefaultShutdownTimeout
}

// readJournal reads the journal from the persistent definition; nil when there is none.
func readJournal(l *golibvirt.Libvirt, d golibvirt.Domain) (*journal, error) {
	s, err := l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{MetadataNamespace}, golibvirt.DomainAffectConfig)
	if err != nil {
		if isCode(err, golibvirt.ErrNoDomainMetadata) {
			return nil, nil
		}
		if isCode(err, golibvirt.ErrOperationInvalid) {
			// A transient domain has no persistent definition, so no journal (a rescue
			// refuses it).
			if p, perr := l.DomainIsPersistent(d); perr == nil && p == 0 {
				return nil, nil
			}
		}
		return nil, fmt.Errorf("read rescue journal of domain %s: %w", d.Name, err)
	}
	var j journal
	if err := xml.Unmarshal([]byte(s), &j); err != nil {
		return nil, fmt.Errorf("parse rescue journal of domain %s: %w", d.Name, err)
	}
	return &j, nil
}

// writeJournal stores the journal in the persistent definition.
func writeJournal(l *golibvirt.Libvirt, d golibvirt.Domain, j *journal) error {
	j.Version = 1
	buf, err := xml.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode rescue journal: %w", err)
	}
	err = l.DomainSetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{string(buf)},
		golibvirt.OptString{metadataPrefix}, golibvirt.OptString{MetadataNamespace}, golibvirt.DomainAffectConfig)
	if err != nil {
		return fmt.Errorf("write rescue journal of domain %s: %w", d.Name, err)
	}
	return nil
}

// journalElement is the journal as a <metadata> child element in our namespace, as libvirt
// stores what writeJournal gives it (the prefix and namespace on the root element only).
func journalElement(j *journal) (string, error) {
	j.Version = 1
	buf, err := xml.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("encode rescue journal: %w", err)
	}
	s := string(buf)
	if !strings.HasPrefix(s, "<rescue") || !strings.HasSuffix(s, "</rescue>") {
		return "", fmt.Errorf("encode rescue journal: unexpected form %.40q", s)
	}
	s = "<" + metadataPrefix + ":rescue xmlns:" + metadataPrefix + "=\"" + MetadataNamespace + "\"" +
		strings.TrimSuffix(strings.TrimPrefix(s, "<rescue"), "</rescue>") + "</" + metadataPrefix + ":rescue>"
	return s, nil
}

// errNoSecretDriver says the connection's driver has no secret driver.
var errNoSecretDriver = fmt.Errorf("no secret driver")

// storeKey creates a key secret with a random UUID (the journal names it) and a fresh random
// key for the rescue rescueID of a domain. The UUID is "" when there is no secret driver.
func storeKey(l *golibvirt.Libvirt, d golibvirt.Domain, rescueID string) (string, []byte, error) {
	u := uuid.New()
	id := u.String()
	def := libvirtxml.Secret{
		Ephemeral:   "no",
		Private:     "no",
		UUID:        id,
		Description: fmt.Sprintf("terraform-provider-rescue: key of the rescue journal of domain %s (%s), rescue %s", d.Name, uuidString(d.UUID), rescueID),
	}
	x, err := def.Marshal()
	if err != nil {
		return id, nil, fmt.Errorf("encode secret: %w", err)
	}
	s, err := l.SecretDefineXML(x, 0)
	if err != nil {
		if isCode(err, golibvirt.ErrNoSupport) {
			return "", nil, errNoSecretDriver
		}
		return id, nil, fmt.Errorf("define the journal key secret of domain %s: %w", d.Name, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return id, nil, fmt.Errorf("make key: %w", err)
	}
	if err := l.SecretSetValue(s, key, 0); err != nil {
		_ = l.SecretUndefine(s)
		return id, nil, fmt.Errorf("set the journal key of domain %s: %w", d.Name, err)
	}
	return id, key, nil
}

// loadKey reads a journal key back.
func loadKey(l *golibvirt.Libvirt, id string) ([]byte, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("journal key secret %q: %w", id, err)
	}
	s, err := l.SecretLookupByUUID(golibvirt.UUID(u))
	if err != nil {
		return nil, fmt.Errorf("look up journal key secret %s: %w", id, err)
	}
	v, err := l.SecretGetValue(s, 0)
	if err != nil {
		return nil, fmt.Errorf("read journal key secret %s: %w", id, err)
	}
	return v, nil
}

// deleteKey removes the key secret a journal names (by its UUID), if any; "" is none.
func deleteKey(l *golibvirt.Libvirt, secret string) error {
	if secret == "" {
		return nil
	}
	u, err := uuid.Parse(secret)
	if err != nil {
		return fmt.Errorf("journal key secret %q: %w", secret, err)
	}
	s, err := l.SecretLookupByUUID(golibvirt.UUID(u))
	if err != nil {
		if isCode(err, golibvirt.ErrNoSecret, golibvirt.ErrNoSupport) {
			return nil
		}
		return fmt.Errorf("look up journal key secret: %w", err)
	}
	if err := l.SecretUndefine(s); err != nil && !isCode(err, golibvirt.ErrNoSecret) {
		return fmt.Errorf("delete journal key secret: %w", err)
	}
	return nil
}

// seal stores the original in the journal, encrypted when a key is given.
func seal(j *journal, original string, key []byte, secret string, dom golibvirt.UUID) error {
	if key == nil {
		j.Original = journalOriginal{Encoding: "plain", Data: original}
		return nil
	}
	v, err := sealed(key, secret, []byte(original), dom[:])
	if err != nil {
		return err
	}
	j.Original = *v
	return nil
}

// sealed is plain encrypted with key (AES-256-GCM, a fresh nonce) and bound to aad, as the
// journal keeps it; secret names the libvirt secret that holds key.
func sealed(key []byte, secret string, plain, aad []byte) (*journalOriginal, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("make nonce: %w", err)
	}
	ct := gcm.Seal(nil, nonce, plain, aad)
	return &journalOriginal{Encoding: "aes-256-gcm", Secret: secret,
		Nonce: base64.StdEncoding.EncodeToString(nonce), Data: base64.StdEncoding.EncodeToString(ct)}, nil
}

// passAAD binds a sealed password to its domain and role.
func passAAD(dom golibvirt.UUID) []byte { return append(append([]byte{}, dom[:]...), "admin_pass"...) }

// sealPass stores the password in the journal, sealed with key; without a key (no secret
// driver) it is not stored.
func sealPass(j *journal, pass string, key []byte, secret string, dom golibvirt.UUID) error {
	if key == nil || pass == "" {
		return nil
	}
	v, err := sealed(key, secret, []byte(pass), passAAD(dom))
	if err != nil {
		return err
	}
	j.Pass = v
	return nil
}

// unsealPass returns the sealed password of the journal; ok is false when it has none.
func unsealPass(l *golibvirt.Libvirt, j *journal, dom golibvirt.UUID) (string, bool, error) {
	if j.Pass == nil || j.Pass.Encoding != "aes-256-gcm" {
		return "", false, nil
	}
	pt, err := open(l, j.Pass, passAAD(dom))
	if err != nil {
		return "", false, err
	}
	return string(pt), true, nil
}

// open decrypts a sealed value of the journal.
func open(l *golibvirt.Libvirt, v *journalOriginal, aad []byte) ([]byte, error) {
	key, err := loadKey(l, v.Secret)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce, err := base64.StdEncoding.DecodeString(v.Nonce)
	if err != nil {
		return nil, fmt.Errorf("rescue journal: nonce: %w", err)
	}
	ct, err := base64.StdEncoding.DecodeString(v.Data)
	if err != nil {
		return nil, fmt.Errorf("rescue journal: sealed data: %w", err)
	}
	pt, err := gcm.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("rescue journal: decrypt: %w", err)
	}
	return pt, nil
}

// unseal returns the original definition from the journal.
func unseal(l *golibvirt.Libvirt, j *journal, dom golibvirt.UUID) (string, error) {
	switch j.Original.Encoding {
	case "plain":
		return j.Original.Data, nil
	case "aes-256-gcm":
	default:
		return "", fmt.Errorf("rescue journal: unknown encoding %q of the original definition", j.Original.Encoding)
	}
	pt, err := open(l, &j.Original, dom[:])
	if err != nil {
		return "", fmt.Errorf("the original definition: %w", err)
	}
	return string(pt), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	return g, nil
}
