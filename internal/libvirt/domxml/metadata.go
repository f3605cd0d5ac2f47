package domxml

import (
	"encoding/xml"
	"fmt"
)

// AddMetadata returns domainXML with element (one XML element that declares its own namespace)
// appended to the domain's <metadata>, which is created when missing. Everything else is kept
// as written.
func AddMetadata(domainXML, element string) (string, error) {
	doc, err := parseTree(domainXML)
	if err != nil {
		return "", fmt.Errorf("parse domain XML: %w", err)
	}
	if doc.root.name.Space != "" || doc.root.name.Local != "domain" {
		return "", fmt.Errorf("parse domain XML: root element is <%s>, not <domain>", rawName(doc.root.name))
	}
	md := doc.root.elem("metadata")
	if md == nil {
		md = &node{kind: elementNode, name: xml.Name{Local: "metadata"}}
		doc.root.insertAfter(nil, md)
	}
	el, err := parseTree(element)
	if err != nil {
		return "", fmt.Errorf("parse metadata element: %w", err)
	}
	md.insertAfter(nil, el.root)
	return doc.String(), nil
}
