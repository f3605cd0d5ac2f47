package libvirt_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Validate (and Rescue) refuse bad requests before any change, with typed errors.
func TestTestDriverValidate(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-val.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	d := td.domain(t, "td-val", true, false, "")
	td.domain(t, "td-val-backed", true, true, "")
	orig := td.xml(t, d, secure)

	invalid := func(attr string) func(error) bool {
		return func(err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == attr
		}
	}
	notFound := func(what string) func(error) bool {
		return func(err error) bool {
			var nf *rescue.NotFoundError
			return errors.As(err, &nf) && nf.What == what
		}
	}
	for _, c := range []struct {
		name string
		req  rescue.Request
		ok   func(error) bool
	}{
		{"missing domain", rescue.Request{InstanceID: "td-nope", ImageID: img}, notFound("instance")},
		{"missing domain uuid", rescue.Request{InstanceID: "0b7c1b1e-8d52-4e38-9f3c-3a3b1d7c0e11", ImageID: img}, notFound("instance")},
		{"bad device", rescue.Request{InstanceID: "td-val", ImageID: img, Device: "tape"}, invalid("device")},
		{"bad bus", rescue.Request{InstanceID: "td-val", ImageID: img, Bus: "pci"}, invalid("bus")},
		{"cdrom on virtio", rescue.Request{InstanceID: "td-val", ImageID: img, Device: "cdrom", Bus: "virtio"}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "virtio") }},
		{"floppy on scsi", rescue.Request{InstanceID: "td-val", ImageID: img, Device: "floppy", Bus: "scsi"}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "floppy") }},
		{"negative timeout", rescue.Request{InstanceID: "td-val", ImageID: img, ShutdownTimeout: -1}, invalid("shutdown_timeout")},
		{"missing image path", rescue.Request{InstanceID: "td-val", ImageID: "/default-pool/nope.iso"}, notFound("image")},
		{"missing image volume", rescue.Request{InstanceID: "td-val", ImageID: "default-pool/nope.iso"}, notFound("image")},
		{"missing pool", rescue.Request{InstanceID: "td-val", ImageID: "nopool/nope.iso"}, notFound("image")},
		{"relative image", rescue.Request{InstanceID: "td-val", ImageID: "rescue.iso"}, invalid("image_id")},
		{"no image, no backing", rescue.Request{InstanceID: "td-val"}, invalid("image_id")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.Validate(ctx, c.req); !c.ok(err) {
				t.Errorf("Validate: %T %v", err, err)
			}
			if _, err := b.Rescue(ctx, c.req); !c.ok(err) {
				t.Errorf("Rescue: %T %v", err, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Fatalf("definition changed by a refused request:\n%s", got)
			}
		})
	}

	t.Run("image by pool/volume", func(t *testing.T) {
		p, err := b.Validate(ctx, rescue.Request{InstanceID: "td-val", ImageID: "default-pool/rescue-val.iso", Device: "cdrom"})
		if err != nil || p.Mode != rescue.ModeStable || p.Device != "cdrom" || p.Bus == "" {
			t.Fatalf("%+v %v", p, err)
		}
	})
	t.Run("default image is the root disk's backing image", func(t *testing.T) {
		p, err := b.Validate(ctx, rescue.Request{InstanceID: "td-val-backed"})
		if err != nil || p.Mode != rescue.ModeLegacy {
			t.Fatalf("%+v %v", p, err)
		}
		if len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, " "), "/default-pool/td-val-backed-base.img") {
			t.Errorf("warnings %q do not name the backing image", p.Warnings)
		}
		eng := rescue.NewEngine(b)
		_, inst, err := eng.Rescue(ctx, rescue.Request{InstanceID: "td-val-backed"})
		if err != nil || inst.ImageID != "/default-pool/td-val-backed-base.img" {
			t.Fatalf("Rescue: %+v %v", inst, err)
		}
		if _, _, err := eng.Unrescue(ctx, "td-val-backed"); err != nil {
			t.Fatal(err)
		}
	})
}

