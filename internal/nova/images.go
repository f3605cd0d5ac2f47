package nova

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// imageCacheTTL is how long the rescue properties of an image are reused.
const imageCacheTTL = 15 * time.Second

// imageProperties are the stable-device rescue properties of a Glance image.
type imageProperties struct {
	device, bus string
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
	return imageProperties{device: str("hw_rescue_device"), bus: str("hw_rescue_bus")}
}

// imageProps reads the rescue properties of an image through Glance v2.
func (b *Backend) imageProps(ctx context.Context, id string) (imageProperties, error) {
	if p, ok := b.images.get(id); ok {
		return p, nil
	}
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
