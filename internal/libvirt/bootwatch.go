package libvirt

import (
	"context"
	"fmt"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// The boot watch. A rescue is done when the rescue image really boots, and a firmware that
// finds nothing bootable on the rescue device does not tell libvirt so. SeaBIOS (the x86 BIOS
// of QEMU/KVM domains) prints "Boot failed: ..." and "No bootable device." and halts; with
// <os><bios rebootTimeout='N'/> it resets the guest N ms later instead, and libvirt reports
// that reset as a reboot event. So the rescue definition of a SeaBIOS domain gets
// rebootTimeout, and after starting it the backend watches the guest for a while: a reset (or
// a stop, for a domain with <on_reboot>destroy</on_reboot>) means the rescue image did not
// boot, and the rescue fails and is rolled back. Silence proves nothing, so the watch is
// bounded: it ends bootGrace after the firmware first read the rescue device (a failed boot
// resets about bootFailReset after that read), or after bootWatch when no read is seen (a
// floppy's reads are not counted). Every rescue of a SeaBIOS domain takes that much longer.
//
// What the watch cannot tell: UEFI (OVMF) guests drop to their boot manager or shell instead
// of resetting, other firmware is not watched at all; a device the firmware skips while an
// original disk with a boot order follows it boots the original system; an image whose boot
// loader starts but then fails later (a kernel panic, a missing root file system) is past the
// firmware. The watch needs libvirt's domain events; without them it is skipped.
const (
	// bootFailReset is the rescue definition's SeaBIOS reboot timeout (libvirt takes ms).
	bootFailReset = 500 * time.Millisecond
	// defaultBootWatch is the longest watch of a rescue guest's first boot.
	defaultBootWatch = 10 * time.Second
	// defaultBootGrace is how long the watch goes on after the first read of the rescue device.
	defaultBootGrace = bootFailReset + time.Second
	// bootWatchPoll is how often the guest's state and block statistics are read.
	bootWatchPoll = 200 * time.Millisecond
	// vgaText and vgaTextSize are the VGA text buffer (80x25 characters and attributes).
	vgaText     = 0xb8000
	vgaTextSize = 80 * 25 * 2
)

// rebootTimeout returns the reboot timeout to set in the rescue definition made from cur
// (milliseconds), or nil when the boot of that domain is not watched: not SeaBIOS (see
// domxml.Firmware), or the watch is off.
func (b *Backend) rebootTimeout(cur string) *int {
	if b.bootWatch < 0 {
		return nil
	}
	if fw, err := domxml.Firmware(cur); err != nil || fw != domxml.FirmwareSeaBIOS {
		return nil
	}
	ms := int(bootFailReset / time.Millisecond)
	return &ms
}

// bootTarget names what a rescue boots, for the watch and its message.
type bootTarget struct {
	// InstanceID is the instance as the user named it.
	InstanceID string
	// Path is the rescue device's source (the overlay), for its block statistics.
	Path string
	// Device and Bus are the rescue device; empty in legacy mode.
	Device, Bus string
	// Image is the rescue image as the user gave it (or the default one).
	Image string
	// Watch says the rescue definition has the reboot timeout (see rebootTimeout).
	Watch bool
}

func (t bootTarget) what() string {
	if t.Device == "" {
		return fmt.Sprintf("the rescue disk (legacy mode, in the root disk's place; image %s)", t.Image)
	}
	return fmt.Sprintf("the rescue device (%s on bus %s; image %s)", t.Device, t.Bus, t.Image)
}

// startRescue starts the rescue definition and, when t.Watch, watches the guest's first boot.
// A start libvirt refuses and a rescue image the firmware cannot boot are *rescue.FailedError;
// a guest that did not boot is forced off (only its firmware ran) before returning.
func (b *Backend) startRescue(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, t bootTarget) error {
	var events <-chan interface{}
	stop := func() {}
	if t.Watch && b.bootWatch >= 0 {
		// Subscribed before the start, so that no reset is missed. The event context outlives a
		// cancelled operation only until stop; go-libvirt's stream must be drained until closed.
		ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		ch, err := l.SubscribeEvents(ectx, golibvirt.DomainEventIDReboot, golibvirt.OptDomain{})
		if err != nil {
			cancel()
		} else {
			events = ch
			stop = func() {
				cancel()
				go func() {
					for range ch { //nolint:revive // drain until go-libvirt closes the stream
					}
				}()
			}
		}
	}
	defer stop()
	started := time.Now()
	if err := startDomain(ctx, l, d); err != nil {
		return &rescue.FailedError{Op: "rescue", InstanceID: t.InstanceID, Reason: "libvirt could not start the rescue definition: " + err.Error()}
	}
	if events == nil {
		return nil
	}
	how := b.watchBoot(ctx, l, d, t, events)
	if how == "" {
		return nil
	}
	after := time.Since(started).Round(100 * time.Millisecond)
	screen := ""
	if how == "reset" {
		screen = bootScreen(ctx, l, d)
	}
	reason := bootFailure(t, how, after, screen)
	if err := l.DomainDestroyFlags(d, golibvirt.DomainDestroyDefault); err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		reason += fmt.Sprintf(" (Forcing the rescue guest off failed: %v.)", err)
	}
	return &rescue.FailedError{Op: "rescue", InstanceID: t.InstanceID, Reason: reason}
}

