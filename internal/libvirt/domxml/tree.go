package domxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Why a tree: libvirtxml unmarshals into structs and drops what they do not model (elements
// and attributes of a newer libvirt, foreign namespaces it does not know; see
// TestLibvirtxmlDropsUnknown). Marshalling a whole domain back would silently lose them in the
// rescue definition. So the rescue definition is an edit of this generic tree of the original:
// it keeps every element, attribute, namespace declaration (prefixes as written), comment and
// processing instruction; only the few edited elements change. Names are kept raw (prefix in
// Name.Space), so namespaces are written back exactly as they were declared.

type nodeKind int

const (
	elementNode nodeKind = iota
	textNode
	commentNode
	procInstNode
	directiveNode
)

// node is one XML node of a document.
type node struct {
	kind     nodeKind
	name     xml.Name // raw: Space is the prefix
	attrs    []xml.Attr
	children []*node
	text     string // text, comment, directive; procinst: target in name.Local
}

// parseTree parses a whole document; the root element is returned with the nodes before and
// after it (declaration, comments).
func parseTree(s string) (*document, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	doc := &document{}
	var stack []*node
	add := func(n *node) error {
		if len(stack) == 0 {
			if n.kind == elementNode {
				if doc.root != nil {
					return errors.New("more than one root element")
				}
				doc.root = n
				return nil
			}
			if n.kind == textNode && strings.TrimSpace(n.text) != "" {
				return errors.New("text outside the root element")
			}
			if doc.root == nil {
				doc.before = append(doc.before, n)
			} else {
				doc.after = append(doc.after, n)
			}
			return nil
		}
		p := stack[len(stack)-1]
		p.children = append(p.children, n)
		return nil
	}
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{kind: elementNode, name: t.Name, attrs: append([]xml.Attr(nil), t.Attr...)}
			if err := add(n); err != nil {
				return nil, err
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != t.Name {
				return nil, fmt.Errorf("parse XML: unexpected </%s>", rawName(t.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if err := add(&node{kind: textNode, text: string(t)}); err != nil {
				return nil, err
			}
		case xml.Comment:
			if err := add(&node{kind: commentNode, text: string(t)}); err != nil {
				return nil, err
			}
		case xml.ProcInst:
			if err := add(&node{kind: procInstNode, name: xml.Name{Local: t.Target}, text: string(t.Inst)}); err != nil {
				return nil, err
			}
		case xml.Directive:
			if err := add(&node{kind: directiveNode, text: string(t)}); err != nil {
				return nil, err
			}
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("parse XML: <%s> not closed", rawName(stack[len(stack)-1].name))
	}
	if doc.root == nil {
		return nil, errors.New("parse XML: no root element")
	}
	return doc, nil
}

// document is a parsed XML document.
type document struct {
	before []*node
	root   *node
	after  []*node
}

func (doc *document) String() string {
	var b bytes.Buffer
	for _, n := range doc.before {
		writeNode(&b, n)
	}
	writeNode(&b, doc.root)
	for _, n := range doc.after {
		writeNode(&b, n)
	}
	return b.String()
}

func rawName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;",
		"\n", "&#xA;", "\r", "&#xD;", "\t", "&#x9;")
)

// writeNode writes n the way libvirt formats XML: attributes in single quotes, empty elements
// self-closed.
func writeNode(b *bytes.Buffer, n *node) {
	switch n.kind {
	case textNode:
		b.WriteString(textEscaper.Replace(n.text))
	case commentNode:
		b.WriteString("<!--" + n.text + "-->")
	case procInstNode:
		b.WriteString("<?" + n.name.Local)
		if n.text != "" {
			b.WriteString(" " + n.text)
		}
		b.WriteString("?>")
	case directiveNode:
		b.WriteString("<!" + n.text + ">")
	case elementNode:
		b.WriteString("<" + rawName(n.name))
		for _, a := range n.attrs {
			b.WriteString(" " + rawName(a.Name) + "='" + attrEscaper.Replace(a.Value) + "'")
		}
		if len(n.children) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		for _, c := range n.children {
			writeNode(b, c)
		}
		b.WriteString("</" + rawName(n.name) + ">")
	}
}

// attr returns the value of an unprefixed attribute.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// setAttr sets an unprefixed attribute, appending it when missing.
func (n *node) setAttr(name, value string) {
	for i, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			n.attrs[i].Value = value
			return
		}
	}
	n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

// elems returns the unprefixed child elements called name ("" = all elements).
func (n *node) elems(name string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.kind == elementNode && (name == "" || c.name.Space == "" && c.name.Local == name) {
			out = append(out, c)
		}
	}
	return out
}