// The test driver has no secret driver: a definition with secrets is refused before any
// change (the journal would show them to read-only connections); without secrets the original
// is journalled as is.
func TestTestDriverSecretsWithoutSecretDriver(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-sec.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	d := td.domain(t, "td-secret", true, false, "    <graphics type='vnc' port='-1' autoport='yes' passwd='td-vnc-s3cret'/>\n")
	orig := td.xml(t, d, secure)
	if !strings.Contains(orig, "td-vnc-s3cret") {
		t.Fatalf("the test driver dropped the VNC password:\n%s", orig)
	}
	_, err := b.Rescue(ctx, rescue.Request{InstanceID: "td-secret", ImageID: img})
	var ue *rescue.UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Rescue: %T %v, want an UnsupportedError about secrets", err, err)
	}
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition changed:\n%s", got)
	}
	if inst, err := b.Get(ctx, "td-secret"); err != nil || inst.State != rescue.StateActive {
		t.Fatalf("Get: %+v %v", inst, err)
	}
	if hasRescueVolume(td.volumes(t), "td-secret") {
		t.Errorf("volumes left: %v", td.volumes(t))
	}
}

// A rescued domain that is deleted is NotFound for Get and Gone for the engine's unrescue.
func TestTestDriverDomainGone(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-gone.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	d := td.domain(t, "td-gone", true, false, "")
	eng := rescue.NewEngine(b)
	if _, _, err := eng.Rescue(ctx, rescue.Request{InstanceID: "td-gone", ImageID: img}); err != nil {
		t.Fatal(err)
	}
	if err := td.l.DomainDestroy(d); err != nil {
		t.Fatal(err)
	}
	if err := td.l.DomainUndefine(d); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "td-gone"); !rescue.IsNotFound(err) {
		t.Fatalf("Get: %v", err)
	}
	if out, _, err := eng.Unrescue(ctx, "td-gone"); err != nil || out != rescue.Gone {
		t.Fatalf("Unrescue: %v %v", out, err)
	}
	_ = rlibvirt.MetadataNamespace
}

// A paused domain is not rescued (as Nova refuses a PAUSED server): refused at plan (an
// InvalidError on instance_id that names the state), a conflict at apply, nothing changed.
func TestTestDriverPausedIsConflict(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-paused.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	d := td.domain(t, "td-paused", true, false, "")
	if err := td.l.DomainSuspend(d); err != nil {
		t.Fatal(err)
	}
	orig := td.xml(t, d, secure)
	var ie *rescue.InvalidError
	if _, err := b.Validate(context.Background(), rescue.Request{InstanceID: "td-paused", ImageID: img}); !errors.As(err, &ie) || ie.Attribute != "instance_id" || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("Validate of a paused domain: %T %v", err, err)
	}
	if _, err := b.Rescue(context.Background(), rescue.Request{InstanceID: "td-paused", ImageID: img}); !rescue.IsConflict(err) {
		t.Fatalf("Rescue of a paused domain: %v", err)
	}
	if got := td.xml(t, d, secure); got != orig {
		t.Fatalf("definition changed:\n%s", got)
	}
}

// At plan time instance_id (InstanceID "") or image_id (ImageUnknown) may be unknown: Validate
// checks what it can and never asks for a domain name or a backing image.
func TestTestDriverValidateUnknown(t *testing.T) {
	td := newTestDriver(t)
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	td.domain(t, "td-val-unknown", true, false, "") // no backing image
	for _, c := range []struct {
		name string
		req  rescue.Request
		want rescue.Plan
	}{
		{"instance unknown, legacy", rescue.Request{ImageID: "/default-pool/x.iso"}, rescue.Plan{}},
		{"instance and image unknown", rescue.Request{ImageUnknown: true}, rescue.Plan{}},
		{"instance unknown, stable", rescue.Request{ImageUnknown: true, Device: "cdrom", Bus: "sata"}, rescue.Plan{Device: "cdrom", Bus: "sata", Mode: rescue.ModeStable}},
		{"instance unknown, device only", rescue.Request{Device: "disk"}, rescue.Plan{Device: "disk", Mode: rescue.ModeStable}},
		{"image unknown, legacy", rescue.Request{InstanceID: "td-val-unknown", ImageUnknown: true}, rescue.Plan{}},
		{"image unknown, stable", rescue.Request{InstanceID: "td-val-unknown", ImageUnknown: true, Device: "cdrom", Bus: "scsi"}, rescue.Plan{Device: "cdrom", Bus: "scsi", Mode: rescue.ModeStable}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := b.Validate(ctx, c.req)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if p.Device != c.want.Device || p.Bus != c.want.Bus || p.Mode != c.want.Mode {
				t.Errorf("plan %+v, want %+v", p, c.want)
			}
		})
	}
	invalid := func(attr string) func(error) bool {
		return func(err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == attr
		}
	}
	for _, c := range []struct {
		name string
		req  rescue.Request
		ok   func(error) bool
	}{
		{"bad device", rescue.Request{ImageUnknown: true, Device: "tape"}, invalid("device")},
		{"bad bus", rescue.Request{Bus: "pci"}, invalid("bus")},
		{"cdrom on virtio", rescue.Request{ImageUnknown: true, Device: "cdrom", Bus: "virtio"}, invalid("bus")},
		{"floppy on sata", rescue.Request{Device: "floppy", Bus: "sata"}, invalid("bus")},
		{"negative timeout", rescue.Request{ShutdownTimeout: -1}, invalid("shutdown_timeout")},
		{"image unknown, cdrom on virtio", rescue.Request{InstanceID: "td-val-unknown", ImageUnknown: true, Device: "cdrom", Bus: "virtio"}, invalid("bus")},
		{"image unknown, missing domain", rescue.Request{InstanceID: "td-val-nope", ImageUnknown: true}, rescue.IsNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.Validate(ctx, c.req); !c.ok(err) {
				t.Errorf("Validate: %T %v", err, err)
			}
		})
	}
}