// bootFailure is the reason of a failed boot: what the watch saw, and what the user can do.
func bootFailure(t bootTarget, how string, after time.Duration, screen string) string {
	var b strings.Builder
	if how == "reset" {
		fmt.Fprintf(&b, "the rescue guest found nothing bootable on %s: the firmware (SeaBIOS) reset it %s after the start (it resets a guest it cannot boot)", t.what(), after)
	} else {
		fmt.Fprintf(&b, "the rescue guest stopped %s after the start, before booting %s (the firmware's reset after a boot failure stops a domain with <on_reboot>destroy</on_reboot>)", after, t.what())
	}
	if screen != "" {
		fmt.Fprintf(&b, "; the guest's screen showed:\n\n%s\n\n", screen)
	} else {
		b.WriteString(". ")
	}
	switch t.Device {
	case "cdrom":
		b.WriteString("A cdrom boots an ISO 9660 image with an El Torito boot record (a bootable ISO), not a disk image.")
	case "floppy":
		b.WriteString("A floppy boots a raw floppy image with a boot sector.")
	default:
		b.WriteString("A BIOS guest boots a disk only from a first sector with boot code (the signature 0x55AA at byte 510): not an ISO, and not a UEFI-only (GPT) image, which needs a UEFI guest.")
	}
	return b.String()
}

// watchBoot watches a started rescue guest until its first boot is past the firmware as far
// as can be told (see the comment at the top): "reset" when the firmware reset it, "stopped"
// when it stopped, "" otherwise (also when the context ends or the events stop: the watch then
// cannot tell, and the rescue goes on).
func (b *Backend) watchBoot(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain, t bootTarget, events <-chan interface{}) string {
	limit, grace := b.bootWatch, b.bootGrace
	if limit == 0 {
		limit = defaultBootWatch
	}
	if grace <= 0 {
		grace = defaultBootGrace
	}
	deadline := time.Now().Add(limit)
	read := false
	tick := time.NewTicker(bootWatchPoll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ""
		case ev, ok := <-events:
			if !ok {
				return "" // the connection is gone: nothing more can be seen
			}
			if m, isReboot := ev.(*golibvirt.DomainEventCallbackRebootMsg); isReboot && m.Msg.Dom.UUID == d.UUID {
				return "reset"
			}
		case <-tick.C:
			st, err := domState(l, d)
			if err == nil && (st == golibvirt.DomainShutoff || st == golibvirt.DomainCrashed) {
				return "stopped"
			}
			if !read && t.Path != "" {
				if rd, _, _, _, _, err := l.DomainBlockStats(d, t.Path); err == nil && rd > 0 {
					read = true
					deadline = minTime(deadline, time.Now().Add(grace))
				}
			}
		}
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// bootScreen returns the text on the guest's VGA text screen (read from guest memory), trying
// for a moment to catch the firmware's boot failure message of the next attempt, or "" when
// there is none (no VGA device, memory peek not allowed).
func bootScreen(ctx context.Context, l *golibvirt.Libvirt, d golibvirt.Domain) string {
	best := ""
	deadline := time.Now().Add(bootFailReset + time.Second)
	for {
		buf, err := l.DomainMemoryPeek(d, vgaText, vgaTextSize, golibvirt.MemoryPhysical)
		if err != nil {
			return best
		}
		if s := vgaString(buf); s != "" {
			best = s
			if strings.Contains(s, "No bootable device") {
				return s
			}
		}
		if time.Now().After(deadline) || rescue.Sleep(ctx, 100*time.Millisecond) != nil {
			return best
		}
	}
}

// vgaString turns a VGA text buffer (character, attribute pairs; 80 columns) into its text
// lines without trailing blanks, runs of empty lines made one; "" when it holds no printable
// text.
func vgaString(buf []byte) string {
	var lines []string
	for row := 0; row*160 < len(buf); row++ {
		var b strings.Builder
		for col := 0; col < 80 && row*160+col*2 < len(buf); col++ {
			c := buf[row*160+col*2]
			if c < 0x20 || c > 0x7e {
				c = ' '
			}
			b.WriteByte(c)
		}
		line := strings.TrimRight(b.String(), " ")
		if line == "" && len(lines) > 0 && lines[len(lines)-1] == "" {
			continue
		}
		lines = append(lines, line)
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	return strings.Join(lines, "\n")
}
