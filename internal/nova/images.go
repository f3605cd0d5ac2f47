package nova

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"golang.org/x/sync/singleflight"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// imageCacheTTL is how long the rescue properties of an image are reused.
const imageCacheTTL = 15 * time.Second

// imageProperties are the stable-device rescue properties and the formats of a Glance image.
type imageProperties struct {
	device, bus string
	// diskFormat and containerFormat are Glance's disk_format and container_format.
	diskFormat, containerFormat string
}

type imageEntry struct {
	props imageProperties
	at    time.Time
}

// imageCache keeps image properties briefly, so that many resources of one plan that share
// a rescue image read it once.
type imageCache struct {
	mu  sync.Mutex
	m   map[string]imageEntry
	now func() time.Time
	// flight makes concurrent misses of one image one request.
	flight singleflight.Group
}

func newImageCache() *imageCache {
	return &imageCache{m: map[string]imageEntry{}, now: time.Now}
}

func (c *imageCache) get(id string) (imageProperties, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || c.now().Sub(e.at) > imageCacheTTL {
		return imageProperties{}, false
	}
	return e.props, true
}

func (c *imageCache) put(id string, p imageProperties) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[id] = imageEntry{props: p, at: c.now()}
}

// propertiesOf reads hw_rescue_device / hw_rescue_bus of a Glance image (pure logic).
func propertiesOf(img *images.Image) imageProperties {
	str := func(k string) string {
		v, ok := img.Properties[k]
		if !ok || v == nil {
			return ""
		}
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
	return imageProperties{device: str("hw_rescue_device"), bus: str("hw_rescue_bus"),
		diskFormat: img.DiskFormat, containerFormat: img.ContainerFormat}
}

// imageProps reads the rescue properties of an image through Glance v2, once for the concurrent
// callers of one image (the resources of a mass rescue share it), then from the cache.
func (b *Backend) imageProps(ctx context.Context, id string) (imageProperties, error) {
	if p, ok := b.images.get(id); ok {
		return p, nil
	}
	return sharedLookup(ctx, &b.images.flight, id, func(ctx context.Context) (imageProperties, error) {
		if p, ok := b.images.get(id); ok {
			return p, nil // read by a lookup that ended just before this one began
		}
		return b.readImageProps(ctx, id)
	})
}

// readImageProps is GET /v2/images/{id} and its rescue properties, put in the cache.
func (b *Backend) readImageProps(ctx context.Context, id string) (imageProperties, error) {
	if b.image == nil {
		return imageProperties{}, fmt.Errorf("read the properties of image %s: %w", id, b.imageErr)
	}
	start := time.Now()
	img, err := images.Get(ctx, b.image, id).Extract()
	if err != nil {
		if code, body, ok := httpStatus(err); ok && code == http.StatusNotFound {
			return imageProperties{}, &rescue.NotFoundError{What: "image", ID: id, Msg: serverMessage(body)}
		}
		if _, _, ok := httpStatus(err); !ok {
			return imageProperties{}, triedFor(markUnavailable(markAuth(fmt.Errorf("read image %s from Glance: %w", id, err), err), err), time.Since(start))
		}
		return imageProperties{}, triedFor(markUnavailable(markAuth(fmt.Errorf("read image %s from Glance: %s", id, describe(err)), err,
			http.StatusUnauthorized), err), time.Since(start))
	}
	p := propertiesOf(img)
	b.images.put(id, p)
	return p, nil
}

// diskImageFormats are Glance disk formats that hold a disk image (a container such as qcow2, or
// an Amazon machine image): not the ISO 9660 image a cdrom boots.
var diskImageFormats = []string{"qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop", "ami"}

// formatProblem refuses what Glance's formats clearly say cannot boot on the rescue device
// (device "" is legacy mode, the image boots as the first disk): a kernel or ramdisk image on
// any device, a disk image format on a cdrom. What they cannot tell is let through: a raw image
// may hold an ISO or a disk, and an ISO may boot as a disk (hybrid ISOs do).
func formatProblem(imageID, device string, p imageProperties) error {
	for _, f := range []string{p.diskFormat, p.containerFormat} {
		if f == "aki" || f == "ari" {
			return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("image %s is a kernel or ramdisk "+
				"image (format %s), which no rescue device boots: use a bootable disk or ISO image", imageID, f)}
		}
	}
	if device == "cdrom" && slices.Contains(diskImageFormats, p.diskFormat) {
		return &rescue.InvalidError{Attribute: "image_id", Msg: fmt.Sprintf("image %s has disk_format %s (a disk "+
			"image), and its hw_rescue_device=cdrom boots only an ISO 9660 image (disk_format iso): use an ISO "+
			"image, or make it a disk rescue image (`openstack image set --property hw_rescue_device=disk %s`)",
			imageID, p.diskFormat, imageID)}
	}
	return nil
}
