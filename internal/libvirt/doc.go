// Package libvirt is the rescue Backend for libvirt hosts, over go-libvirt: it does what Nova's
// libvirt driver does for rescue, itself. It imports no Terraform package.
//
// # Connection
//
// New opens the read connection of a Backend (per provider instance), from Config.URI, else
// LIBVIRT_DEFAULT_URI, else qemu:///system. Transports: unix (qemu:///system,
// qemu+unix:///system?socket=..., test:///default or test+unix:///default?socket=... through a
// daemon), tcp (qemu+tcp://host[:16509]/system), tls (qemu+tls://host[:16514]/system, ?pkipath=
// with cacert.pem, clientcert.pem, clientkey.pem, default /etc/pki/CA and /etc/pki/libvirt;
// ?no_verify=1), ssh (qemu+ssh://user@host[:port]/system, also libssh/libssh2: the Go SSH client
// opens the remote socket (?socket=, default /var/run/libvirt/libvirt-sock) with OpenSSH's
// direct-streamlocal channel; keys from ?keyfile=, ~/.ssh/id_{ed25519,ecdsa,rsa} and the ssh
// agent, then the URI's password; the host key is always checked against ?known_hosts= (default
// ~/.ssh/known_hosts) unless ?no_verify=1 or ?known_hosts_verify=ignore, and only the key types
// known_hosts has for the host are asked for (Go would otherwise prefer the server's ECDSA or
// RSA key over an ed25519 one that is the only one known; ssh-rsa allows rsa-sha2-512,
// rsa-sha2-256 and ssh-rsa). go-libvirt's client
// multiplexes RPCs, so one connection serves the reads of concurrent resources; each rescue and
// unrescue opens one of its own; rescue and unrescue of one domain are serialized by a
// per-domain mutex. Every call is bounded by its operation's context (conn.go): a watchdog closes
// a connection still in use when the context ends, a keepalive closes one whose daemon stopped
// answering, and a lost connection (libvirtd restart) is reopened on the next call.
//
// # Validate
//
// Validate checks a request before any change: device and bus values, the pair against the
// host's domain capabilities and the known rules, a dry run of the transform (with a placeholder
// config drive when admin_pass is set: no free cdrom target for it is an InvalidError on
// admin_pass that names the bus), the rescue image. A transient domain (no persistent
// definition to hold the journal) is an UnsupportedError, at plan and in Rescue before any
// change.
// At plan time an unknown instance_id (InstanceID "") gets only the checks that need no host
// (values, the fixed pair rules, shutdown timeout); an unknown image_id (Request.ImageUnknown)
// skips the image. The plan then has the given device and bus, and mode stable when one is
// set, else an empty (unknown) mode.
//
// # Rescue
//
// Legacy mode (no device/bus) or stable-device mode, as package domxml transforms the
// definition. Steps (RescueSteps): the journal key secret; the journal (state preparing) in the
// persistent definition's <metadata> (namespace MetadataNamespace) before anything changes; a
// qcow2 copy-on-write overlay of the rescue image (always, for every device type: the rescue
// image is never written, and the overlay's path identifies the rescue definition); with
// admin_pass a config drive (domxml.ConfigDrive) uploaded as a raw volume; the rescue definition
// defined while the guest still runs (libvirt's rejection costs no downtime and is rolled back:
// volumes removed, original defined again, key removed; the error keeps libvirt's message and
// is a ConflictError for operation invalid/failed, an InvalidError on bus (stable mode) for
// configuration and XML errors, an UnsupportedError for what the driver lacks); clean
// shutdown (ACPI power button, pressed again every 5 s, flags=0 where ACPI is unsupported such as
// the test driver; forced off after shutdown_timeout, default 60 s); start; journal state
// rescued. A rescue definition that fails to start is rolled back and the original started
// again (FailedError with libvirt's reason). A rescue cancelled (or out of time) once the
// shutdown began is rolled back after the guest is down (the ACPI shutdown finishes, forced off
// at the end of the shutdown timeout; waited for without the cancelled context), and the guest
// is started again on its original definition; if that fails the error wraps
// rescue.ErrAccepted and the journal is kept. A new rescue that rolls back an interrupted one
// keeps that rescue's was-running flag. Paused domains are a ConflictError.
//
// # Journal and secrets
//
// The journal records a random rescue ID, the original inactive secure XML, the overlay and
// config drive volumes, device, bus, mode, image, shutdown timeout and whether the domain ran.
// Overlapping rescues of one domain from two processes: a rescue re-reads the journal before
// it defines the rescue definition and before each later journal write, and stops with a
// ConflictError when the journal is no longer its own (another process rolled it back), then
// removing only its own volumes and key. (Not yet: a young 'preparing' journal of another
// process is still taken for an interrupted rescue and rolled back.) Metadata is readable by
// read-only connections, and the secure XML holds secrets (graphics passwords), so the original
// is sealed with AES-256-GCM (the domain UUID as associated data) under a random 256-bit key kept
// in a libvirt secret (ephemeral='no', private='no', a random UUID that the journal names, no usage):
// read-write connections read it back with virSecretGetValue, read-only connections are refused.
// The secret is removed at unrescue (only the one the journal names). Where the driver has no secret driver (the test driver),
// the original is journalled in plain text only if it holds no secrets (its secure and normal
// XML are equal); otherwise the rescue is refused (UnsupportedError) before any change.
//
// # Storage
//
// Images are found through the storage API (works remotely, no qemu-img or file access on the
// client): an absolute path with virStorageVolLookupByPath, or pool/volume. When no active pool
// holds a path's directory, a transient dir pool named tfrescue-<hash of the directory> is
// started for it at apply (it vanishes with a libvirtd restart and is made again when needed;
// it is not removed afterwards). Validate (plan) changes nothing on the host: it only looks up,
// and an image (or the root disk whose backing image is the default) in a directory that no
// pool holds is left to apply with a warning; it fails only when the image is definitely
// missing (an active pool holds the directory but not the file; pool/volume with an unknown
// pool or volume). An inactive pool that holds the directory is an error that says to start
// it. The overlay (<domain>.rescue-<id8>.qcow2, id8 from the rescue ID) and the config drive
// (<domain>.rescue-<id8>.config.iso) are created in the rescue image's pool, so that pool must
// be writable and of a type that supports qcow2 backing stores (dir, fs, netfs). Without
// image_id, the image is the root disk's backing image: the <backingStore> of the domain XML,
// else that of the root disk's storage volume, else an InvalidError on image_id (always for a
// root disk of type='block', which is not looked up as a volume).
//
// # Unrescue and Get
//
// Unrescue needs only the journal, so any process can do it. The guest comes back first: the
// rescue guest (only when the running guest was started from the rescue definition) is shut
// down cleanly; the original definition is defined again with the journal in it (state
// restoring, which records whether the rescue guest ran); the domain is started if the rescue
// guest ran or the domain ran before the rescue (as Nova, an unrescued instance runs). Then the
// clean-up: the volumes are removed (best effort: a failure, such as an inactive pool, is
// returned at the end as an error naming the files left, once the guest is back); the original
// is defined once more exactly (byte-identical inactive XML, without the journal; the journal
// is also dropped from the live definition); the key is removed. It is idempotent and
// resumable after a crash at any step (UnrescueSteps): a journal in state restoring is
// finished by the next unrescue (Get says StateError, Status StatusUnrescueIncomplete). Gaps: a
// crash between defining the exact original and removing the key, or between storing the key
// and writing the journal, leaves the key secret (it guards nothing any more; its description
// names the domain and the rescue).
//
// Get: no journal means not in rescue (StateActive when running or blocked, StateStopped when
// shut off, StateError when crashed, StateOther otherwise). With a journal: StateRescued when the
// running guest was started from the rescue definition, or the journal says rescued and the
// shut-off domain still has the rescue definition; StateRescuing/StateUnrescuing while this
// Backend works on the domain; anything else is a rescue that stopped halfway: StateError with
// Status StatusIncomplete and a Fault that says so. The engine then unrescues it on delete
// (restoring the original), and a new Rescue rolls it back first and rescues again.
//
// # Shared waits
//
// For a shared poller (rescue.BatchGetter, rescue.ChangeNotifier): GetMany answers many waits
// with one list of all domains and Get's reading of each asked domain (batch.go); Changes sends
// the ids of domains whose lifecycle or rescue journal changed, from libvirt's domain events on
// the shared connection, and closes when that connection is lost (events.go). Reads that the
// resources of one run repeat (domain capabilities, the image's content, the scan for domains
// that use the image) are made once (lookups.go).
package libvirt