// elem returns the first unprefixed child element called name, or nil.
func (n *node) elem(name string) *node {
	for _, c := range n.children {
		if c.kind == elementNode && c.name.Space == "" && c.name.Local == name {
			return c
		}
	}
	return nil
}

// remove drops child c with the whitespace text just before it, to keep the indentation tidy.
func (n *node) remove(c *node) {
	for i, x := range n.children {
		if x != c {
			continue
		}
		start := i
		if i > 0 && n.children[i-1].kind == textNode && strings.TrimSpace(n.children[i-1].text) == "" {
			start = i - 1
		}
		n.children = append(n.children[:start], n.children[i+1:]...)
		return
	}
}

// insertAfter inserts c after child ref (ref nil: as the last child), indented like its
// siblings.
func (n *node) insertAfter(ref, c *node) {
	indent := n.childIndent()
	pos := len(n.children)
	if ref != nil {
		for i, x := range n.children {
			if x == ref {
				pos = i + 1
				break
			}
		}
	} else if pos > 0 && n.children[pos-1].kind == textNode && strings.TrimSpace(n.children[pos-1].text) == "" {
		pos-- // before the whitespace that precedes the closing tag
	}
	ins := []*node{{kind: textNode, text: indent}, c}
	if indent == "" {
		ins = ins[1:]
	}
	n.children = append(n.children[:pos], append(ins, n.children[pos:]...)...)
}

// insertBefore inserts c before child ref, indented like its siblings.
func (n *node) insertBefore(ref, c *node) {
	for i, x := range n.children {
		if x != ref {
			continue
		}
		indent := n.childIndent()
		ins := []*node{c, {kind: textNode, text: indent}}
		if indent == "" {
			ins = ins[:1]
		}
		n.children = append(n.children[:i], append(ins, n.children[i:]...)...)
		return
	}
	n.insertAfter(nil, c)
}

// childIndent is the whitespace (newline included) before n's element children, "" when
// the document is not indented.
func (n *node) childIndent() string {
	for i, c := range n.children {
		if c.kind == elementNode && i > 0 && n.children[i-1].kind == textNode {
			if t := n.children[i-1].text; strings.TrimSpace(t) == "" && strings.Contains(t, "\n") {
				return t[strings.LastIndex(t, "\n"):]
			}
		}
	}
	return ""
}

// reindent re-indents a freshly parsed subtree (from libvirtxml, with two-space indentation)
// for insertion at the given indentation ("\n" + spaces).
func reindent(n *node, indent string) {
	for _, c := range n.children {
		if c.kind == textNode && strings.TrimSpace(c.text) == "" && strings.Contains(c.text, "\n") {
			extra := c.text[strings.LastIndex(c.text, "\n")+1:]
			c.text = indent + extra
		}
		if c.kind == elementNode {
			reindent(c, indent)
		}
	}
}

// fragment parses one element (as marshalled by libvirtxml) into a node, indented for
// insertion under parent.
func fragment(s string, parent *node) (*node, error) {
	doc, err := parseTree(s)
	if err != nil {
		return nil, err
	}
	indent := parent.childIndent()
	if indent == "" {
		stripIndent(doc.root)
	} else {
		reindent(doc.root, indent)
	}
	return doc.root, nil
}

func stripIndent(n *node) {
	var kept []*node
	for _, c := range n.children {
		if c.kind == textNode && strings.TrimSpace(c.text) == "" {
			continue
		}
		if c.kind == elementNode {
			stripIndent(c)
		}
		kept = append(kept, c)
	}
	n.children = kept
}