// Validate (terraform plan) changes nothing on the host: an image in a directory no storage
// pool holds is looked up through a transient pool that Validate stops again before it returns
// (so a missing image is refused at plan), also for the root disk's backing image; a root disk
// of type='block' has no backing image to look for.
func TestTestDriverValidateMakesNoPool(t *testing.T) {
	td := newTestDriver(t)
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()
	td.domain(t, "td-val-nopool", true, false, "")
	define := func(name, disk string) {
		x := `<domain type='test'><name>` + name + `</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>` + disk + `</devices></domain>`
		d, err := td.l.DomainDefineXMLFlags(x, 0)
		if err != nil {
			t.Fatalf("define %s: %v", name, err)
		}
		t.Cleanup(func() { _ = td.l.DomainUndefine(d) })
	}
	define("td-val-nopool-root", `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/td-nopool-root/root.qcow2'/><target dev='vda' bus='virtio'/></disk>`)
	define("td-val-block-root", `<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/td-nopool/root'/><target dev='vda' bus='virtio'/></disk>`)
	pools := func() []string {
		ps, _, err := td.l.ConnectListAllStoragePools(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
	before := pools()
	for _, c := range []struct {
		name string
		req  rescue.Request
		ok   func(rescue.Plan, error) bool
	}{
		{"image without pool", rescue.Request{InstanceID: "td-val-nopool", ImageID: "/td-nopool-img/rescue.iso"}, func(_ rescue.Plan, err error) bool {
			return rescue.IsNotFound(err) && strings.Contains(err.Error(), "/td-nopool-img/rescue.iso")
		}},
		{"default image without pool", rescue.Request{InstanceID: "td-val-nopool-root"}, func(_ rescue.Plan, err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == "image_id" && strings.Contains(err.Error(), "/td-nopool-root/root.qcow2")
		}},
		{"block root disk", rescue.Request{InstanceID: "td-val-block-root"}, func(_ rescue.Plan, err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == "image_id" && strings.Contains(err.Error(), "block device")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := b.Validate(ctx, c.req)
			if !c.ok(p, err) {
				t.Errorf("Validate: %+v %T %v", p, err, err)
			}
			if after := pools(); !slices.Equal(after, before) {
				t.Errorf("Validate changed the storage pools: %v, before %v", after, before)
			}
		})
	}
	// Apply may still make the transient pool; the image is then definitely missing.
	t.Cleanup(func() {
		ps, _, _ := td.l.ConnectListAllStoragePools(1, 0)
		for _, p := range ps {
			if !slices.Contains(before, p.Name) {
				_ = td.l.StoragePoolDestroy(p)
			}
		}
	})
	if _, err := b.Rescue(ctx, rescue.Request{InstanceID: "td-val-nopool", ImageID: "/td-nopool-img/rescue.iso"}); !rescue.IsNotFound(err) {
		t.Errorf("Rescue: %T %v, want NotFound", err, err)
	}
}

// Errors are classified before any change: a transient domain is unsupported (checked before
// a key or journal is stored); libvirt's refusal to define the rescue definition for the
// domain's situation is a conflict, a configuration/XML error an InvalidError on bus; with
// admin_pass a config drive that finds no free target is refused at plan.
func TestTestDriverErrorClasses(t *testing.T) {
	td := newTestDriver(t)
	img := td.volume(t, "rescue-classes.iso", "raw", "")
	b := newBackend(t, td.lv.TestURI)
	ctx := context.Background()

	t.Run("transient domain", func(t *testing.T) {
		x := `<domain type='test'><name>td-transient</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='/default-pool/rescue-classes.iso'/><target dev='vda' bus='virtio'/></disk></devices></domain>`
		d, err := td.l.DomainCreateXML(x, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = td.l.DomainDestroy(d) })
		orig := td.xml(t, d, golibvirt.DomainXMLSecure)
		var ue *rescue.UnsupportedError
		if _, err := b.Validate(ctx, rescue.Request{InstanceID: "td-transient", ImageID: img}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "transient") {
			t.Errorf("Validate: %T %v, want UnsupportedError", err, err)
		}
		if _, err := b.Rescue(ctx, rescue.Request{InstanceID: "td-transient", ImageID: img}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "transient") {
			t.Errorf("Rescue: %T %v, want UnsupportedError", err, err)
		}
		if got := td.xml(t, d, golibvirt.DomainXMLSecure); got != orig {
			t.Errorf("definition changed:\n%s", got)
		}
		if td.state(t, d) != golibvirt.DomainRunning {
			t.Errorf("not running")
		}
		if inst, err := b.Get(ctx, "td-transient"); err != nil || inst.State != rescue.StateActive {
			t.Errorf("Get: %+v %v", inst, err)
		}
		if hasRescueVolume(td.volumes(t), "td-transient") {
			t.Errorf("volumes left: %v", td.volumes(t))
		}
	})

	for _, c := range []struct {
		name   string
		filter func(string) string
		req    rescue.Request
		ok     func(error) bool
	}{
		{"define conflict", func(x string) string {
			return regexp.MustCompile(`<uuid>[^<]*</uuid>`).ReplaceAllString(x, "<uuid>0b7c1b1e-8d52-4e38-9f3c-3a3b1d7c0e99</uuid>")
		}, rescue.Request{ImageID: img}, rescue.IsConflict},
		{"define xml error", func(x string) string {
			return regexp.MustCompile(`bus=["']sata["']`).ReplaceAllString(x, "bus='sata-nope'")
		}, rescue.Request{ImageID: img, Device: "cdrom", Bus: "sata"}, func(err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == "bus" && strings.Contains(err.Error(), "sata-nope")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "td-class-" + strings.ReplaceAll(c.name, " ", "-")
			d := td.domain(t, name, true, false, "")
			orig := td.xml(t, d, secure)
			bf := newBackend(t, td.lv.TestURI)
			rlibvirt.SetRescueXMLFilter(bf, c.filter)
			req := c.req
			req.InstanceID = name
			_, err := bf.Rescue(ctx, req)
			if !c.ok(err) || rescue.Accepted(err) {
				t.Fatalf("Rescue: %T %v", err, err)
			}
			if got := td.xml(t, d, secure); got != orig {
				t.Errorf("definition changed:\n%s", got)
			}
			if td.state(t, d) != golibvirt.DomainRunning {
				t.Errorf("not running")
			}
			if hasRescueVolume(td.volumes(t), name) {
				t.Errorf("volumes left: %v", td.volumes(t))
			}
		})
	}

	t.Run("admin_pass without a free cdrom target", func(t *testing.T) {
		ide := ""
		for _, dev := range []string{"hda", "hdb", "hdc", "hdd"} {
			ide += "    <disk type='file' device='cdrom'><source file='/data/" + dev + ".iso'/><target dev='" + dev + "' bus='ide'/><readonly/></disk>\n"
		}
		d := td.domain(t, "td-class-ide-full", true, false, ide)
		orig := td.xml(t, d, secure)
		req := rescue.Request{InstanceID: "td-class-ide-full", ImageID: img, AdminPass: "s3cret-pass"}
		ok := func(err error) bool {
			var ie *rescue.InvalidError
			return errors.As(err, &ie) && ie.Attribute == "admin_pass" && strings.Contains(err.Error(), "ide")
		}
		if _, err := b.Validate(ctx, req); !ok(err) {
			t.Errorf("Validate: %T %v, want InvalidError on admin_pass", err, err)
		}
		if _, err := b.Rescue(ctx, req); !ok(err) {
			t.Errorf("Rescue: %T %v, want InvalidError on admin_pass", err, err)
		}
		if got := td.xml(t, d, secure); got != orig {
			t.Errorf("definition changed:\n%s", got)
		}
		// Without admin_pass the same rescue is fine at plan.
		req.AdminPass = ""
		if _, err := b.Validate(ctx, req); err != nil {
			t.Errorf("Validate without admin_pass: %v", err)
		}
	})
}
