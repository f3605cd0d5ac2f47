package nova

import (
	"net/url"
	"strings"
)

func imageEndpoint(b *Backend) string {
	if b.image == nil {
		return ""
	}
	return b.image.ResourceBaseURL()
}

// computeURL normalises a compute endpoint override: trailing slash, and /v2.1/ when the
// URL has no version in its path.
func computeURL(u string) string {
	u = strings.TrimRight(u, "/") + "/"
	if p, err := url.Parse(u); err == nil && !strings.Contains(p.Path, "/v2") {
		u += "v2.1/"
	}
	return u
}

// imageURLs normalises an image endpoint override into gophercloud's Endpoint and
// ResourceBase (".../v2/"), accepting the URL with or without /v2.
func imageURLs(u string) (endpoint, resourceBase string) {
	u = strings.TrimRight(u, "/") + "/"
	if strings.HasSuffix(u, "/v2/") {
		return u, u
	}
	return u, u + "v2/"
}
