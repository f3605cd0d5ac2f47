package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestDescribeByClass(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v2.1/servers/x",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	dns := &url.Error{Op: "Get", URL: "http://nova.invalid/", Err: &net.DNSError{Err: "no such host", Name: "nova.invalid", IsNotFound: true}}
	for _, c := range []struct {
		name, title string
		err         error
		wantTitle   string
		wantAttr    string
		wantDetail  []string
	}{
		{"transport error at plan", titleInvalid, fmt.Errorf("read instance x: %w", refused),
			titleUnreachable, "", []string{"connection refused", "could not be reached"}},
		{"5xx after retries at plan", titleInvalid,
			&rescue.UnavailableError{Err: errors.New("read instance x: Nova answered HTTP 503 Service Unavailable"), Tried: 32 * time.Second},
			titleUnreachable, "", []string{"HTTP 503", "tried for 32s"}},
		{"DNS at connect", "Cannot reach the backend", fmt.Errorf("connect: %w", dns),
			titleUnreachable, "", []string{"no such host"}},
		{"clouds.yaml typo", "Cannot reach the backend",
			fmt.Errorf("connect to the openstack backend: %w", rescue.Misconfigured(errors.New(`openstack cloud "prd" from clouds.yaml: cloud "prd" not found in clouds.yaml (read /x/clouds.yaml, whose entries are "prod")`))),
			titleConfig, "", []string{`"prod"`, "/x/clouds.yaml"}},
		{"credentials refused", "Cannot reach the backend", fmt.Errorf("authenticate: %w", rescue.ErrAuth),
			titleAuth, "", []string{"credentials"}},
		{"invalid input names the attribute", titleInvalid, &rescue.InvalidError{Attribute: "device", Msg: `"usb" is not one of cdrom, disk, floppy`},
			titleInvalid, "device", []string{"cdrom"}},
		{"image not found", titleInvalid, &rescue.NotFoundError{What: "image", ID: "i"},
			titleInvalid, "image_id", []string{`image "i" not found`}},
		{"refused verbatim", "Rescue failed", &rescue.ConflictError{Msg: "Cannot 'rescue' instance x while it is in vm_state paused"},
			titleRefused, "", []string{"Cannot 'rescue' instance x while it is in vm_state paused"}},
		{"timeout after an outage", "Rescue did not complete",
			fmt.Errorf("%w: %w", rescue.ErrAccepted, &rescue.TimeoutError{Op: "rescue", InstanceID: "x", Last: "unknown",
				Unreachable: 42 * time.Second, LastErr: rescue.Unavailable(errors.New("HTTP 503"))}),
			"Rescue did not complete", "", []string{"unreachable for the last 42s: HTTP 503", "timeouts"}},
		{"accepted then unreachable keeps its title", "Rescue did not complete",
			fmt.Errorf("%w: reading the server failed too: %w", rescue.ErrAccepted, rescue.Unavailable(refused)),
			"Rescue did not complete", "", []string{"connection refused"}},
		{"deadline is not unreachable", "Rescue failed", fmt.Errorf("read instance x: %w", context.DeadlineExceeded),
			"Rescue failed", "", []string{"time ran out"}},
		{"unclassified at plan", titleInvalid, errors.New("something else"), titleCheck, "", []string{"something else"}},
		// The backends speak of instances and operations; the user reads Terraform's words.
		{"libvirt fault in Terraform's words", "Rescue failed", &rescue.FailedError{Op: "rescue", InstanceID: "vm1",
			Reason: "the original definition is kept in the journal: an unrescue restores it, and a new rescue takes it over when the rescue guest already runs what that rescue asks for, else rolls it back first"},
			"Rescue failed", "", []string{"unrescue (terraform destroy) restores it", "a new rescue (terraform apply) takes it over", "what the configuration asks for"}},
		{"nova's shutdown_timeout in Terraform's words", titleInvalid, &rescue.InvalidError{Attribute: "shutdown_timeout",
			Msg: "on OpenStack the cloud shuts the server down before a rescue; remove shutdown_timeout from the request"},
			titleInvalid, "shutdown_timeout", []string{"remove shutdown_timeout from this resource"}},
		{"unclassified elsewhere", "Unrescue failed", errors.New("something else"), "Unrescue failed", "", []string{"something else"}},
	} {
		title, detail, attr := describe(c.title, c.err)
		if title != c.wantTitle || attr != c.wantAttr {
			t.Errorf("%s: title %q attribute %q, want %q %q", c.name, title, attr, c.wantTitle, c.wantAttr)
		}
		for _, w := range c.wantDetail {
			if !strings.Contains(detail, w) {
				t.Errorf("%s: detail %q does not say %q", c.name, detail, w)
			}
		}
	}
}

// The warnings of the engine and the backends are in their words; the user reads Terraform's.
func TestTerraformWords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{
			"Instance vm1 is ERROR: a run of this provider that did not finish left its rescue or unrescue there. A new rescue takes it over when it is complete and what the new rescue asks for, else rolls it back (or replaces it) and rescues anew.",
			"Instance vm1 is ERROR: a run of this provider that did not finish left its rescue or unrescue there. Apply takes that rescue over when it is complete and what the configuration asks for, else rolls it back (or replaces it) and rescues anew.",
		},
		{
			"The rescue guest already runs the rescue of domain vm1 ..., and it is the rescue this request asks for: it was taken over as it is",
			"The rescue guest already runs the rescue of domain vm1 ..., and it is the rescue this configuration asks for: it was taken over as it is",
		},
		{
			"an unrescue of domain vm1 stopped halfway: ...; another unrescue finishes it",
			"an unrescue of domain vm1 stopped halfway: ...; unrescue again (terraform destroy) finishes it",
		},
		{
			"domain vm1 is paused, and a rescue starts only from a running or shut-off domain: resume it or shut it off, then try again",
			"domain vm1 is paused, and a rescue starts only from a running or shut-off domain: resume it or shut it off, then plan again",
		},
		{
			"Instance vm1 was in rescue and held by no caller: the rescue (request req-1, ...) was started by a run of this working directory that died at .... The rescue password that run used never reached its caller and Nova cannot tell it again, so that rescue is replaced: the instance is unrescued and rescued again, and the new password is returned to the caller.",
			"Instance vm1 was in rescue without state: the rescue (request req-1, ...) was started by a run of this working directory that died at .... The rescue password that run used never reached Terraform's state and Nova cannot tell it again, so that rescue is replaced: the instance is unrescued and rescued again, and the new password is kept in state.",
		},
	} {
		if got := terraformWords.Replace(c.in); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
